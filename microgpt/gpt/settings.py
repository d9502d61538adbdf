"""Every setting microgpt trains with, declared once: what it is (name, type, default), what makes
a value valid, how the command line sets it (flag, help, --help section), whose it is (the
model's, the training's, or only watching a run) and its range as a gene in each evolution space.
GPTConfig and TrainConfig (`configured`), the Genome, the options of `microgpt train` and the gene
spaces (evolve/genes.py) derive from these lists. The defaults, the original microgpt.py's, are the
primordial genome.
"""
import math
from dataclasses import dataclass
from typing import Optional

from ..errors import MicrogptError
from .optim import BETA1, BETA2, DEFAULT_SCHEDULE, ORIGINAL_ADAM, SCHEDULES

BATCH_ORDERS = {
    'walk': "the next batch_size documents of the shuffled list, round and round (the original)",
    'epoch': "the shuffled list, then a fresh shuffle of it for every later pass (epoch)",
    'replacement': "batch_size documents drawn at random, with replacement, every step",
}
DEFAULT_BATCH_ORDER = 'walk'
MAX_BUDGET_STEPS = 20_000  # under a budget, an organism this budget would give more steps is outside

REQUIRED = object()  # the default of a setting that must be given (the vocabulary's size)


class SettingError(MicrogptError):
    """A setting's value the configs refuse: `.setting` names it, `.reason` says why (what
    the error prints after the setting's name, unless the message says it another way)."""

    def __init__(self, setting, reason, message=None):
        self.setting, self.reason = setting, reason
        super().__init__(message or f"{setting} {reason}")


@dataclass(frozen=True)
class Bounds:
    """The values a number may take: low and high (None: unbounded; a setting's name: that
    setting's value), either end open or closed; `whole` for whole numbers."""
    low: object = None
    high: object = None
    low_open: bool = False
    high_open: bool = False
    whole: bool = False

    def upper(self, config):
        """The high end, as a number (a whole number's open end is the one below it)."""
        high = getattr(config, self.high) if isinstance(self.high, str) else self.high
        return high - 1 if self.whole and self.high_open and high is not None else high

    def contains(self, value, config=None):
        if isinstance(value, bool) or not isinstance(value, int if self.whole else (int, float)):
            return False
        if isinstance(value, float) and not math.isfinite(value):  # (a whole number is finite, however long)
            return False
        high = getattr(config, self.high) if isinstance(self.high, str) else self.high
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = high is None or (value < high if self.high_open else value <= high)
        return above and below


COUNT = Bounds(1, whole=True)
WHOLE = "must be a whole number >= 1"


@dataclass(frozen=True)
class Setting:
    """One setting, declared once.

    `must` is the reason an invalid value is refused ('{upper}' stands for the upper bound
    as a number); `valid` the Bounds of a number, or `choices` the names it may be; `optional`
    lets None mean off. `flag`, `help` and `section` make its option of `microgpt train`
    (section None: under "Other options"); `zero_is_off`: --help shows 0 as 'off'. `part`:
    'model' (GPTConfig), 'training' (TrainConfig) or 'watching' (TrainConfig, but it only
    watches a run, so no genome holds it). `seed` and `budget`: its range as a gene in that
    evolution space, as plain data ({'low', 'high', 'log'} or {'choices'}), or None.
    `listed_after` / `drawn_after` keep --help's and the gene spaces' order as they were first
    published (a seeded search draws its genes in that order)."""
    name: str
    type: type
    default: object
    must: str
    part: str
    flag: Optional[str] = None
    help: str = ''
    section: Optional[str] = None
    valid: Optional[Bounds] = None
    choices: tuple = ()
    optional: bool = False
    cli: Optional[Bounds] = None  # what the flag accepts, when narrower than `valid`
    zero_is_off: bool = False
    seed: Optional[dict] = None
    budget: Optional[dict] = None
    listed_after: Optional[str] = None
    drawn_after: Optional[str] = None

    @property
    def gene(self):
        """Whether a genome holds it: it makes the model or the training run."""
        return self.part in ('model', 'training')

    def problem(self, value, config):
        """Why `value` cannot be this setting (a SettingError), or None."""
        if value is None and self.optional:
            return None
        ok = value in self.choices if self.choices else self.valid.contains(value, config)
        if ok:
            return None
        upper = self.valid.upper(config) if self.valid is not None else None
        return SettingError(self.name, f"{self.must.format(upper=upper)}, got {value!r}")

    def shown(self, value):
        """The value as --help shows it: 'off' for what is off (no clip, no decay, ...)."""
        return 'off' if value is None or (self.zero_is_off and not value) else str(value)


