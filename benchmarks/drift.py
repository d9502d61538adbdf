"""How far results move on another machine's arithmetic, from the project root:

    python benchmarks/drift.py experiments/sweep-steps-*.jsonl --out experiments/drift.json

The runs of sweep results files are replayed in child processes, one per arithmetic (an
OpenBLAS kernel forced by OPENBLAS_CORETYPE, times a thread count), and each run's final
validation loss is compared across them. The largest spread seen for runs up to each length
is what reproducibility.CROSS_MACHINE_TOLERANCE states (with a safety factor).
"""
import json
import os
import platform
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import click

from microgpt.commands.options import comma_list, data_option
from microgpt.console import Console
from microgpt.errors import MicrogptError
from script import Script

# kernels to force besides the CPU's own choice, per architecture
KERNELS = {'x86_64': ('Haswell', 'Nehalem'), 'amd64': ('Haswell', 'Nehalem'),
           'aarch64': ('ARMV8', 'NEOVERSEN1'), 'arm64': ('ARMV8', 'NEOVERSEN1')}
DEFAULT_THREADS = (1, 2)
# A replay child: this file's replay_main, imported from this folder.
REPLAY = f"import sys\nsys.path.insert(0, {str(Path(__file__).resolve().parent)!r})\nfrom drift import replay_main\nreplay_main()"


def default_kernels():
    """'' (the CPU's own choice) and the architecture's other kernels."""
    return ('',) + KERNELS.get(platform.machine().lower(), ())


def replay_main():
    """In a child: replay every run of the files in argv, print one JSON line per run."""
    from microgpt.data import load_dataset
    from microgpt.reproducibility import arithmetic, machine
    from microgpt.scaling import sweep
    data_path, *paths = sys.argv[1:]
    docs = load_dataset(data_path).docs
    here = arithmetic(machine())
    for path in paths:
        _, rows = sweep.read_results(path, warn=lambda message: None)
        splits = {}
        for row in rows:
            if row['seed'] not in splits:
                splits[row['seed']] = sweep.sweep_split(docs, row['seed'])
            replayed = sweep.run_one({f: row[f] for f in sweep.RUN_FIELDS}, *splits[row['seed']])
            print(json.dumps(dict(file=os.path.basename(path), run=list(sweep.run_key(row)), steps=row['steps'],
                                  val_loss=replayed['val_loss'], arithmetic=here)), flush=True)


def measure_drift(paths, data_path, kernels, threads, echo):
    """Replay under every (kernel, threads); returns the report (a dict, see drift_job)."""
    replays = []
    for kernel in kernels:
        for count in threads:
            env = dict(os.environ, OPENBLAS_NUM_THREADS=str(count))
            if kernel:
                env['OPENBLAS_CORETYPE'] = kernel
            echo(f"replaying under {kernel or 'the default'} kernel, {count} thread(s)")
            done = subprocess.run([sys.executable, '-c', REPLAY, str(data_path), *map(str, paths)],
                                  capture_output=True, text=True, env=env)
            if done.returncode != 0:
                raise MicrogptError(f"a replay failed: {done.stderr.strip().splitlines()[-1:]}")
            replays += [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    return drift_report(replays)


def drift_report(replays):
    """Per run: its losses on each arithmetic (arithmetics[i] is 'kernel/threads' of
    val_losses[i]) and their spread; per run length: the largest spread of the runs up to it."""
    runs = defaultdict(list)
    for replay in replays:
        runs[(replay['file'], tuple(replay['run']))].append(replay)
    rows = []
    for (file, run), seen in runs.items():
        losses = [r['val_loss'] for r in seen]
        rows.append(dict(file=file, run=list(run), steps=seen[0]['steps'],
                         arithmetics=[f"{r['arithmetic']['blas_kernel']}/{r['arithmetic']['blas_threads']}"
                                      for r in seen],
                         val_losses=losses, spread=max(losses) - min(losses)))
    rows.sort(key=lambda r: (r['steps'], r['file'], r['run']))
    lengths = sorted({r['steps'] for r in rows})
    worst = [dict(steps=n, largest_spread=max(r['spread'] for r in rows if r['steps'] <= n)) for n in lengths]
    return dict(runs=rows, by_length=worst)


def format_report(report):
    lines = ['| runs up to (steps) | largest spread of the final validation loss |', '| ---: | ---: |']
    lines += [f"| {row['steps']:,} | {row['largest_spread']:.2g} |" for row in report['by_length']]
    return '\n'.join(lines)


@click.command(cls=Script)
@click.argument('files', nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option('--kernels', callback=comma_list(str), default=None,
              help="Comma-separated OpenBLAS kernels to force (OPENBLAS_CORETYPE), '' for the CPU's own. "
                   "Default: the CPU's own, plus Haswell and Nehalem on x86-64 (ARMV8 and NEOVERSEN1 on arm64).")
@click.option('--threads', callback=comma_list(int), default=None, help="Comma-separated BLAS thread counts. Default: 1,2.")
@data_option
@click.option('--out', type=click.Path(dir_okay=False), default=None, help="Also write the JSON report here.")
def drift(files, kernels, threads, data, out):
    """Replay the runs of sweep results files under other BLAS kernels and thread counts,
    and print how far their final validation losses move, by run length.

    Those are the figures behind the cross-machine tolerance the reproducibility page states.
    """
    from microgpt.data import load_dataset
    from microgpt.files.fileio import atomic_write_json, check_writable
    from microgpt.provenance import provenance
    console = Console()
    if out:
        check_writable(out, 'report')
    dataset = load_dataset(data, echo=console.info)
    for path in files:
        if not os.path.isfile(path):
            raise MicrogptError(f"results file not found: {path}")
    report = measure_drift(files, dataset.path, kernels or default_kernels(), threads or DEFAULT_THREADS,
                           console.info)
    report['provenance'] = provenance(['drift', *click.get_current_context().meta['argv']], dataset.sha256, 'numpy')
    console.out(format_report(report))
    if out:
        atomic_write_json(out, report)
        console.info(f"report saved to {out}")
    return report


if __name__ == '__main__':
    drift()
