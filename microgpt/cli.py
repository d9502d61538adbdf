"""The `microgpt` command line: the root group, which maps errors and interrupts to one line and
an exit status (usage 2, other errors 1, Ctrl-C 130, SIGTERM 143) for every command, and the
commands registered on it. Each command group has its module under microgpt/commands/ (sample,
eval and judge; predict, surprise and trace; evolve; sweep; analyze; graph, attention, embeddings
and report; bench), its click decorators above its body; train is declared here."""
import click

from .checkpoint import DEFAULT_CHECKPOINT
from .commands.analyze import analyze
from .commands.bench import bench
from .commands.evolve import evolve
from .commands.options import (GENE_DEFAULTS, POSITIVE, SETTING_FLAGS, TRAIN_SECTIONS, SectionedCommand,
                               command_argv, console, data_option, engine_option, gene_options,
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
from .training import DEFAULT_SEED


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
                   "loss of each evaluation, to this image (.png, .svg, .pdf; needs matplotlib: pip install "
                   "matplotlib).")
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


# --- the commands of microgpt/commands/ -----------------------------------------------------------

for command in (sample, evaluate, judge, predict, surprise, trace, evolve, sweep, analyze, graph, attention,
                embeddings, report, bench):
    main.add_command(command)


if __name__ == '__main__':
    main()
