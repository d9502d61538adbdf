"""The options several commands share, declared once, and the training settings' options with
the sectioned --help that shows the genome in force."""
from pathlib import Path

import click

from ..console import Console
from ..errors import MicrogptError
from ..files.checkpoint import DEFAULT_CHECKPOINT
from ..gpt.engines import ENGINE_HELP
from ..gpt.sampling import DEFAULT_TEMPERATURE
from ..gpt.settings import BY_NAME, FLAGGED, Bounds, in_order
from ..training.genome import DEFAULT_GENOME, SEED_GENES, SETTINGS, load_genome
from ..training.run import DEFAULT_SEED
from ..trials.executor import CLUSTER_ENV

DATA_HELP = "One document per line. Default: ./input.txt, else the names data bundled with microgpt."
COUNT = click.IntRange(min=1)


class Real(click.ParamType):
    """A finite number within settings.Bounds (click's FloatRange lets nan and inf through)."""
    name = 'number'

    def __init__(self, bounds):
        self.bounds = bounds

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not self.bounds.contains(number):
            low, high = self.bounds.low, self.bounds.high
            shown = [f"{'>' if self.bounds.low_open else '>='} {low:g}" if low is not None else None,
                     f"{'<' if self.bounds.high_open else '<='} {high:g}" if high is not None else None]
            self.fail(f"{value!r} must be a finite number {' and '.join(filter(None, shown))}", param, ctx)
        return number


POSITIVE = Real(Bounds(0, low_open=True))


class SectionedCommand(click.Command):
    """A command whose --help lists its options in sections (`sections`: (title, [parameter
    names]); the rest under "Other options"), each setting with the value ./genome.json gives it."""

    def __init__(self, *args, sections=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_options(self, ctx, formatter):
        in_force, note = {}, None
        if any(param.name in SETTINGS for param in self.get_params(ctx)) and Path(DEFAULT_GENOME).is_file():
            try:  # each setting's value in ./genome.json, as --help shows it
                genes = load_genome(DEFAULT_GENOME).genome.genes()
                in_force = {name: BY_NAME[name].shown(value) for name, value in genes.items()}
            except MicrogptError as e:
                note = f"{DEFAULT_GENOME} is not used: {e}"
        records = {param.name: record for param in self.get_params(ctx) if (record := param.get_help_record(ctx))}
        for name in in_force.keys() & records.keys():
            records[name] = (records[name][0], f"{records[name][1]}  [in force: {in_force[name]} from {DEFAULT_GENOME}]")
        listed = {name for _, names in self.sections for name in names}
        sections = [*self.sections, ('Other options', [name for name in records if name not in listed])]
        for title, names in sections:
            rows = [records[name] for name in names if name in records]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)
        if note:
            formatter.write_paragraph()
            formatter.write_text(note)


def command_argv():
    return click.get_current_context().find_root().meta.get('argv')


def apply(command, options):
    for option in reversed(options):
        command = option(command)
    return command


def data_option(command):
    return click.option('--data', type=click.Path(), default=None, help=DATA_HELP)(command)


# What a command reads that its outputs must not be (outputs.check_outputs): the data, and the
# genome `microgpt train` loads, which only `microgpt evolve` writes.
DEFAULT_GENOME_READ = (f"./{DEFAULT_GENOME}, the genome `microgpt train` loads", DEFAULT_GENOME)


def data_read(data):
    """(label, path) of the data file a command reads: --data, else its default."""
    from ..data import resolve_data_path
    return ('--data' if data is not None else "the data file (--data's default)"), resolve_data_path(data)


def list_only(why):
    """--text on a command that reads lists only: one line saying so (`why`: what it needs a list
    for), before any work."""
    def refuse(ctx, param, value):
        if value:
            names, at = [], ctx
            while at.parent is not None:  # `sweep steps`, not `steps`
                names.append(at.info_name)
                at = at.parent
            raise MicrogptError(f"{' '.join(reversed(names))} has no text mode: {why}; train on a text with "
                                f"`microgpt train --text`, then sample and eval its checkpoint")
    return click.option('--text', 'text_mode', is_flag=True, expose_value=False, is_eager=True, callback=refuse,
                        help="Not here: text mode is for train, sample and eval (this command reads a list).")


def seed_option(help_text):
    return click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True, help=help_text)