MODEL_SETTINGS = (
    Setting('vocab_size', int, REQUIRED, WHOLE, 'data', valid=COUNT),
    Setting('n_embd', int, 16, WHOLE, 'model', '--n-embd', "Embedding width.", 'Model', COUNT,
            seed=dict(low=8, high=32), budget=dict(low=8, high=96)),
    Setting('n_head', int, 4, WHOLE, 'model', '--n-head', "Attention heads (must divide n-embd).", 'Model',
            COUNT, seed=dict(low=1, high=4), budget=dict(low=1, high=8)),
    Setting('n_layer', int, 1, WHOLE, 'model', '--n-layer', "Transformer layers.", 'Model', COUNT,
            seed=dict(low=1, high=4), budget=dict(low=1, high=6)),
    Setting('block_size', int, 16, WHOLE, 'model', '--block-size', "Maximum context length.", 'Model', COUNT,
            seed=dict(low=8, high=24), budget=dict(low=8, high=24)),
    Setting('ff_mult', int, 4, WHOLE, 'model', '--ff-mult', "MLP hidden width = ff-mult * n-embd.", 'Model',
            COUNT, seed=dict(low=1, high=4), budget=dict(low=1, high=4)),
)

SHARE_TEXT = "must be a share in [0, 1)"
TRAINING_SETTINGS = (
    Setting('learning_rate', float, 0.01, "must be a finite number > 0", 'training', '--lr',
            "Adam learning rate (finite, > 0); the schedule option decays it (linearly to 0: the original).",
            'Training', Bounds(0, low_open=True),
            seed=dict(low=0.001, high=0.05, log=True), budget=dict(low=0.0005, high=0.05, log=True),
            listed_after='num_steps'),
    # under a budget the steps are not a gene but what the budget buys
    Setting('num_steps', int, 1000, WHOLE, 'training', '--steps', "Training steps.", 'Training', COUNT,
            seed=dict(low=100, high=2000), budget=dict(low=1, high=MAX_BUDGET_STEPS)),
    Setting('batch_size', int, 1, WHOLE, 'training', '--batch-size',
            "Documents per step; the loss is the mean over all their tokens. 1 is the original.", 'Training',
            COUNT, budget=dict(low=1, high=64, log=True)),
    Setting('grad_clip', float, None, "must be a finite number > 0", 'training', '--clip',
            "Clip the global gradient norm to this before each Adam step.", 'Training',
            Bounds(0, low_open=True), optional=True,
            budget=dict(choices=(None, 0.5, 1.0, 2.0)), drawn_after='schedule'),
    Setting('weight_decay', float, ORIGINAL_ADAM.weight_decay, "must be a finite number >= 0", 'training',
            '--weight-decay', "Decoupled weight decay (AdamW): each step shrinks the weights by lr * this first.",
            'Training', Bounds(0), zero_is_off=True, budget=dict(low=0, high=0.2)),
    Setting('beta1', float, BETA1, "must be in [0, 1)", 'training', '--beta1', "Adam's beta1, in [0, 1).",
            'Training', Bounds(0, 1, high_open=True)),
    Setting('beta2', float, BETA2, "must be in [0, 1)", 'training', '--beta2', "Adam's beta2, in [0, 1).",
            'Training', Bounds(0, 1, high_open=True)),
    Setting('warmup', int, 0, "must be a whole number of steps from 0 to num_steps - 1 ({upper})", 'training',
            '--warmup', "Steps over which the learning rate rises linearly to --lr before the schedule starts.",
            'Schedule', Bounds(0, 'num_steps', high_open=True, whole=True), cli=Bounds(0, whole=True),
            zero_is_off=True, budget=dict(low=0, high=500)),  # a genome needs more steps than its warmup
    Setting('schedule', str, DEFAULT_SCHEDULE, f"must be one of {', '.join(SCHEDULES)}", 'training',
            '--schedule', "Learning rate after warmup: " + '; '.join(f"{k}: {v}" for k, v in SCHEDULES.items()) + '.',
            'Schedule', choices=tuple(SCHEDULES), budget=dict(choices=tuple(SCHEDULES))),
    Setting('batch_order', str, DEFAULT_BATCH_ORDER, f"must be one of {', '.join(BATCH_ORDERS)}", 'training',
            '--batch-order',
            "Which documents make a batch: " + '; '.join(f"{k}: {v}" for k, v in BATCH_ORDERS.items()) + '.',
            'Training', choices=tuple(BATCH_ORDERS), budget=dict(choices=tuple(BATCH_ORDERS)),
            listed_after='batch_size'),
    Setting('dropout', float, 0.0, SHARE_TEXT, 'training', '--dropout',
            "Dropout while training: drop this share of the attention weights and of each residual branch's "
            "output (mask streams of their own, fixed by --seed); evaluation and sampling drop nothing.",
            None, Bounds(0, 1, high_open=True), zero_is_off=True, budget=dict(low=0, high=0.3)),
    Setting('ema', float, None, "must be a decay in (0, 1)", 'training', '--ema',
            "Keep an exponential moving average of the weights with this decay (e.g. 0.999); evaluation, the "
            "best checkpoint and sampling use it; it is saved in the checkpoint.",
            None, Bounds(0, 1, low_open=True, high_open=True), optional=True,
            budget=dict(choices=(None, 0.99, 0.995, 0.999))),
    Setting('val_split', float, 0.0, SHARE_TEXT, 'watching', '--val-split',
            "Hold out this share of the documents (chosen by --seed, as evolve and sweep choose theirs); "
            "never trained on.", 'Evaluation', Bounds(0, 1, high_open=True),
            cli=Bounds(0, 1, low_open=True, high_open=True), zero_is_off=True),
    Setting('eval_every', int, None, "must be a whole number of steps from 1 to num_steps ({upper})", 'watching',
            '--eval-every',
            "Every N steps and at the end, the held-out loss (stderr); the best model is kept beside --out "
            "(run.ckpt.json -> run.best.ckpt.json). Needs --val-split.",
            'Evaluation', Bounds(1, 'num_steps', whole=True), optional=True, cli=COUNT),
    Setting('early_stop', int, None, WHOLE, 'watching', '--early-stop',
            "End training after K evaluations without a better held-out loss.", 'Evaluation', COUNT,
            optional=True),
)

