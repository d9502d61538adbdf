"""The evolve log: one JSON record a line, written as the search goes and read back by the
lineage (evolve.lineage) and `microgpt analyze`. Its records, in order: 'run' (the settings), 'plan', an 'organism' for
each scoring, a 'generation' after each generation, 'stagnation' when it stalls, then the
final's 'confirmation' and 'baseline's, the 'decision' and the 'result'."""
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import MicrogptError
from ..fileio import append_json_line, finite_or_null

BIRTHS = ('random', 'immigrant', 'child')


# --- writing ------------------------------------------------------------------------------------

class EvolveLogWriter:
    """A new log file in `log_dir`, named by fitness, time and seed; each record is one whole
    line synced to disk at once, so an interrupted search keeps what it did."""

    def __init__(self, log_dir, fitness, seed):
        stamp = datetime.now().strftime('%Y%m%d-%H%M%S')
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(100):
            suffix = f'-{attempt}' if attempt else ''
            path = log_dir / f'evolve-{fitness}-{stamp}-seed{seed}{suffix}.jsonl'
            try:
                path.open('x', encoding='utf-8').close()  # taken now: no other search writes here
                break
            except FileExistsError:
                continue
        else:
            raise MicrogptError(f"cannot create a new log file in {log_dir}")
        self.path = path

    def write(self, record):
        append_json_line(self.path, finite_or_null(record), 'cannot write the evolution log')


def now():
    """The time a log records (UTC, to the second)."""
    return datetime.now(timezone.utc).isoformat(timespec='seconds')


# --- reading ------------------------------------------------------------------------------------

def read_records(path):
    """The records of an evolve log, in order: the JSON objects of its lines (a torn line of
    an interrupted run is skipped). OSError and UnicodeDecodeError go to the caller."""
    return (record for _, record in numbered_records(path))


def numbered_records(path):
    """(line number, record) of each record of an evolve log, as read_records reads them."""
    for number, line in enumerate(Path(path).read_text(encoding='utf-8').splitlines(), start=1):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            yield number, record


def is_evolve_log(path):
    """Whether a file is an evolve log (its first line is the run record) rather than sweep results."""
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
        """{(generation, index): its last record, with the mean of all its scorings}; a
        finalist's from the confirmation (its scorings ran in parallel)."""
        latest = {}
        for r in self.organisms:
            key = (r['generation'], r['index'])
            if key not in latest or r.get('scorings', 1) >= latest[key].get('scorings', 1):
                latest[key] = r
        for f in (self.confirmation or {}).get('organisms', []):
            latest[(f['generation'], f['index'])] = dict(f, scorings=len(f['scores']))
        return latest

    @property
    def has_lineage(self):
        return any('parents' in r for r in self.organisms)


def load_evolve_log(path):
    """The records of an evolve log, by kind (a torn last line of an interrupted run is skipped),
    each checked as its readers take it (log_check.py): a field they cannot is one line."""
    from .log_check import check_record
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
