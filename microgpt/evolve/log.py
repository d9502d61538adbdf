"""The evolve log, one JSON record a line: 'run', 'plan', an 'organism' for each scoring, a
'generation' after each, 'stagnation', then 'confirmation', 'baseline's, 'decision', 'result'.
Read back by the lineage and `microgpt analyze`, each record checked as its readers take it."""
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MicrogptError
from ..files.fields import check_fields, is_count, is_number, is_whole, or_null
from ..files.fileio import append_json_line, finite_or_null
from ..training.genome import SETTINGS, Genome, check_genome
from .fitness import FITNESS_KINDS

BIRTHS = ('random', 'immigrant', 'child')


class EvolveLogWriter:
    """A new log file in `log_dir`, named by fitness, time and seed; each record a whole line,
    written at once."""

    def __init__(self, log_dir, fitness, seed):
        stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            suffix = f'-{attempt}' if attempt else ''
            self.path = log_dir / f'evolve-{fitness}-{stamp}-seed{seed}{suffix}.jsonl'
            try:
                self.path.open('x', encoding='utf-8').close()  # taken now: no other search writes here
                return
            except FileExistsError:
                continue
        raise MicrogptError(f"cannot create a new log file in {log_dir}")

    def write(self, record):
        append_json_line(self.path, finite_or_null(record), 'cannot write the evolution log')


