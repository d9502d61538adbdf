"""The options that several commands share, declared once: the number types, the data, seed,
engine and parallelism options, the checkpoint and text options, and the training settings'
options with the sectioned --help that shows the genome in force."""
import math

import click

from ..checkpoint import DEFAULT_CHECKPOINT
from ..console import Console
from ..engines import ENGINE_HELP
from ..errors import MicrogptError
from ..genome import DEFAULT_GENOME
from ..optim import SCHEDULES
from ..sampling import DEFAULT_TEMPERATURE
from ..training import ARCH_DEFAULTS, BATCH_ORDERS, DEFAULT_SEED, TRAIN_DEFAULTS
from ..trials.executor import CLUSTER_ENV

DATA_HELP = "One document per line. Default: ./input.txt, else the names data bundled with microgpt."
ENGINE_CHOICE = click.Choice(list(ENGINE_HELP))
ENGINES_TEXT = '; '.join(f"{k}: {v}" for k, v in ENGINE_HELP.items())
COUNT = click.IntRange(min=1)


class Real(click.ParamType):
    """A finite number within bounds (click's FloatRange lets nan and inf through)."""
    name = 'number'

    def __init__(self, low=None, high=None, low_open=False, high_open=False):
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def _bounds(self):
        parts = []
        if self.low is not None:
            parts.append(f"{'>' if self.low_open else '>='} {self.low:g}")
        if self.high is not None:
            parts.append(f"{'<' if self.high_open else '<='} {self.high:g}")
        return ' and '.join(parts)

    def convert(self, value, param, ctx):
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        too_low = self.low is not None and (number <= self.low if self.low_open else number < self.low)
        too_high = self.high is not None and (number >= self.high if self.high_open else number > self.high)
        if not math.isfinite(number) or too_low or too_high:
            self.fail(f"{value!r} must be a finite number {self._bounds()}", param, ctx)
        return number


POSITIVE = Real(0, low_open=True)
NON_NEGATIVE = Real(0)
BETA = Real(0, 1, high_open=True)
SHARE = Real(0, 1, low_open=True, high_open=True)


class SectionedCommand(click.Command):
    """A command whose --help lists its options in sections by purpose (`sections`: (title,
    [parameter names]); the rest under "Other options"), and shows beside each setting that
    ./genome.json supplies the value in force from it."""

    def __init__(self, *args, sections=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.sections = sections

    def format_options(self, ctx, formatter):
        from ..genome import SETTINGS
        takes_genome = any(param.name in SETTINGS for param in self.get_params(ctx))
        in_force, note = genome_in_force() if takes_genome else ({}, None)
        records = {}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            if param.name in in_force:
                record = (record[0], f"{record[1]}  [in force: {in_force[param.name]} from {DEFAULT_GENOME}]")
            records[param.name] = record
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


def shown_value(name, value):
    """A setting's value as --help shows it: 'off' for what is off (no clip, no decay, ...)."""
    return 'off' if value is None or (name in ('weight_decay', 'val_split', 'warmup', 'dropout') and not value) else str(value)


def genome_in_force():
    """({setting: value as shown} of ./genome.json, as `microgpt train` would load it, or {};
    a note when the file is there but cannot be used)."""
    from pathlib import Path
    from ..genome import load_genome
    if not Path(DEFAULT_GENOME).is_file():
        return {}, None
    try:
        genome = load_genome(DEFAULT_GENOME).genome
    except MicrogptError as e:
        return {}, f"{DEFAULT_GENOME} is not used: {e}"
    return {name: shown_value(name, value) for name, value in genome.genes().items()}, None


def command_argv():
    return click.get_current_context().find_root().meta.get('argv')


def apply(command, options):
    for option in reversed(options):
        command = option(command)
    return command


# --- options declared once ----------------------------------------------------------------

def data_option(command):
    return click.option('--data', type=click.Path(), default=None, help=DATA_HELP)(command)


def seed_option(help_text):
    return click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True, help=help_text)


def engine_option(command):
    return click.option('--engine', type=ENGINE_CHOICE, default='numpy', show_default=True,
                        help=ENGINES_TEXT)(command)


def parallel_options(command):
    """--workers and --cluster: where the many runs of evolve and sweep go."""
    return apply(command, [
        click.option('--workers', type=COUNT, default=None,
                     help="Runs at a time in local processes (default: one per core; 1 runs them in "
                          "this process). Results do not depend on it."),
        click.option('--cluster', metavar='ADDRESS', envvar=CLUSTER_ENV, show_envvar=True, default=None,
                     help="Send the runs to the Dask scheduler at ADDRESS (tcp://HOST:8786) instead of "
                          "local processes (needs pip install 'microgpt[cluster]'). Results equal a local "
                          "run's. An unreachable scheduler is an error after $MICROGPT_CLUSTER_TIMEOUT "
                          "seconds (default 10)."),
    ])


def console():
    return Console()


