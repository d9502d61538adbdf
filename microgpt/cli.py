"""The `microgpt` command line: the root group, which maps errors and interrupts to one line and
an exit status (usage 2, other errors 1, Ctrl-C 130, SIGTERM 143) for every command, and the
commands registered on it. Each command group has its module under microgpt/commands/ (sample,
eval and judge; predict, surprise and trace; evolve; sweep; analyze; graph, attention,
embeddings and report), its click
decorators above its body; train, bench and drift are declared here."""
import click

from .checkpoint import DEFAULT_CHECKPOINT
from .commands.analyze import analyze
from .commands.evolve import evolve
from .commands.options import (COUNT, GENE_DEFAULTS, POSITIVE, SETTING_FLAGS, TRAIN_SECTIONS, SectionedCommand,
                               comma_list, command_argv, console, data_option, engine_option, gene_options,
                               train_options)
from .commands.predict import predict, surprise, trace
from .commands.sample import evaluate, judge, sample
from .commands.see import attention, embeddings, graph, report
from .commands.sweep import sweep
from .console import Console
from .engines import DEFAULT_DTYPE, DTYPES
from .errors import MicrogptError
from .genome import DEFAULT_GENOME
from .sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, NEW_NAME_DRAWS_PER_NAME
from .signals import JobInterrupted, exit_status, raise_on_sigterm
from .training import DEFAULT_SEED, TRAIN_DEFAULTS


class Group(click.Group):
    """Every command: SIGTERM is handled like Ctrl-C; a MicrogptError is one `Error:` line
    and exit 1; an interrupt exits 130 (SIGTERM 143) without a traceback."""

    def parse_args(self, ctx, args):
        ctx.meta['argv'] = list(args)  # the command, as provenance records it
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        raise_on_sigterm()
        try:
            return super().invoke(ctx)
        except MicrogptError as e:
            raise click.ClickException(str(e)) from None
        except JobInterrupted as e:
            ctx.exit(e.status)
        except KeyboardInterrupt as interrupt:
            Console().info("interrupted")
            ctx.exit(exit_status(interrupt))


@click.group(cls=Group, context_settings={'help_option_names': ['-h', '--help']})
@click.version_option(package_name='microgpt')
def main():
    """microgpt: train and sample a tiny character-level GPT, atom by atom; evolve its
    hyperparameters; study how its loss scales."""


# --- train ------------------------------------------------------------------------------

@main.command(cls=SectionedCommand, sections=TRAIN_SECTIONS)
@data_option
@click.option('--seed', type=int, default=None, show_default=str(DEFAULT_SEED),
              help="Seed of the one random stream (shuffle, init, sampling).")
@gene_options
@train_options
@click.option('--genome', 'genome_path', type=click.Path(dir_okay=False), default=None,
              help=f"Take the hyperparameters from this genome (default: ./{DEFAULT_GENOME} if it exists); "
                   "flags given here override its genes.")
@click.option('--primordial', is_flag=True,
              help=f"Ignore any {DEFAULT_GENOME}: the original microgpt's settings (unless flags say otherwise).")
@click.option('--temperature', type=POSITIVE, default=None, show_default=str(DEFAULT_TEMPERATURE),
              help="Sampling temperature (> 0).")
@click.option('--samples', type=click.IntRange(min=0), default=None, show_default=str(DEFAULT_NUM_SAMPLES),
              help="Names to sample after training (0 skips sampling).")
@click.option('--new-samples', is_flag=True,
              help=f"Print only samples that are not in the data and not repeated: drawn until there are "
                   f"--samples of them, giving up after {NEW_NAME_DRAWS_PER_NAME} draws a sample; stderr says "
                   "how many were rejected.")
@engine_option
@click.option('--out', type=click.Path(), default=None, show_default=DEFAULT_CHECKPOINT,
              help="Where to write the checkpoint (with --resume: the resumed checkpoint).")
