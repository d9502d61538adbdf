"""One arithmetic's replays for experiments/batched-drift/make.sh (run from the project root,
under the OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS it was given): the mini-batch float64
runs that tests/test_shipped.py replays, trained again here, one JSON line each (an aesthetic
organism's score is the judge's)."""
import json
import sys

from microgpt.data import load_docs, split_docs
from microgpt.reproducibility import arithmetic, machine
from microgpt.training.run import first_evaluation

sys.path.insert(0, 'tests')  # tests/test_shipped.py's own replay of a logged scoring
from replays import recorded_score, replay_organism  # noqa: E402

# (log, generation, index, origin): the shipped budgeted search's cheapest organism (the replay
# test's) and its winner's own scoring; the default search's cheapest organism (the replay
# test's, the same genome in every default search), scored by its loss and by the judge
ORGANISMS = [('experiments/evolve-loss-20261201-113554-seed42.jsonl', 3, 1, 'immigrant'),
             ('experiments/evolve-loss-20261201-113554-seed42.jsonl', 7, 5, 'child'),
             ('experiments/default-search/evolve-loss-20261203-060100-seed42.jsonl', 1, 2, 'random'),
             ('experiments/default-search/evolve-aesthetic-20261203-060440-seed42.jsonl', 1, 2, 'random')]

docs = load_docs('input.txt')
here = arithmetic(machine())
for log, generation, index, origin in ORGANISMS:
    records = [json.loads(line) for line in open(log)]
    run = records[0]
    train, val = split_docs(docs, run['seed'])
    [record] = [r for r in records if r['kind'] == 'organism' and (r['generation'], r['index'], r['origin']) ==
                (generation, index, origin)]
    print(json.dumps({'run': f"{log.split('/')[-1]} organism {generation}.{index} ({origin})",
                      'fitness': run['fitness'],
                      'steps': record['genes']['num_steps'], 'batch_size': record['genes']['batch_size'],
                      'recorded': recorded_score(run, record), 'replayed': replay_organism(run, record, train, val),
                      'arithmetic': here}), flush=True)

# the genome check's seed 1 to its first evaluation (what the replay test trains)
check = json.load(open('experiments/genome-check/seed1.json'))
step, replayed = first_evaluation(check, docs)
print(json.dumps({'run': f"genome-check seed 1 to step {step}", 'steps': step,
                  'batch_size': check['training']['batch_size'], 'recorded': check['training']['curve'][0]['val_loss'],
                  'replayed': replayed, 'arithmetic': here}), flush=True)