# Gene options default to None so that a genome's gene applies unless the flag is given;
# --help still shows the built-in default. (option, gene, type, help)
GENE_OPTIONS = [
    ('--steps', 'num_steps', COUNT, "Training steps."),
    ('--n-embd', 'n_embd', COUNT, "Embedding width."),
    ('--n-head', 'n_head', COUNT, "Attention heads (must divide n-embd)."),
    ('--n-layer', 'n_layer', COUNT, "Transformer layers."),
    ('--block-size', 'block_size', COUNT, "Maximum context length."),
    ('--ff-mult', 'ff_mult', COUNT, "MLP hidden width = ff-mult * n-embd."),
    ('--lr', 'learning_rate', POSITIVE,
     "Adam learning rate (finite, > 0); the schedule option decays it (linearly to 0: the original)."),
]
GENE_DEFAULTS = dict(ARCH_DEFAULTS, num_steps=TRAIN_DEFAULTS.num_steps, learning_rate=TRAIN_DEFAULTS.learning_rate)


def gene_options(command):
    return apply(command, [click.option(flag, gene, type=kind, show_default=str(GENE_DEFAULTS[gene]), help=text)
                           for flag, gene, kind, text in GENE_OPTIONS])


# The training options beyond the genes, each named after the TrainConfig field it sets; None
# means not given (the default, or with --resume the checkpoint's). (option, field, type, help)
TRAIN_OPTIONS = [
    ('--batch-size', 'batch_size', COUNT,
     "Documents per step; the loss is the mean over all their tokens. 1 is the original."),
    ('--clip', 'grad_clip', POSITIVE, "Clip the global gradient norm to this before each Adam step."),
    ('--weight-decay', 'weight_decay', NON_NEGATIVE,
     "Decoupled weight decay (AdamW): each step shrinks the weights by lr * this first."),
    ('--beta1', 'beta1', BETA, "Adam's beta1, in [0, 1)."),
    ('--beta2', 'beta2', BETA, "Adam's beta2, in [0, 1)."),
    ('--warmup', 'warmup', click.IntRange(min=0),
     "Steps over which the learning rate rises linearly to --lr before the schedule starts."),
    ('--schedule', 'schedule', click.Choice(list(SCHEDULES)),
     "Learning rate after warmup: " + '; '.join(f"{k}: {v}" for k, v in SCHEDULES.items()) + '.'),
    ('--batch-order', 'batch_order', click.Choice(list(BATCH_ORDERS)),
     "Which documents make a batch: " + '; '.join(f"{k}: {v}" for k, v in BATCH_ORDERS.items()) + '.'),
    ('--dropout', 'dropout', BETA,
     "Dropout while training: drop this share of the attention weights and of each residual branch's "
     "output (mask streams of their own, fixed by --seed); evaluation and sampling drop nothing."),
    ('--ema', 'ema', SHARE,
     "Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation, the "
     "best checkpoint and sampling use it; it is saved in the checkpoint."),
    ('--val-split', 'val_split', SHARE,
     "Hold out this share of the documents (chosen by --seed, as evolve and sweep choose theirs); "
     "never trained on."),
    ('--eval-every', 'eval_every', COUNT,
     "Every N steps and at the end, the held-out loss (stderr); the best model is kept beside --out "
     "(run.ckpt.json -> run.best.ckpt.json). Needs --val-split."),
    ('--early-stop', 'early_stop', COUNT, "End training after K evaluations without a better held-out loss."),
]


SETTING_FLAGS = {name: flag for flag, name, *_ in GENE_OPTIONS + TRAIN_OPTIONS}


def train_options(command):
    return apply(command, [click.option(flag, name, type=kind, default=None,
                                        show_default=shown_value(name, getattr(TRAIN_DEFAULTS, name)), help=text)
                           for flag, name, kind, text in TRAIN_OPTIONS])


TRAIN_SECTIONS = (
    ('Model', ['n_embd', 'n_head', 'n_layer', 'block_size', 'ff_mult']),
    ('Training', ['num_steps', 'budget', 'max_time', 'learning_rate', 'batch_size', 'batch_order', 'grad_clip',
                  'weight_decay', 'beta1', 'beta2', 'seed']),
    ('Schedule', ['warmup', 'schedule']),
    ('Evaluation', ['val_split', 'eval_every', 'early_stop']),
    ('Sampling', ['samples', 'temperature']),
    ('Input and output', ['data', 'genome_path', 'primordial', 'out', 'resume', 'plot']),
    ('Engine', ['engine', 'dtype']),
)


def sampling_options(command):
    """--temperature, --seed, --top-k and --top-p: how a name is drawn (`sample`, and `trace`
    drawing the same name)."""
    return apply(command, [
        click.option('--temperature', type=POSITIVE, default=DEFAULT_TEMPERATURE, show_default=True,
                     help="Sampling temperature (> 0)."),
        click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True,
                     help="Seed of the sampling random stream."),
        click.option('--top-k', type=COUNT, default=None, help="Draw only from the k most likely tokens."),
        click.option('--top-p', type=click.FloatRange(0, 1, min_open=True), default=None,
                     help="Draw only from the smallest set of tokens with this much probability (0 < p <= 1)."),
    ])


def checkpoint_option(command):
    return click.option('--checkpoint', 'checkpoint_path', type=click.Path(dir_okay=False),
                        default=DEFAULT_CHECKPOINT, show_default=True,
                        help="A checkpoint written by `microgpt train`.")(command)


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
