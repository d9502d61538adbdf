"""Reading an evolve log back: every organism's birth, the winner's ancestry, the baselines.

An organism is known by where it was born, "generation.index"; its birth record says how
(random, immigrant, or child of which parents with which genes mutated), and its later
records are re-scorings (elite, confirmation), each with the mean of its scorings so far.
Logs written before births were recorded have no 'parents': their ancestry is unknown.
"""
from dataclasses import dataclass

from ..errors import MicrogptError


def scored_in(record):
    """The generation whose evaluation made this record (older logs: its birth generation)."""
    return record.get('scored_in', record['generation'])


def describe_score(record):
    scorings = record.get('scorings', 1)
    spread = record.get('spread')
    text = '-' if record.get('score') is None else f"{record['score']:.4f}"
    if spread is not None:
        text += f" \u00b1 {spread:.4f}"
    return text + (f" ({scorings} scorings)" if scorings > 1 else '')


def birth_text(record):
    """'random', 'immigrant', 'child of 3.1 x 2.4, mutated n_layer, lr' or 'mutant of 3.1, ...'."""
    if record['origin'] != 'child':
        return record['origin']
    parents = [f"{g}.{i}" for g, i in record.get('parents', [])]
    kind = 'child of ' + ' x '.join(parents) if len(parents) > 1 else 'mutant of ' + ''.join(parents)
    mutated = record.get('mutated') or []
    return kind + (f", mutated {', '.join(mutated)}" if mutated else '')


def ancestry_lines(log, winner=None):
    """The winner's family tree, one line per ancestor, indented by generation back; an
    ancestor met twice is shown once (later: 'see above')."""
    if not log.has_lineage:
        return ["this log records no births (written before microgpt recorded lineage)"]
    if winner is None:
        best = (log.result or {}).get('best') or min(
            log.latest().values(), key=lambda r: (r['score'] is None, _cost(log.fitness, r['score'])))
        winner = (best['generation'], best['index'])
    births, latest = log.births(), log.latest()
    lines, seen = [], set()

    def walk(key, depth):
        record = births.get(key)
        if record is None:
            lines.append(f"{'  ' * depth}{key[0]}.{key[1]}  (not in this log)")
            return
        label = f"{'  ' * depth}{key[0]}.{key[1]}  {birth_text(record)}"
        if key in seen:
            lines.append(f"{label}  (see above)")
            return
        seen.add(key)
        lines.append(f"{label}: {describe_score(latest[key])}  [{_genes_text(record['genes'])}]")
        for parent in record.get('parents', []):
            walk(tuple(parent), depth + 1)

    walk(tuple(winner), 0)
    return lines


def _cost(fitness, score):
    return score if fitness == 'loss' else -score


def _genes_text(genes):
    from ..genome import Genome
    return Genome.from_settings(genes).describe()


def replay_organism(run, record, train_docs, val_docs):
    """One scoring of a log, trained again by the settings and seed it records: its score
    (a loss scoring's validation loss; an aesthetic one's judge score of the same draws)."""
    from ..genome import Genome
    from ..trials.runner import Trial, run_trial
    from .fitness import aesthetic_measure, score_of
    trial = Trial(Genome.from_settings(record['genes']), record['seed'], run['engine'])
    if run['fitness'] == 'loss':
        replayed = run_trial(trial, train_docs, val_docs)
    else:
        replayed = run_trial(trial, train_docs, val_docs, aesthetic_measure,
                             {'seeds': record['components']['seeds']})
    if replayed['error'] is not None:
        raise MicrogptError(f"organism {record['generation']}.{record['index']} failed: {replayed['error']}")
    return score_of(run['fitness'], replayed)


def recorded_score(run, record):
    """What that one scoring scored (an elite's 'score' is the mean of several)."""
    return record['components']['val_loss' if run['fitness'] == 'loss' else 'score']


@dataclass
class Standing:
    """One contender of a search's final: its scorings on the final's seeds, and for the
    aesthetic fitness the share of its names that are new and its first scoring's samples."""
    name: str  # 'winner', 'finalist G.I', 'primordial' or 'incumbent'
    genes: dict
    scores: list
    new: float = None
    samples: list = None

    @property
    def score(self):
        return sum(self.scores) / len(self.scores)

    @property
    def spread(self):
        from .organism import spread_of
        return spread_of(self.scores)


def final_standings(log):
    """The contenders of the final (logs since the incumbent met the finalists on the same
    seeds), the winner first, then the other finalists, the baselines: [Standing]."""
    final = log.run['generations'] + 1
    scorings = {}
    for r in log.organisms:
        if r.get('scored_in') == final and r['error'] is None:
            scorings.setdefault((r['origin'] if r['generation'] == 0 else 'finalist', r['generation'], r['index']),
                                []).append(r)
    best = (log.result or {}).get('best') or {}
    standings = []
    for (origin, generation, index), records in scorings.items():
        records.sort(key=lambda r: log.confirmation['seeds'].index(r['seed']) if log.confirmation else 0)
        winner = origin == 'finalist' and [generation, index] == [best.get('generation'), best.get('index')]
        name = 'winner' if winner else origin if origin != 'finalist' else f"finalist {generation}.{index}"
        components = [r['components'] for r in records]
        new = ([c['new'] for c in components if c.get('new') is not None] if log.fitness == 'aesthetic' else [])
        standings.append(Standing(name, records[0]['genes'], [recorded_score(log.run, r) for r in records],
                                  sum(new) / len(new) if new else None, components[0].get('samples')))
    order = {'winner': 0, 'primordial': 2, 'incumbent': 3}
    return sorted(standings, key=lambda s: (order.get(s.name, 1), s.name))
