"""What `microgpt train` will do, settled and checked before any work (commands/train.py
calls plan_training, then check_plan_io): the settings from the flags, the genome or the
checkpoint resumed; the paths, the data, its split, the memory and the time.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .. import checkpoint as ckpt
from ..console import voice_become, voice_unformed, voice_variant
from ..data import held_out_split, load_dataset, load_text
from ..engines import DEFAULT_DTYPE, check_dtype
from ..errors import MicrogptError
from ..genome import PRIMORDIAL, SETTINGS, Genome, genome_in_use, settle_train_settings
from ..limits import check_horizon, describe_count, fastest_seconds
from ..model import GPTConfig
from ..outputs import Output, check_outputs
from ..sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, check_temperature
from ..settings import WATCHING, SettingError
from ..textmode import TextSplit
from ..training import ARCH_FIELDS, DEFAULT_SEED, TRAIN_DEFAULTS, TrainConfig, check_memory, data_bytes
from .options import DEFAULT_GENOME_READ, data_read



@dataclass
class TrainRequest:
    """What `microgpt train` was asked; None means "not given" (a default, a genome's gene,
    or, with resume, the checkpoint's setting applies)."""
    genes: dict = field(default_factory=dict)  # gene name -> value or None
    options: dict = field(default_factory=dict)  # other TrainConfig field -> value or None
    data: Optional[str] = None
    seed: Optional[int] = None
    genome_path: Optional[str] = None
    primordial: bool = False
    temperature: Optional[float] = None
    samples: Optional[int] = None
    engine: Optional[str] = 'numpy'  # None: not given (numpy; with resume, the checkpoint's)
    dtype: Optional[str] = None
    out: Optional[str] = None
    resume: Optional[str] = None
    plot: Optional[str] = None
    max_time: Optional[float] = None  # seconds
    budget: Optional[float] = None  # FLOPs: sets the number of steps
    new_samples: bool = False  # sample only names not in the data, none twice
    text: bool = False  # text mode: the data is one stream of characters (microgpt/textmode.py)
    command: Optional[list] = None  # the arguments after `microgpt`
    flags: dict = field(default_factory=dict)  # setting -> the command-line flag that sets it (for messages)


@dataclass
class TrainPlan:
    """Everything a training run needs, settled before any work starts (under a budget, the
    training settings once the data is read and the steps known: plan_budget)."""
    arch: dict
    train: Optional[TrainConfig]
    seed: int
    temperature: float
    samples: int
    out: str
    voice: Optional[str] = None
    genome_line: Optional[str] = None
    genome_path: Optional[str] = None
    resumed: Optional[ckpt.Checkpoint] = None
    watching: dict = field(default_factory=dict)  # the settings no genome holds (val_split, ...)
    genome: Optional[Genome] = None  # a new run's settings (the flags over the genome_file's)
    flags: dict = field(default_factory=dict)
    genome_file: object = None
    data: object = None  # the Dataset, once read
    train_docs: list = None  # its documents trained on, and those held out
    held_out: list = None
    budget_flops_per_step: Optional[float] = None  # with a budget: the mean step's FLOPs
    text_mode: bool = False  # the data is one stream of characters (--text, or the resumed run's)
    text_split: object = None  # in text mode, once read: the textmode.TextSplit
    engine: str = 'numpy'  # the engine and dtype it computes in (a resumed run: its checkpoint's)
    dtype: Optional[str] = None

    @property
    def val_split(self):
        return self.watching.get('val_split') or 0.0

    @property
    def best_out(self):
        """Where the best-so-far checkpoint goes: beside out (None: no evaluation)."""
        return None if self.watching.get('eval_every') is None else best_checkpoint_path(self.out)


def best_checkpoint_path(out):
    """run.ckpt.json -> run.best.ckpt.json (run.json -> run.best.json; run -> run.best)."""
    out = Path(out)
    name = out.name
    for suffix in ('.ckpt.json', '.json'):
        if name.endswith(suffix) and len(name) > len(suffix):
            return out.with_name(name[:-len(suffix)] + '.best' + suffix)
    return out.with_name(name + '.best')


def given(options):
    return {name: value for name, value in options.items() if value is not None}


def plan_training(request):
    """Check every setting, path and the data; the first problem is one MicrogptError. With a
    budget, the steps are known only once the data is read: plan_budget settles the training."""
    check_dtype(request.engine or 'numpy', request.dtype)
    if request.new_samples and request.samples == 0:
        raise MicrogptError("--new-samples picks which samples to print, and --samples 0 prints none: drop one")
    if request.new_samples and request.text:
        raise MicrogptError("--new-samples picks names not in the list; text mode writes one passage: drop one")
    if request.resume:
        if request.budget is not None:
            raise MicrogptError("--budget sets the steps of a new run; a resumed run keeps its own: drop --budget")
        return _plan_resume(request)
    if request.budget is not None and request.genes.get('num_steps') is not None:
        raise MicrogptError("--budget sets the number of steps: drop --steps")
    plan = _plan_new(request)
    plan.text_mode = request.text
    if request.budget is None:
        _settle_training(request, plan)
    return plan


def _plan_new(request):
    # the settings a genome holds come from the flags, else the genome; the others (how the
    # run is watched) from the flags alone
    flags = dict(request.genes, **{name: request.options.get(name) for name in SETTINGS
                                   if name not in request.genes})
    watching = {name: value for name, value in given(request.options).items() if name not in SETTINGS}
    genome_file = genome_in_use(request.genome_path, request.primordial)
    # the flags over the genome; the steps may still change (a budget's), and with them a warmup
    genome = (PRIMORDIAL if genome_file is None else genome_file.genome).with_settings(**given(flags))
    plan = TrainPlan(
        arch=genome.arch(), train=None, genome=genome,
        seed=DEFAULT_SEED if request.seed is None else request.seed,
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        samples=DEFAULT_NUM_SAMPLES if request.samples is None else request.samples,
        out=ckpt.DEFAULT_CHECKPOINT if request.out is None else request.out,
        genome_path=None if genome_file is None else str(genome_file.path), watching=watching,
        flags=flags, genome_file=genome_file, engine=request.engine or 'numpy', dtype=request.dtype)
    if request.budget is not None:
        try:  # the training settings wait for the steps the budget buys; the model's are checked now
            genome.model_config()
        except SettingError as e:
            raise MicrogptError(_with_the_flag(e, request, plan)) from None
    return plan


def _settle_training(request, plan, num_steps=None):
    """The plan's genome, TrainConfig and the lines that say them, once the steps are known
    (with a budget: those it buys, as if given on the command line)."""
    flags = plan.flags if num_steps is None else dict(plan.flags, num_steps=num_steps)
    differ = {name: value for name, value in plan.watching.items() if value != getattr(TRAIN_DEFAULTS, name)}
    if request.dtype not in (None, DEFAULT_DTYPE):
        differ['dtype'] = request.dtype
    genome_file = plan.genome_file
    settings, genome_line = settle_train_settings(flags, genome_file, request.primordial, differ)
    plan.genome = genome = Genome.from_settings(settings)
    try:
        plan.train = genome.train_config(**plan.watching)
        genome.model_config()
    except SettingError as e:
        raise MicrogptError(_with_the_flag(e, request, plan)) from None
    if genome_file is None:
        plan.voice = voice_unformed(genome.shown(), genome_line)
    else:
        p = genome_file.provenance
        reshaped = {name: plan.arch[name] for name in ARCH_FIELDS
                    if plan.arch[name] != getattr(genome_file.genome, name)}
        plan.genome_line = genome_line
        plan.voice = (voice_variant(genome.shown(), genome_file.label(), reshaped) if reshaped
                      else voice_become(genome.shown(), p.get('fitness'), p.get('score')))


def _with_the_flag(error, request, plan):
    """A settings error, with where the setting came from and the flag that sets it."""
    name = error.setting
    if name not in request.flags:
        return str(error)
    # a genome's setting is in plan.flags; a setting no genome holds (eval_every) is in the options
    value = plan.flags.get(name) if name in plan.flags else request.options.get(name)
    origin = (f"{name} is genome {plan.genome_file.path}'s"
              if plan.genome_file is not None and name in plan.flags and value is None
              else f"{name} is {'the default' if value is None else 'given'}")
    return f"{error} ({origin}: set it with {request.flags[name]})"


def checkpoint_train_config(training):
    """The TrainConfig a checkpoint's run was trained with (fields it lacks: the defaults,
    which is what older microgpt trained with)."""
    return TrainConfig.from_dict(training)


def _plan_resume(request):
    resumed = ckpt.load_checkpoint(request.resume)
    if resumed.weights_only:
        raise MicrogptError(f"{request.resume} is an exported folder: it holds weights only, not the optimizer "
                            f"state and training record that --resume needs")
    t = resumed.training
    if resumed.optimizer is None or 'num_steps' not in t:
        raise MicrogptError(f"checkpoint {request.resume} cannot be resumed: it holds no optimizer "
                            f"state (written by an older microgpt)")
    if t['steps_done'] >= t['num_steps']:
        raise MicrogptError(f"checkpoint {request.resume} is a finished run ({t['steps_done']} of "
                            f"{t['num_steps']} steps): nothing to resume")
    if t.get('stopped_early'):
        raise MicrogptError(f"checkpoint {request.resume} stopped early (no better held-out loss in "
                            f"{t['early_stop']} evaluations): nothing to resume")
    if request.genome_path or request.primordial:
        raise MicrogptError("--resume takes its settings from the checkpoint: drop --genome / --primordial")
    config = resumed.config
    try:
        train = checkpoint_train_config(t)
    except MicrogptError as e:
        raise MicrogptError(f"checkpoint {request.resume} is corrupt: {e}") from None
    engine, dtype = _resumed_arithmetic(request, t)
    have = dict(config.to_dict(), **train.to_dict(), seed=t['seed'])
    asked = dict(request.genes, **request.options, seed=request.seed)
    for name, value in asked.items():
        if value is not None and value != have[name]:
            raise MicrogptError(f"{name} {value} (given on the command line) contradicts checkpoint "
                                f"{request.resume}, which has {name} {have[name]}")
    text_mode = text_mode_of_resumed(request, resumed)
    arch = {name: getattr(config, name) for name in ARCH_FIELDS}
    return TrainPlan(
        arch=arch, train=train, seed=t['seed'], text_mode=text_mode,
        temperature=t['temperature'] if request.temperature is None else request.temperature,
        samples=t['samples'] if request.samples is None else request.samples,
        out=request.resume if request.out is None else request.out,
        voice=f"I wake: resuming at step {t['steps_done'] + 1} of {t['num_steps']}",
        genome_path=t.get('genome'), resumed=resumed,
        watching={name: getattr(train, name) for name in WATCHING}, engine=engine, dtype=dtype)


def _resumed_arithmetic(request, training):
    """(engine, dtype) a resumed run computes in: its checkpoint's. A dtype given on the
    command line must be the checkpoint's; another engine may take a float64 run on (every
    engine prints the same numbers), but only numpy computes in float32."""
    recorded_engine, recorded_dtype = training.get('engine', 'numpy'), training.get('dtype', DEFAULT_DTYPE)
    if request.dtype is not None and request.dtype != recorded_dtype:
        raise MicrogptError(f"dtype {request.dtype} (given on the command line) contradicts checkpoint "
                            f"{request.resume}, which has dtype {recorded_dtype}")
    engine = request.engine or recorded_engine
    if recorded_dtype != DEFAULT_DTYPE and engine != 'numpy':
        raise MicrogptError(f"engine {engine} (given on the command line) contradicts checkpoint {request.resume}, "
                            f"which computes in {recorded_dtype} on the numpy engine")
    return engine, None if recorded_dtype == DEFAULT_DTYPE else recorded_dtype


def check_plan_io(request, plan, console):
    """Output paths, the plot, the data, its split and memory: all before the first step."""
    check_temperature(plan.temperature)
    if request.max_time is not None and not request.max_time > 0:
        raise MicrogptError(f"max_time must be > 0 seconds, got {request.max_time}")
    check_horizon(f"sampling {describe_count(plan.samples)} names", fastest_seconds(plan.samples),
                  "choose fewer --samples")
    check_outputs([Output('--out', plan.out, 'checkpoint', updates='--resume'),
                   Output("--out's best checkpoint", lambda: plan.best_out, 'best checkpoint'),
                   Output('--plot', request.plot, 'plot')],
                  [data_read(request.data), ('--genome', request.genome_path), ('--resume', request.resume),
                   DEFAULT_GENOME_READ])
    if request.plot:
        from ..plots import check_plot_path
        check_plot_path(request.plot)
    plan.data = data = (load_text if plan.text_mode else load_dataset)(request.data, echo=console.info)
    if plan.resumed is not None:
        digest = data.sha256
        if digest != plan.resumed.training.get('data_sha256'):
            raise MicrogptError(f"{data.path} is not the data checkpoint {request.resume} was trained "
                                f"on (SHA-256 {digest[:12]}..., the checkpoint's "
                                f"{str(plan.resumed.training.get('data_sha256'))[:12]}...)")
    if plan.text_mode:
        plan.text_split = split = TextSplit.of(data, plan.arch['block_size'], plan.val_split)
        plan.train_docs, plan.held_out = [split.train], [split.held_out] if split.held_out else []
    elif plan.val_split:
        plan.train_docs, plan.held_out = held_out_split(data.docs, plan.seed, plan.val_split)
    else:
        plan.train_docs, plan.held_out = data.docs, []
    batch_size = (plan.genome if plan.train is None else plan.train).batch_size
    check_memory(plan.arch, plan.engine, vocab_size=vocabulary_size(plan), batch_size=batch_size,
                 data=data_bytes([data.text] if plan.text_mode else data.docs))
    if request.budget is not None:
        plan_budget(request, plan)
    check_training_time(request, plan)


def check_training_time(request, plan):
    """The steps still to train, refused when even the fastest engine would take longer than
    microgpt's horizon (limits.py). A run bounded by --max-time stops by itself, unless its
    steps come from a --budget: a budget asks for its FLOPs whatever the time."""
    from ..flops import lengths_of, mean_step_flops
    if request.max_time is not None and request.budget is None:
        return
    cfg = plan.train
    steps = cfg.num_steps - (0 if plan.resumed is None else plan.resumed.training['steps_done'])
    config = GPTConfig(vocab_size=vocabulary_size(plan, training_only=True), **plan.arch)
    per_step = plan.budget_flops_per_step or mean_step_flops(
        config, cfg.batch_size, lengths_of(plan.train_docs, config), cfg.dropout).total
    fix = ("choose a smaller --budget" if request.budget is not None else
           "choose fewer --steps" + (" or a smaller --batch-size" if cfg.batch_size > 1 else '') +
           ", or bound the run with --max-time")
    flops = steps * round(per_step)  # whole numbers: exact however many steps
    check_horizon(f"training {describe_count(steps)} steps ({describe_count(flops)} FLOPs)",
                  fastest_seconds(steps, flops), fix)


def plan_budget(request, plan):
    """The steps a FLOPs budget buys (microgpt.flops: the mean step over the training
    documents), and the training settled with them."""
    from ..flops import lengths_of, mean_step_flops, steps_for_budget
    config = plan.genome.model_config(vocab_size=vocabulary_size(plan, training_only=True))
    lengths = lengths_of(plan.train_docs, config)
    batch_size, dropout = plan.genome.batch_size, plan.genome.dropout
    _settle_training(request, plan, steps_for_budget(config, batch_size, request.budget, lengths, dropout))
    plan.budget_flops_per_step = mean_step_flops(config, batch_size, lengths, dropout).total


def text_mode_of_resumed(request, resumed):
    """A resumed run keeps the data mode its checkpoint records; --text must agree with it."""
    text_mode = resumed.text_mode
    if request.text and not text_mode:
        raise MicrogptError(f"--text contradicts checkpoint {request.resume}, which was trained on a list "
                            f"(one document per line): drop --text")
    if request.new_samples and text_mode:
        raise MicrogptError(f"--new-samples picks names not in the list; checkpoint {request.resume} was "
                            f"trained in text mode: drop --new-samples")
    return text_mode


def vocabulary_size(plan, training_only=False):
    """The model's vocabulary size for the data read: in text mode the whole file's characters
    and BOS; else the documents' (with training_only, the training documents')."""
    if plan.text_mode:
        return len(plan.text_split.chars) + 1
    return len(set(''.join(plan.train_docs if training_only else plan.data.docs))) + 1