def engine_option(command):
    return click.option('--engine', type=click.Choice(list(ENGINE_HELP)), default='numpy', show_default=True,
                        help='; '.join(f"{k}: {v}" for k, v in ENGINE_HELP.items()))(command)


def parallel_options(command):
    """--workers and --cluster: where the many runs of evolve and sweep go."""
    return apply(command, [
        click.option('--workers', type=COUNT, default=None,
                     help="Runs at a time in local processes (default: one per core; 1 runs them in "
                          "this process). Results do not depend on it."),
        click.option('--cluster', metavar='ADDRESS', envvar=CLUSTER_ENV, show_envvar=True, default=None,
                     help="Send the runs to the Dask scheduler at ADDRESS (tcp://HOST:8786) instead of "
                          "local processes (needs Dask: pip install -e '.[cluster]' in a clone of microgpt). "
                          "Results equal a local run's. An unreachable scheduler is an error after "
                          "$MICROGPT_CLUSTER_TIMEOUT seconds (default 10)."),
    ])


def console():
    return Console()


# The settings' options, derived from their declarations (microgpt/gpt/settings.py). Each
# defaults to None, so that a genome's gene (or with --resume the checkpoint's setting)
# applies unless the flag is given; --help still shows the built-in default.

def setting_option(setting):
    """A setting's flag, taking its choices or the bounds the flag accepts."""
    bounds = setting.cli or setting.valid
    kind = (click.Choice(list(setting.choices)) if setting.choices else
            click.IntRange(min=bounds.low) if bounds.whole else Real(bounds))
    return click.option(setting.flag, setting.name, type=kind, default=None,
                        show_default=setting.shown(setting.default), help=setting.help)


SETTING_FLAGS = {setting.name: setting.flag for setting in FLAGGED}


def setting_options(command):
    """Every setting's option, each named after the field it sets: the seed design's genes first."""
    return apply(command, [setting_option(BY_NAME[name]) for name in SEED_GENES] +
                 [setting_option(setting) for setting in FLAGGED if setting.name not in SEED_GENES])


def setting_sections(placed):
    """{title: [names]}: each setting in the --help section it declares, followed by the options
    `placed` after it ({setting: [options]})."""
    sections = {}
    for setting in in_order(FLAGGED, lambda s: s.listed_after):
        if setting.section is not None:
            sections.setdefault(setting.section, []).extend([setting.name, *placed.get(setting.name, ())])
    return sections


_SECTIONS = setting_sections({'num_steps': ['budget', 'max_time']})
TRAIN_SECTIONS = (
    ('Model', _SECTIONS['Model']),
    ('Training', _SECTIONS['Training'] + ['seed']),
    ('Schedule', _SECTIONS['Schedule']),
    ('Evaluation', _SECTIONS['Evaluation']),
    ('Sampling', ['samples', 'temperature']),
    ('Input and output', ['data', 'text_mode', 'genome_path', 'primordial', 'out', 'resume', 'plot']),
    ('Engine', ['engine', 'dtype']),
)


def sampling_options(command):
    """--temperature, --seed, --top-k and --top-p: how `sample` (and `trace`) draws a name."""
    return apply(command, [
        click.option('--temperature', type=POSITIVE, default=DEFAULT_TEMPERATURE, show_default=True,
                     help="Sampling temperature (> 0)."),
        seed_option("Seed of the sampling random stream."),
        click.option('--top-k', type=COUNT, default=None, help="Draw only from the k most likely tokens."),
        click.option('--top-p', type=click.FloatRange(0, 1, min_open=True), default=None,
                     help="Draw only from the smallest set of tokens with this much probability (0 < p <= 1)."),
    ])


def checkpoint_option(command):
    return click.option('--checkpoint', 'checkpoint_path', type=click.Path(),
                        default=DEFAULT_CHECKPOINT, show_default=True,
                        help="A checkpoint written by `microgpt train` (or a folder written by "
                             "`microgpt export`).")(command)


def text_option(required=True, help_text="The text the model reads (BOS first): a name such as emma."):
    return click.option('--text', required=required, help=help_text)


def comma_list(kind):
    """A click callback: 'a,b' -> [kind(a), kind(b)] (None stays None)."""
    def convert(ctx, param, value):
        if value is None:
            return None
        try:
            return [kind(item.strip()) for item in value.split(',') if item.strip()]
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of {kind.__name__} values")
    return convert
