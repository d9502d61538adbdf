"""One arithmetic's replays for experiments/incumbent-drift/make.sh (run from the project root,
under the OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS it was given): the shipped genome's scoring
on the first seed of the aesthetic search's final (its held-out loss and the judge's score of
the same draws), trained again here; with --cheapest, the default search's cheapest organism
for contrast. One JSON line each."""
import json
import sys

from microgpt.data import load_docs, split_docs
from microgpt.evolve.fitness import aesthetic_measure
from microgpt.evolve.incumbent import split_digest
from microgpt.training.genome import Genome
from microgpt.reproducibility import arithmetic, machine
from microgpt.trials.runner import Trial, run_trial

# (log, generation, index, origin, seed): the incumbent's first final scoring in the shipped
# aesthetic search (OpenBLAS Haswell), and the default search's cheapest organism
INCUMBENT = ('experiments/evolve-aesthetic-20261203-053803-seed42.jsonl', 0, 1, 'incumbent', 1792194751)
CHEAPEST = ('experiments/default-search/evolve-aesthetic-20261203-060440-seed42.jsonl', 1, 2, 'random', None)


def replay(log, generation, index, origin, seed, docs):
    records = [json.loads(line) for line in open(log)]
    run = records[0]
    train, val = split_docs(docs, run['seed'])
    assert split_digest(train, val) == run['split_sha256']
    [record] = [r for r in records if r['kind'] == 'organism' and (r['generation'], r['index'], r['origin']) ==
                (generation, index, origin) and seed in (None, r['seed'])]
    g = Genome.from_settings(record['genes'])
    replayed = run_trial(Trial(g, record['seed'], run['engine']), train, val, aesthetic_measure, {'seeds': record['components']['seeds']})
    if replayed['error'] is not None:
        raise SystemExit(replayed['error'])
    recorded = record['components']
    return {'run': f"{log.split('/')[-1]} organism {generation}.{index} ({origin}) seed {record['seed']}",
            'steps': g.num_steps, 'batch_size': g.batch_size, 'params': replayed['num_params'],
            'recorded': {'val_loss': recorded['val_loss'], 'score': recorded['score'],
                         'arithmetic': record['arithmetic']},
            'replayed': {'val_loss': replayed['val_loss'], 'score': replayed['measured']['score']},
            'val_loss_drift': abs(replayed['val_loss'] - recorded['val_loss']),
            'score_drift': abs(replayed['measured']['score'] - recorded['score']),
            'seconds': round(replayed['seconds'], 1), 'arithmetic': arithmetic(machine())}


docs = load_docs('input.txt')
print(json.dumps(replay(*(CHEAPEST if '--cheapest' in sys.argv[1:] else INCUMBENT), docs)), flush=True)
