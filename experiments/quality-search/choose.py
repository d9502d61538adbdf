"""The search's winner written as genome.json: the candidate of the lowest held-out loss in
search.jsonl, counting each candidate twice, with its weight average (the loss its run
reported) and without it (its raw weights' loss: the same run without --ema, which does not
change training). Run from the project root after search.py."""
import json
import sys
from pathlib import Path

from microgpt.data import sha256_of
from microgpt.training.genome import Genome, save_genome
from microgpt.provenance import provenance

LOG = Path('experiments/quality-search/search.jsonl')


def options(records):
    """(held-out loss, name, genes) of every candidate, with and without its average."""
    for r in records:
        yield r['val_loss'], r['name'], r['genes']
        yield r['raw_val_loss'], r['name'] + ' (no ema)', dict(r['genes'], ema=None)


def main():
    records = [json.loads(line) for line in LOG.read_text().splitlines()]
    ranked = sorted(options(records))
    score, name, genes = ranked[0]
    runner_up = ranked[1]
    record = next(r for r in records if r['name'] == name.split(' ')[0])
    origin = provenance(['experiments/quality-search/make.sh'], sha256_of('input.txt'), 'numpy')
    save_genome('genome.json', Genome.from_settings(genes), dict(
        fitness='loss', score=score, candidate=name, space='quality-search', seed=42, val_split=0.1,
        log=str(LOG), runs=len(records), train_seconds=record['seconds'], params=record['params'],
        runner_up=dict(candidate=runner_up[1], score=runner_up[0]), lead=runner_up[0] - score,
        data='input.txt', **origin))
    print(f"genome.json: {name}, held-out {score:.4f}; runner-up {runner_up[1]} {runner_up[0]:.4f}")


if __name__ == '__main__':
    sys.exit(main())
