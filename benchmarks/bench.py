"""The benchmark suite, the race against the PyTorch twin and the thread comparison, from the
project root (benchmarks/README.md says what each measures):

    python benchmarks/bench.py --original ~/microgpt.py --out benchmarks/report.json
    python benchmarks/bench.py --race 120 --out benchmarks/race.json
    python benchmarks/bench.py --threads genome.json --repeat 3 --out experiments/threads/report.json
"""
import json

import click

from microgpt.commands.options import COUNT, POSITIVE, data_option
from microgpt.console import Console
from microgpt.errors import MicrogptError
from microgpt.training.run import TRAIN_DEFAULTS
import suite
from script import Script


@click.command(cls=Script)
@click.option('--steps', type=COUNT, default=TRAIN_DEFAULTS.num_steps, show_default=True,
              help="Training steps per engine (default config).")
@click.option('--engines', default=None,
              help="Comma-separated engines from val, numpy, torch. Default: val,numpy, plus torch "
                   "when it is installed (pip install -e '.[bench]').")
@click.option('--repeat', type=COUNT, default=5, show_default=True,
              help="Rounds: each measurement runs once a round, engines alternating; figures are "
                   "medians (a measurement whose first run takes over 10 s runs once).")
@click.option('--batch-steps', type=COUNT, default=50, show_default=True,
              help="Timed steps of the batch-32 throughput runs (wider model; numpy and torch).")
@data_option
@click.option('--out', type=click.Path(dir_okay=False), default=None, help="Also write the JSON report here.")
@click.option('--race', type=POSITIVE, default=None, metavar='SECONDS',
              help="Instead: the race. microgpt's recipe (numpy float32) and the PyTorch twin set up as "
                   "makemore's defaults each train SECONDS of wall time on the same 90/10 split; their "
                   "steps, tokens/s and held-out loss, and a verdict (needs torch).")
@click.option('--original', type=click.Path(dir_okay=False), default=None, metavar='FILE',
              help="Your own copy of the original microgpt.py: also time its whole process beside "
                   "`microgpt train --engine val --primordial`, 30 steps and 20 samples each (its "
                   "`num_steps = ...` line is set to 30 in a temporary copy), and check both print the same.")
@click.option('--threads', 'threads_genome', type=click.Path(dir_okay=False), default=None, metavar='GENOME',
              help="Instead: the numpy engine training this genome's steps (e.g. genome.json) with 1 and with "
                   "2 BLAS threads, side by side, --repeat rounds; which is faster.")
def bench(steps, engines, repeat, batch_steps, data, out, race, original, threads_genome):
    """Time and measure each engine side by side, the PyTorch twin among them; print a JSON
    report and each goal's PASS or FAIL.

    Each measurement in a process of its own: seconds per training step, seconds for 20
    samples, peak RSS; the whole `microgpt train --samples 0` process, with its CPU seconds
    per wall second; training throughput (tokens/second) at batch size 32 of a wider model
    (n_embd 64, 4 heads, 2 layers), numpy beside PyTorch; the same model in PyTorch
    (float64, one thread, eager) when installed; at makemore's default size (n_embd 64, 4
    heads, 4 layers) numpy in float64 and float32 beside the twin as makemore runs it
    (float32, 2 threads); building and back-propagating Val graphs of 1k and 100k nodes.
    Goals, each with its measured value and PASS or FAIL: numpy's batch throughput >=
    PyTorch's; numpy float32's >= the float32 twin's at makemore's size; the numpy `train`
    process's CPU per wall second <= 1.1; its peak RSS < 64 MB; the Val engine >= 10x the
    original, in <= 56 MB; with --original FILE, the Val engine's whole process <= 0.1 of
    the original's, side by side. The report goes to stdout; progress and the goals' verdicts to
    stderr. --race SECONDS runs the race instead (goal: microgpt's held-out loss lower).
    """
    from microgpt.data import load_dataset
    from microgpt.files.fileio import atomic_write_json, check_writable
    console = Console()
    if race is not None and not suite.torch_available():
        raise MicrogptError(f"the race needs PyTorch for the makemore twin: {suite.TORCH_INSTALL}")
    names = suite.parse_engines(engines) if race is None and threads_genome is None else []
    if race is None and threads_genome is None and engines is None and 'torch' not in names:
        console.info(f"torch is not installed, so PyTorch is left out ({suite.TORCH_INSTALL})")
    if out:
        check_writable(out, 'report')
    data_path = load_dataset(data, echo=console.info).path  # a bad data file fails here, in one line
    original_text = None if original is None else suite.read_original(original)
    progress = lambda m: console.info(f"bench: {m}")  # noqa: E731
    if threads_genome is not None:
        from microgpt.training.genome import load_genome
        report = suite.run_threads(data_path, load_genome(threads_genome).genome, repeat=repeat, progress=progress)
    elif race is not None:
        report = suite.run_race(data_path, race, progress=progress)
    else:
        report = suite.run_bench(names, steps, data_path, repeat=repeat, batch_steps=batch_steps, progress=progress,
                           original=original_text)
    if out:
        atomic_write_json(out, report, indent=2)
    console.out(json.dumps(report, indent=2))
    for kind in ('race', 'threads'):
        if kind in report:
            console.info(report[kind]['verdict'])
    for line in suite.goal_lines(report):
        console.info(line)
    if report.get('interrupted'):
        console.info("interrupted: the report holds what was measured before")
        raise KeyboardInterrupt


if __name__ == '__main__':
    bench()
