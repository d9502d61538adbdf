"""Test aids that read an evolve log back: one scoring replayed by the settings and seed it
records, and the contenders of a search's final as the docs quote them."""
from dataclasses import dataclass

from microgpt.errors import MicrogptError
from microgpt.evolve.fitness import aesthetic_measure, score_of
from microgpt.evolve.organism import spread_of
from microgpt.training.genome import Genome
from microgpt.trials.runner import Trial, run_trial


def replay_organism(run, record, train_docs, val_docs):
    """One scoring of a log, trained again by the settings and seed it records: its score
    (a loss scoring's validation loss; an aesthetic one's judge score of the same draws)."""
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