ALL_SETTINGS = MODEL_SETTINGS + TRAINING_SETTINGS
BY_NAME = {setting.name: setting for setting in ALL_SETTINGS}
GENOME_SETTINGS = tuple(s for s in ALL_SETTINGS if s.gene)
WATCHING = tuple(s.name for s in ALL_SETTINGS if s.part == 'watching')
FLAGGED = tuple(s for s in ALL_SETTINGS if s.flag)


def in_order(settings, after):
    """The settings in declaration order, but each whose `after(setting)` names another comes
    right after that one."""
    placed = [s for s in settings if after(s) is None]
    for setting in settings:
        if after(setting) is not None:
            names = [s.name for s in placed]
            placed.insert(names.index(after(setting)) + 1 if after(setting) in names else len(placed), setting)
    return placed


def configured(settings, checked=True):
    """A class decorator: a frozen dataclass with a field per setting (after its own fields), at the
    declared defaults. With `checked`, construction checks each setting in order, then the class's
    own `check()` (rules across settings); the first problem is a SettingError."""
    def decorate(cls):
        annotations = dict(cls.__dict__.get('__annotations__', {}))
        for setting in settings:
            annotations[setting.name] = setting.type
            if setting.default is not REQUIRED:
                setattr(cls, setting.name, setting.default)
        cls.__annotations__ = annotations
        cls.DECLARED = tuple(settings)
        if checked:
            def __post_init__(self):
                for setting in settings:
                    problem = setting.problem(getattr(self, setting.name), self)
                    if problem is not None:
                        raise problem
                if hasattr(self, 'check'):
                    self.check()
            cls.__post_init__ = __post_init__
        return dataclass(frozen=True)(cls)
    return decorate
