"""The final of a search: after the last generation the FINALISTS best organisms, the
incumbent (the genome at --out before the search) and the primordial genome are each trained
on the same FINAL_SCORINGS fresh seeds; the best finalist's mean wins, and replaces the
incumbent only when it beats it by more than the noise (evolve.decision).

Of the baselines only the incumbent's scorings may be taken from its genome file's record of
the final that chose it (evolve.incumbent): its cost is not the search's own (the shipped
genome trains 14,600 steps). The primordial genome costs about a second: it is trained in
every final, on this machine."""
from ..genome import PRIMORDIAL
from .fitness import sampling_seeds
from .organism import Organism, organism_seed
from .incumbent import recorded_scorings

FINALISTS = 3
FINAL_SCORINGS = 3
BASELINE_GENERATION = 0  # the baselines' birth: generations of evolved organisms count from 1


def final_seeds(run_seed, generations):
    """The seeds of the final, the same for every finalist and baseline."""
    return [organism_seed(run_seed, generations + 1, k) for k in range(FINAL_SCORINGS)]


def finalists_of(population):
    """The FINALISTS best scored organisms of the last generation (the earliest born among equals)."""
    ranked = sorted((o for o in population if o.score is not None), key=lambda o: (o.cost, o.index))
    return ranked[:FINALISTS]


def baselines_of(incumbent, with_primordial=True):
    """[(origin, genome)] of the final's baselines: the primordial genome (the original's
    settings, its own 1000 steps) and the incumbent (None: none), each trained as
    `microgpt train` trains it; an incumbent that is the primordial genome is scored once."""
    baselines = [('primordial', PRIMORDIAL)] if with_primordial else []
    if incumbent is not None and not (with_primordial and incumbent == PRIMORDIAL):
        baselines.append(('incumbent', incumbent))
    return baselines


def final_scorings(organism, origin, seeds, final):
    """The organism's scorings of the final, one a seed: their score the mean of those alone."""
    return [Organism(organism.genome, organism.generation, organism.index, seed, origin, organism.fitness,
                     parents=organism.parents, mutated=organism.mutated, scored_in=final, flops=organism.flops)
            for seed in seeds]


def recorded_incumbent(incumbent_file, split_sha256, engine_name, fitness, run_seed, generations):
    """({final seed: (trial result, genome file path)} of the incumbent's final scorings that
    its genome file's record holds and this final may take, the reason): evolve.incumbent."""
    final, seeds = generations + 1, final_seeds(run_seed, generations)
    return recorded_scorings(incumbent_file, split_sha256, seeds, engine_name, fitness,
                             {seed: sampling_seeds(run_seed, final, seed) for seed in seeds})