@click.option('--resume', type=click.Path(dir_okay=False), default=None,
              help="Continue the interrupted run in this checkpoint to its planned steps, exactly as "
                   "if it had not stopped (on either engine).")
@click.option('--dtype', type=click.Choice(DTYPES), default=None, show_default=DEFAULT_DTYPE,
              help="Numbers of the numpy engine: float32 is faster; float64 is the original's numbers.")
@click.option('--budget', type=POSITIVE, default=None, metavar='FLOPS',
              help="Train as many steps as this many floating-point operations buy (microgpt.flops: the "
                   "mean step over the training documents); prints the steps and the time they should take. "
                   "Instead of --steps.")
@click.option('--max-time', type=POSITIVE, default=None, metavar='SECONDS',
              help="Stop at the first step boundary after this long, keep the checkpoint (resumable).")
@click.option('--plot', type=click.Path(dir_okay=False), default=None,
              help="Also draw the training loss per step and its moving average, and the held-out "
                   "loss of each evaluation, to this image (.png, .svg, .pdf; needs pip install "
                   "'microgpt[plot]').")
def train(data, seed, genome_path, primordial, temperature, samples, new_samples, engine, dtype, out, resume,
          plot, budget, max_time, **settings):
    """Train a GPT and print the original microgpt's lines: header, losses, samples.

    Stdout carries exactly those lines; which genome is in use, where the checkpoint went
    and timings go to stderr. Hyperparameters: a flag beats ./genome.json (or --genome),
    which beats the built-in default; --primordial ignores the genome. Ctrl-C or SIGTERM
    saves a checkpoint of the steps done; --resume continues it.

    \b
    Examples:
      microgpt train --primordial            # the original microgpt.py, line for line
      microgpt train --steps 5000 --batch-size 8 --plot loss.png
      microgpt train --resume microgpt.ckpt.json
      microgpt train --val-split 0.1 --eval-every 500 --early-stop 4 --out run.ckpt.json
      microgpt train --budget 1e12 --batch-size 32 --weight-decay 0.1 --schedule cosine --warmup 100
    """
    from .jobs import TrainRequest, train_job
    genes = {name: settings.pop(name) for name in GENE_DEFAULTS}
    train_job(TrainRequest(genes=genes, options=settings, data=data, seed=seed, genome_path=genome_path,
                           primordial=primordial, temperature=temperature, samples=samples, engine=engine,
                           dtype=dtype, out=out, resume=resume, plot=plot, max_time=max_time, budget=budget,
                           new_samples=new_samples, command=command_argv(), flags=SETTING_FLAGS), console())


# --- benchmark ----------------------------------------------------------------------------

@main.command()
@click.option('--steps', type=COUNT, default=TRAIN_DEFAULTS.num_steps, show_default=True,
              help="Training steps per engine (default config).")
@click.option('--engines', default=None,
              help="Comma-separated engines from val, numpy, torch. Default: val,numpy, plus torch "
                   "when it is installed (pip install 'microgpt[bench]').")
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
    """Time and measure each engine side by side; print a JSON report.

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

    \b
    Examples:
      microgpt bench --engines numpy,torch
      microgpt bench --race 120
      microgpt bench --threads genome.json --repeat 3
    """
    from .bench.suite import bench_job
    bench_job(console(), steps, engines, repeat, batch_steps, data, out, race, original, threads_genome)


@main.command()
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

    \b
    Example:
      microgpt drift experiments/sweep-steps-*.jsonl --out experiments/drift.json
    """
    from .bench.drift import drift_job
    drift_job(console(), files, data, kernels, threads, out, command=command_argv())


# --- the commands of microgpt/commands/ -----------------------------------------------------------

for command in (sample, evaluate, judge, predict, surprise, trace, evolve, sweep, analyze, graph, attention, embeddings,
                report):
    main.add_command(command)


if __name__ == '__main__':
    main()
