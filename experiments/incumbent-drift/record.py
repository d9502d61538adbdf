"""Write the record of its final into the shipped genomes, from the scorings the shipped logs
hold (nothing is trained): genome.json's from the aesthetic search's final, which trained it as
the incumbent on the Haswell kernel, with the drift measured of it (the same scorings on
SkylakeX by the smallest search with the same seeds, and incumbent-drift.jsonl's replays);
experiments/genome-aesthetic.json's from the same final, whose winner it is (no drift
measured). Only the `record` key of each file changes. Run from the project root, after
make.sh."""
import json
from pathlib import Path

from microgpt.evolve.incumbent import final_record, trial_result
from microgpt.files.fileio import atomic_write_json
from microgpt.training.genome import Genome, load_genome
from microgpt.reproducibility import arithmetic

FINAL_LOG = 'experiments/evolve-aesthetic-20261203-053803-seed42.jsonl'  # Haswell, 1 thread
SKYLAKEX_LOG = 'experiments/evolve-aesthetic-20261203-060904-seed42.jsonl'  # the same scorings on SkylakeX
REPLAYS = 'experiments/incumbent-drift/incumbent-drift.jsonl'
# (genome file, (generation, index, origin) of its scorings in the final)
GENOMES = [('genome.json', (0, 1, 'incumbent')), ('experiments/genome-aesthetic.json', (6, 5, 'confirmation'))]


def read_jsonl(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def final_scorings(records, born):
    """The final's scorings of the organism born `born`, in the final's seed order."""
    run = records[0]
    [confirmation] = [r for r in records if r['kind'] == 'confirmation']
    scorings = [r for r in records if r['kind'] == 'organism' and r.get('scored_in') == run['generations'] + 1
                and (r['generation'], r['index'], r['origin']) == born]
    return sorted(scorings, key=lambda r: confirmation['seeds'].index(r['seed']))


def incumbent_drift(recorded):
    """How far the incumbent's recorded scorings moved on other arithmetics: the SkylakeX
    search's scorings of the same seeds and the replays of the first seed."""
    by_seed = {r['seed']: r['components'] for r in recorded}
    others = [(r['seed'], r['components']['val_loss'], r['components']['score'], r['arithmetic'])
              for r in final_scorings(read_jsonl(SKYLAKEX_LOG), (0, 1, 'incumbent'))]
    for replay in read_jsonl(REPLAYS):
        if '(incumbent)' in replay['run']:
            seed = int(replay['run'].rsplit(' ', 1)[1])
            others.append((seed, replay['replayed']['val_loss'], replay['replayed']['score'], replay['arithmetic']))
    measured = []
    for _, _, _, computed_on in others:
        if arithmetic(computed_on) not in measured:
            measured.append(arithmetic(computed_on))
    return {'val_loss': max(abs(loss - by_seed[seed]['val_loss']) for seed, loss, _, _ in others),
            'score': max(abs(score - by_seed[seed]['score']) for seed, _, score, _ in others),
            'arithmetics': measured, 'measured_in': f"{SKYLAKEX_LOG}, {REPLAYS}"}


records = read_jsonl(FINAL_LOG)
run = records[0]
for path, born in GENOMES:
    scorings = final_scorings(records, born)
    genome = load_genome(path).genome
    assert all(Genome.from_settings(r['genes']) == genome for r in scorings) and len(scorings) == 3
    results = [(r['seed'], trial_result(r, run['fitness'], r['arithmetic'])) for r in scorings]
    record = final_record(genome, results, run['fitness'], run['engine'], run['split_sha256'], run['seed'],
                          run['provenance']['data_sha256'], log=FINAL_LOG,
                          drift=incumbent_drift(scorings) if born[2] == 'incumbent' else None)
    kept = json.loads(Path(path).read_text())
    kept['record'] = record
    atomic_write_json(path, kept, indent=2)
