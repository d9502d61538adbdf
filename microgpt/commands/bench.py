"""`microgpt bench`: how fast this install's engines train and sample, side by side."""

import click

from ..console import json_text
from ..errors import MicrogptError
from ..gpt.engines import ENGINE_HELP
from ..speed import SAMPLES, time_engines
from ..training.run import TRAIN_DEFAULTS
from .options import COUNT, DEFAULT_GENOME_READ, comma_list, console, data_option, data_read, list_only


def check_engines(names):
    unknown = [name for name in names if name not in ENGINE_HELP]
    if unknown or not names:
        hint = ("; PyTorch is the project's yardstick: python benchmarks/bench.py in a source checkout"
                if 'torch' in unknown else '')
        raise MicrogptError(f"unknown engine(s) {', '.join(unknown) or 'none given'}; "
                            f"choose from {', '.join(ENGINE_HELP)}{hint}")
    return list(dict.fromkeys(names))


@click.command()
@click.option('--steps', type=COUNT, default=TRAIN_DEFAULTS.num_steps, show_default=True,
              help="Training steps per engine (the default config: one document a step).")
@click.option('--engines', callback=comma_list(str), default=','.join(ENGINE_HELP), show_default=True,
              help="Comma-separated engines from val, numpy.")
@click.option('--repeat', type=COUNT, default=5, show_default=True,
              help="Rounds: each engine runs once a round, engines alternating; figures are medians "
                   "(an engine whose first round takes over 10 s runs once).")
@data_option
@list_only("it times the default run, one document a step, on a list")
@click.option('--out', type=click.Path(dir_okay=False), default=None, help="Also write the JSON report here.")
def bench(steps, engines, repeat, data, out):
    """Time each engine side by side: seconds per training step and for 20 samples; print a
    JSON report.

    Each engine trains the default config from the same initial weights and samples 20 names
    at temperature 0.5, in this process; the report says whether every engine printed the same
    losses and names. The report goes to stdout (and to --out); progress and one line per
    engine to stderr. The race against PyTorch, the goals and the cross-machine drift replays
    are the project's own tools: benchmarks/ in a source checkout.

    \b
    Examples:
      microgpt bench
      microgpt bench --engines numpy --steps 200 --repeat 3 --out bench.json
    """
    from ..data import load_dataset
    from ..files.fileio import atomic_write_json
    from ..files.outputs import Output, check_outputs
    out_console = console()
    names = check_engines(engines)
    check_outputs([Output('--out', out, 'report')], [data_read(data), DEFAULT_GENOME_READ])
    dataset = load_dataset(data, echo=out_console.info)
    report = time_engines(dataset.docs, names, steps, repeat, progress=lambda m: out_console.info(f"bench: {m}"))
    report['settings']['data'] = str(dataset.path)
    if out:
        atomic_write_json(out, report, indent=2)
    out_console.out(json_text(report, indent=2))
    for name, figures in report['engines'].items():
        out_console.info(f"{name}: {figures['train_step_seconds'] * 1000:.3g} ms a training step, "
                         f"{figures['sample_seconds']:.3g} s for {SAMPLES} samples")
    if report.get('interrupted'):
        out_console.info("interrupted: the report holds what was measured before")
        raise KeyboardInterrupt
