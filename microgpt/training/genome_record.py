"""The record a genome file keeps of the final that chose it, checked field by field as the file
is read (a hand-edited one is one line naming its field). It holds what a later search needs to
take these scorings instead of training the genome again (evolve/incumbent.py decides when): the
genes trained (the file's may since have been edited), the engine, the data and its split
(split_sha256: evolve/incumbent.split_digest), one scoring per final seed (components as the evolve
log has them), their {mean, spread}, the arithmetic that computed them, the drift (null, or how
far the scores moved when trained again on other arithmetics) and the evolve log they were made in.
"""
import math

from ..files.fields import check_fields, is_digest, is_number, is_seeds, is_whole, or_null
from ..reproducibility import ARITHMETIC_FIELDS

# evolve.fitness.FITNESS_KINDS, which a genome file (below evolve) cannot import
RECORD_FITNESSES = ('loss', 'aesthetic')


def _is_arithmetic(value):
    return isinstance(value, dict) and set(value) == set(ARITHMETIC_FIELDS)


# field: (test, what it must be); every one is required
RECORD_FIELDS = {
    'fitness': (lambda v: v in RECORD_FITNESSES, f"must be one of {', '.join(RECORD_FITNESSES)}"),
    'genes': (lambda v: isinstance(v, dict), "must be an object of genes"),
    'engine': (lambda v: isinstance(v, str) and bool(v), "must name an engine"),
    'data_sha256': (or_null(is_digest), "must be null or a sha256 digest (64 hex digits)"),
    'val_split': (lambda v: is_number(v) and 0 < v < 1, "must be a number between 0 and 1"),
    'split_seed': (is_whole, "must be a whole number"),
    'split_sha256': (is_digest, "must be a sha256 digest (64 hex digits)"),
    'scorings': (lambda v: isinstance(v, list) and bool(v), "must be a list of scorings"),
    'val_loss': (lambda v: isinstance(v, dict), "must be an object of mean and spread"),
    'arithmetic': (_is_arithmetic, f"must be an object of {', '.join(ARITHMETIC_FIELDS)}"),
    'drift': (lambda v: v is None or isinstance(v, dict), "must be null or an object"),
    'log': (lambda v: v is None or isinstance(v, str), "must be null or a path"),
}
AESTHETIC_FIELDS = {'score': (lambda v: isinstance(v, dict), "must be an object of mean and spread")}
SCORING_FIELDS = {
    'seed': (is_whole, "must be a whole number"),
    'num_params': (is_whole, "must be a whole number"),
    'tokens': (lambda v: v is None or is_whole(v), "must be a whole number"),
    'components': (lambda v: isinstance(v, dict), "must be an object"),
}
COMPONENTS = {'val_loss': (is_number, "must be a number"), 'train_loss': (is_number, "must be a number")}
SUMMARY_FIELDS = {'mean': (is_number, "must be a number"),
                  'spread': (lambda v: v is None or is_number(v), "must be null or a number")}
JUDGED = {'score': (is_number, "must be a number"), 'seeds': (is_seeds, "must be a list of whole numbers")}
DRIFT_FIELDS = {
    'val_loss': (lambda v: is_number(v) and v >= 0, "must be a number >= 0"),
    'score': (lambda v: v is None or (is_number(v) and v >= 0), "must be null or a number >= 0"),
    'arithmetics': (lambda v: isinstance(v, list) and bool(v) and all(map(_is_arithmetic, v)),
                    f"must be a list of objects of {', '.join(ARITHMETIC_FIELDS)}"),
    'measured_in': (lambda v: isinstance(v, str), "must be a path"),
}


def check_record(record, bad, settings):
    """Raise bad(field, why) for the first field of a genome file's record that is not as a
    final writes it; `settings` are the genes a genome has."""
    if not isinstance(record, dict):
        raise bad('record', "must be an object")
    check_fields(record, RECORD_FIELDS, 'record', bad, known=tuple(RECORD_FIELDS) + tuple(AESTHETIC_FIELDS))
    aesthetic = record['fitness'] == 'aesthetic'
    if aesthetic:
        check_fields(record, AESTHETIC_FIELDS, 'record', bad, known=None)
    for name in record['genes']:
        if name not in settings:
            raise bad(f'record.genes.{name}', f"is not a gene (genes: {', '.join(settings)})")
    seeds = []
    for k, scoring in enumerate(record['scorings']):
        where = f'record.scorings[{k}]'
        if not isinstance(scoring, dict):
            raise bad(where, "must be an object")
        check_fields(scoring, SCORING_FIELDS, where, bad)
        check_fields(scoring['components'], dict(COMPONENTS, **(JUDGED if aesthetic else {})),
                     f"{where}.components", bad, known=None)
        if scoring['seed'] in seeds:
            raise bad(f'{where}.seed', f"repeats seed {scoring['seed']}")
        seeds.append(scoring['seed'])
    for name in ('val_loss', 'score') if aesthetic else ('val_loss',):  # {mean, spread} of components[name]
        where = f'record.{name}'
        check_fields(record[name], SUMMARY_FIELDS, where, bad)
        values = [scoring['components'][name] for scoring in record['scorings']]
        mean, given = math.fsum(values) / len(values), record[name]['mean']
        if abs(given - mean) > 1e-12 * max(1.0, abs(mean)):
            raise bad(f'{where}.mean', f"must be the mean of the scorings' {name} ({mean!r}), got {given!r}")
    if record['drift'] is not None:
        check_fields(record['drift'], DRIFT_FIELDS, 'record.drift', bad)

