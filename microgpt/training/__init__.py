"""One training run and what it is made of and read against: the genome, text mode, evaluation, baselines."""