def now():
    """The time a log records (UTC, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


def numbered_records(path):
    """(line number, record) of each JSON object of an evolve log (a torn line is skipped)."""
    for number, line in enumerate(Path(path).read_text(encoding='utf-8').splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield number, record


def is_evolve_log(path):
    """Whether a file is an evolve log (its first line the run record), not sweep results."""
    try:
        with open(path, encoding='utf-8') as f:
            first = json.loads(f.readline() or 'null')
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and first.get('kind') == 'run' and 'fitness' in first


@dataclass
class EvolveLog:
    run: dict
    generations: list
    organisms: list = field(default_factory=list)  # every organism record, in log order
    baselines: list = field(default_factory=list)
    confirmation: dict = None
    decision: dict = None  # whether the winner replaced the genome at --out (logs since the final met it)
    result: dict = None

    @property
    def fitness(self):
        return self.run['fitness']

    def births(self):
        """{(generation, index): the organism's birth record}."""
        return {(r['generation'], r['index']): r for r in self.organisms if r['origin'] in BIRTHS}

    def latest(self):
        """{(generation, index): its last record (the mean of its scorings)}; a finalist's from the
        confirmation."""
        latest = {}
        for r in self.organisms:
            key = (r['generation'], r['index'])
            if key not in latest or r.get('scorings', 1) >= latest[key].get('scorings', 1):
                latest[key] = r
        for f in (self.confirmation or {}).get('organisms', []):
            latest[(f['generation'], f['index'])] = dict(f, scorings=len(f['scores']))
        return latest


def load_evolve_log(path):
    """The records of an evolve log, by kind, each checked as its readers take it."""
    log = EvolveLog(None, [])
    lists = {'generation': log.generations, 'organism': log.organisms, 'baseline': log.baselines}
    for number, record in numbered_records(path):
        check_record(record, lambda field, why: MicrogptError(
            f"evolve log {path}: line {number}: field '{field}' {why}"), (log.run or {}).get('fitness'))
        kind = record.get('kind')
        if kind in lists:
            lists[kind].append(record)
        elif kind in ('run', 'confirmation', 'decision', 'result'):
            setattr(log, kind, record)
    if log.run is None or not log.generations:
        raise MicrogptError(f"evolve log {path} has no finished generation")
    return log


# --- what each record must hold -----------------------------------------------------------------

NUMBER = (or_null(is_number), "must be null or a number")
COUNT = (is_count, "must be a whole number >= 0")
TEXT = (lambda v: isinstance(v, str), "must be a text")
WHOLE = (is_whole, "must be a whole number")
OBJECT = (lambda v: isinstance(v, dict), "must be an object")
GENES = (lambda v: isinstance(v, dict), "must be an object of genes")
SCORED = {  # a contender of the final: its mean, spread and scorings
    'score': NUMBER, 'spread': NUMBER,
    'scores': (lambda v: isinstance(v, list) and all(map(is_number, v)), "must be a list of numbers"),
}
RECORDS = {  # kind: (its fields, those older logs may lack)
    'run': ({
        'fitness': (lambda v: v in FITNESS_KINDS, f"must be one of {', '.join(FITNESS_KINDS)}"),
        'population': COUNT, 'generations': COUNT, 'seed': WHOLE, 'space': TEXT, 'engine': TEXT,
        'budget': (or_null(lambda v: is_number(v) and v > 0), "must be null or a number > 0"),
    }, ('space', 'budget', 'engine')),
    'generation': ({
        'generation': COUNT, 'best': NUMBER, 'best_spread': NUMBER, 'mean': NUMBER, 'worst': NUMBER,
        'failed': COUNT, 'diversity': COUNT,
    }, ('best_spread',)),
    'organism': ({
        'generation': COUNT, 'index': COUNT, 'scored_in': COUNT,
        'origin': (lambda v: isinstance(v, str) and bool(v), "must name how it came to be scored"),
        'parents': (lambda v: isinstance(v, list) and all(
                        isinstance(p, list) and len(p) == 2 and all(map(is_count, p)) for p in v),
                    "must be a list of [generation, index] pairs"),
        'mutated': (lambda v: isinstance(v, list) and all(isinstance(name, str) for name in v),
                    "must be a list of gene names"),
        'seed': WHOLE, 'genes': GENES, 'score': NUMBER, 'spread': NUMBER,
        'scorings': (lambda v: is_whole(v) and v >= 1, "must be a whole number >= 1"),
        'components': OBJECT,
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
        'winner': OBJECT,
        'incumbent': (or_null(OBJECT[0]), "must be null or an object"),
        'lead': NUMBER, 'noise': NUMBER,
        'forced': (lambda v: isinstance(v, bool), "must be true or false"),
    }, ()),
    'result': ({'best': (or_null(OBJECT[0]), "must be null or an object")}, ('best',)),
}
FINALIST = {'generation': COUNT, 'index': COUNT, 'genes': GENES, **SCORED}
# components an organism's scoring has, by fitness, when it did not fail
COMPONENTS = {'loss': {'val_loss': (is_number, "must be a number")},
              'aesthetic': {'score': (is_number, "must be a number"), 'new': NUMBER}}


def check_record(record, bad, fitness=None):
    """Raise bad(field, why) for the first field its readers cannot take; `fitness` the run's."""
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
            where = f'confirmation.organisms[{k}]'
            check_fields(finalist, FINALIST, where, bad, known=None, optional=('genes', 'spread', 'scores'))
            if 'genes' in finalist:
                _check_genes(finalist['genes'], f'{where}.genes', bad)
    elif kind == 'decision':
        if record['lead'] is not None and record['noise'] is None:
            raise bad('decision.noise', "must be a number where the lead is one, got None")
        for name in ('winner', 'incumbent'):
            if record[name] is not None:
                check_fields(record[name], {'score': NUMBER, 'spread': NUMBER}, f'decision.{name}', bad, known=None)
    elif kind == 'result' and record.get('best') is not None:
        check_fields(record['best'], {'generation': COUNT, 'index': COUNT}, 'result.best', bad, known=None)


def _check_genes(genes, where, bad):
    for name in genes:
        if name not in SETTINGS:
            raise bad(f'{where}.{name}', f"is not a gene (genes: {', '.join(SETTINGS)})")
    problem = check_genome(Genome.from_settings(genes))
    if problem:
        raise bad(f'{where}.{problem[0]}', problem[1])
