"""The search at the compute a user spends: candidate genomes, each trained by plain
`microgpt train` for about TRAIN_SECONDS of one core, scored on the held-out names of seed 42
(the split evolution scores on; the genome check holds out others). Two candidates train at
once, one BLAS thread each. Each run's checkpoint is kept without its weights in runs/, and
one line per run goes to search.jsonl: its settings, steps, seconds, final held-out loss (of
the weight average) and the held-out loss of its last raw weights; its stderr and its stdout
without the step lines (the header and 20 samples) are kept beside it.

Run from the project root by experiments/quality-search/make.sh.
"""
import json
import math
import subprocess
import sys
import time
from pathlib import Path

from microgpt.data import held_out_split, load_docs
from microgpt.training.evaluation import mean_loss
from microgpt.gpt.engines import make_engine
from microgpt.files.checkpoint import load_checkpoint
from microgpt.training.run import Run, TrainConfig

HERE = Path(__file__).resolve().parent
SEED, VAL_SPLIT, EVAL_EVERY = 42, 0.1, 1000
TRAIN_SECONDS = 450  # of one idle core: what a candidate's steps are set to take
COMMON = dict(block_size=20, ff_mult=4, weight_decay=0.03249, warmup=200, schedule='cosine',
              batch_order='epoch', grad_clip=1.0, batch_size=32, ema=0.999)
CANDIDATES = {
    'e90l5-d0.1': dict(COMMON, n_embd=90, n_head=6, n_layer=5, learning_rate=0.0018, dropout=0.1),
    'e90l5-d0.2': dict(COMMON, n_embd=90, n_head=6, n_layer=5, learning_rate=0.0018, dropout=0.2),
    'e128l6-d0.2': dict(COMMON, n_embd=128, n_head=8, n_layer=6, learning_rate=0.0013, dropout=0.2),
    'e128l6-d0.3': dict(COMMON, n_embd=128, n_head=8, n_layer=6, learning_rate=0.0013, dropout=0.3),
}
FLAGS = {'n_embd': '--n-embd', 'n_head': '--n-head', 'n_layer': '--n-layer', 'block_size': '--block-size',
         'ff_mult': '--ff-mult', 'learning_rate': '--lr', 'num_steps': '--steps', 'batch_size': '--batch-size',
         'grad_clip': '--clip', 'weight_decay': '--weight-decay', 'warmup': '--warmup', 'schedule': '--schedule',
         'batch_order': '--batch-order', 'dropout': '--dropout', 'ema': '--ema'}
ARCH = ('n_embd', 'n_head', 'n_layer', 'block_size', 'ff_mult')


def planned_steps(genes, train_docs):
    """Whole hundreds of steps that take about TRAIN_SECONDS at this genome's median step time."""
    run = Run(train_docs, seed=SEED, arch={k: genes[k] for k in ARCH})
    train = {k: v for k, v in genes.items() if k not in ARCH}
    step = run.seconds_per_step(TrainConfig(num_steps=1000, **train), steps=30)
    return max(100, int(TRAIN_SECONDS / step) // 100 * 100), step


def command(name, genes):
    args = ['microgpt', 'train', '--primordial', '--data', 'input.txt', '--seed', str(SEED), '--val-split', str(VAL_SPLIT),
            '--eval-every', str(EVAL_EVERY), '--samples', '20', '--out', str(HERE / 'runs' / f'{name}.ckpt.json')]
    for gene, value in genes.items():
        args += [FLAGS[gene], str(value)]
    return args


def main():
    docs = load_docs('input.txt')
    train_docs, held_out = held_out_split(docs, SEED, VAL_SPLIT)
    (HERE / 'runs').mkdir(exist_ok=True)
    plans = {}
    for name, genes in CANDIDATES.items():
        steps, step_seconds = planned_steps(genes, train_docs)
        plans[name] = dict(genes, num_steps=steps)
        print(f"{name}: {step_seconds * 1000:.1f} ms a step -> {steps} steps", flush=True)
    names = list(plans)
    with open(HERE / 'search.jsonl', 'a') as log:
        for pair in (names[i:i + 2] for i in range(0, len(names), 2)):
            started = {}
            for name in pair:
                err = open(HERE / 'runs' / f'{name}.stderr.txt', 'w')
                out = open(HERE / 'runs' / f'{name}.stdout.txt', 'w')
                started[name] = (subprocess.Popen(command(name, plans[name]), stdout=out, stderr=err), time.time())
            for name, (process, t0) in started.items():
                if process.wait() != 0:
                    sys.exit(f"{name} failed: see runs/{name}.stderr.txt")
                wall = time.time() - t0
                path = HERE / 'runs' / f'{name}.ckpt.json'
                c = load_checkpoint(path)
                raw = mean_loss(make_engine('numpy', c.config, c.state_dict), c.tokenizer, held_out)
                final = c.training['curve'][-1]
                stderr = (HERE / 'runs' / f'{name}.stderr.txt').read_text()
                trained = next(line for line in stderr.splitlines() if line.startswith('trained '))
                seconds = float(trained.split(' in ')[1].split('s ')[0])
                novelty = next((line for line in stderr.splitlines() if line.startswith('novelty: ')), None)
                record = dict(name=name, genes=plans[name], params=c.config.num_params(), steps=c.training['steps_done'],
                              seconds=seconds, wall_seconds=wall, val_loss=final['val_loss'],
                              train_loss=final['train_loss'], raw_val_loss=raw, novelty=novelty,
                              curve=c.training['curve'], machine=c.provenance.get('machine'),
                              command=command(name, plans[name])[1:])
                log.write(json.dumps(record) + '\n')
                log.flush()
                print(f"{name}: held-out {final['val_loss']:.4f} (raw weights {raw:.4f}), train {final['train_loss']:.4f}, "
                      f"{seconds:.0f} s; {novelty}", flush=True)
                # keep the checkpoint without its weights (as the genome check does)
                obj = json.loads(path.read_text())
                json.dump({k: obj[k] for k in ('config', 'training', 'provenance')}, open(path.with_suffix('').with_suffix('.json'), 'w'), indent=1)
                path.unlink()
                (HERE / 'runs' / f'{name}.best.ckpt.json').unlink(missing_ok=True)  # its weights: not kept
                printed = HERE / 'runs' / f'{name}.stdout.txt'  # kept without its step lines
                (HERE / 'runs' / f'{name}.samples.txt').write_text(
                    ''.join(line for line in printed.read_text().splitlines(True) if not line.startswith('step ')))
                printed.unlink()


if __name__ == '__main__':
    main()
