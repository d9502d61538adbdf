"""What an evolve log's records hold, as `microgpt analyze` and the lineage read them, checked
field by field (microgpt/fields.py) as the log is loaded: a hand-edited log is one line
naming the file, the line and the field. Fields a search writes but nothing reads back are
left as they are; those older logs lack may be missing (the readers have their defaults).
"""
from ..fields import check_fields, is_count, is_number, is_whole, or_null
from ..genome import SETTINGS, Genome, check_genome

FITNESSES = ('loss', 'aesthetic')  # evolve.fitness.FITNESS_KINDS (which imports the judge)
NUMBER = (or_null(is_number), "must be null or a number")
COUNT = (is_count, "must be a whole number >= 0")
TEXT = (lambda v: isinstance(v, str), "must be a text")


def _is_numbers(value):
    return isinstance(value, list) and all(map(is_number, value))


def _is_born_at(value):
    return isinstance(value, list) and len(value) == 2 and all(map(is_count, value))


GENES = (lambda v: isinstance(v, dict), "must be an object of genes")
SCORED = {  # a contender of the final: its mean, spread and scorings
    'score': NUMBER, 'spread': NUMBER,
    'scores': (_is_numbers, "must be a list of numbers"),
}
RECORDS = {  # kind: (its fields, those older logs may lack)
    'run': ({
        'fitness': (lambda v: v in FITNESSES, f"must be one of {', '.join(FITNESSES)}"),
        'population': COUNT, 'generations': COUNT,
        'seed': (is_whole, "must be a whole number"),
        'space': TEXT, 'engine': TEXT,
        'budget': (or_null(lambda v: is_number(v) and v > 0), "must be null or a number > 0"),
    }, ('space', 'budget', 'engine')),
    'generation': ({
        'generation': COUNT, 'best': NUMBER, 'best_spread': NUMBER, 'mean': NUMBER, 'worst': NUMBER,
        'failed': COUNT, 'diversity': COUNT,
    }, ('best_spread',)),
    'organism': ({
        'generation': COUNT, 'index': COUNT, 'scored_in': COUNT,
        'origin': (lambda v: isinstance(v, str) and bool(v), "must name how it came to be scored"),
        'parents': (lambda v: isinstance(v, list) and all(map(_is_born_at, v)),
                    "must be a list of [generation, index] pairs"),
        'mutated': (lambda v: isinstance(v, list) and all(isinstance(name, str) for name in v),
                    "must be a list of gene names"),
        'seed': (is_whole, "must be a whole number"),
        'genes': GENES,
        'score': NUMBER, 'spread': NUMBER,
        'scorings': (lambda v: is_whole(v) and v >= 1, "must be a whole number >= 1"),
        'components': (lambda v: isinstance(v, dict), "must be an object"),
        'error': (or_null(lambda v: isinstance(v, str)), "must be null or a text"),
    }, ('scored_in', 'parents', 'mutated', 'spread', 'scorings', 'error')),
    'baseline': ({'origin': TEXT, 'genes': GENES, **SCORED}, ('genes',)),
    'confirmation': ({
        'seeds': (lambda v: isinstance(v, list) and all(map(is_whole, v)), "must be a list of whole numbers"),
        'organisms': (lambda v: isinstance(v, list) and all(isinstance(o, dict) for o in v),
                      "must be a list of objects"),
    }, ('seeds',)),
    'decision': ({
        'out': TEXT, 'why': TEXT,
        'genome_written': (or_null(TEXT[0]), "must be null (a write that failed) or a text"),
        'winner': (lambda v: isinstance(v, dict), "must be an object"),
        'incumbent': (or_null(lambda v: isinstance(v, dict)), "must be null or an object"),
        'lead': NUMBER, 'noise': NUMBER,
        'forced': (lambda v: isinstance(v, bool), "must be true or false"),
    }, ()),
    'result': ({'best': (or_null(lambda v: isinstance(v, dict)), "must be null or an object")}, ('best',)),
}
FINALIST = {'generation': COUNT, 'index': COUNT, 'genes': GENES, **SCORED}
BEST = {'generation': COUNT, 'index': COUNT}
# components an organism's scoring has, by fitness, when it did not fail
COMPONENTS = {'loss': {'val_loss': (is_number, "must be a number")},
              'aesthetic': {'score': (is_number, "must be a number"), 'new': NUMBER}}


def check_record(record, bad, fitness=None):
    """Raise bad(field, why) for the first field of this record that its readers cannot take;
    `fitness`: the run's (an organism's components depend on it)."""
    kind = record.get('kind')
    if not isinstance(kind, str):
        raise bad('kind', f"must name the record's kind, got {kind!r}")
    if kind not in RECORDS:
        return
    spec, optional = RECORDS[kind]
    check_fields(record, spec, kind, bad, known=None, optional=optional)
    if kind in ('organism', 'baseline') and 'genes' in record:
        _check_genes(record['genes'], f'{kind}.genes', bad)
    if kind == 'organism' and record.get('error') is None and fitness in COMPONENTS:
        check_fields(record['components'], COMPONENTS[fitness], 'organism.components', bad, known=None,
                     optional=('new',))
    elif kind == 'confirmation':
        for k, finalist in enumerate(record['organisms']):
            check_fields(finalist, FINALIST, f'confirmation.organisms[{k}]', bad, known=None,
                         optional=('genes', 'spread', 'scores'))
            if 'genes' in finalist:
                _check_genes(finalist['genes'], f'confirmation.organisms[{k}].genes', bad)
    elif kind == 'decision':
        if record['lead'] is not None and record['noise'] is None:
            raise bad('decision.noise', "must be a number where the lead is one, got None")
        for name in ('winner', 'incumbent'):
            if record[name] is not None:
                check_fields(record[name], {'score': NUMBER, 'spread': NUMBER}, f'decision.{name}', bad, known=None)
    elif kind == 'result' and record.get('best') is not None:
        check_fields(record['best'], BEST, 'result.best', bad, known=None)


def _check_genes(genes, where, bad):
    for name in genes:
        if name not in SETTINGS:
            raise bad(f'{where}.{name}', f"is not a gene (genes: {', '.join(SETTINGS)})")
    problem = check_genome(Genome.from_settings(genes))
    if problem:
        raise bad(f'{where}.{problem[0]}', problem[1])
