"""The `microgpt` command line: the root group, which ends every command's errors and interrupts in one
line and an exit status, and the commands, each group in its module under microgpt/commands/."""
import click

from .commands.analyze import analyze
from .commands.bench import bench
from .commands.evolve import evolve
from .commands.export import export
from .commands.predict import predict, surprise, trace
from .commands.sample import evaluate, judge, sample
from .commands.see import attention, embeddings, graph, report
from .commands.sweep import sweep
from .commands.train import train
from .console import Console
from .errors import MicrogptError
from .signals import JobInterrupted, exit_status, raise_on_sigterm

OUT_OF_MEMORY = ("out of memory: this machine could not hold what the command needed; a smaller model, "
                 "batch or data file needs less")


class Group(click.Group):
    """Every command: a MicrogptError (or running out of memory) is one `Error:` line and exit 1 (usage:
    2); Ctrl-C exits 130 and SIGTERM 143, without a traceback."""

    def parse_args(self, ctx, args):
        ctx.meta['argv'] = list(args)  # the command, as provenance records it
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        raise_on_sigterm()
        try:
            return super().invoke(ctx)
        except MicrogptError as e:
            raise click.ClickException(str(e)) from None
        except MemoryError:  # a batch, a model or a data file larger than the memory left
            raise click.ClickException(OUT_OF_MEMORY) from None
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


for command in (train, sample, evaluate, judge, predict, surprise, trace, evolve, sweep, analyze, graph, attention,
                embeddings, report, bench, export):
    main.add_command(command)


if __name__ == '__main__':
    main()
