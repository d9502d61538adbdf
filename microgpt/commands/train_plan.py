"""What `microgpt train` will do, settled and checked before any work, in two parts:

- `plan_job`: the job apart from its settings: where the settings come from (the resumed
  checkpoint, a genome file or none), its seed, sampling, engine and paths; `read_data` then
  checks every path and reads the data.
- `plan_settings`: the settings, once the data is read: the flags over the genome's (or,
  resumed, the checkpoint's), the data's split, the steps a budget buys, the memory and the
  time. A run is planned once: the settings go from the flags to a TrainPlan in this one call.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from ..compute.limits import check_horizon, describe_count, fastest_seconds
from ..console import voice_become, voice_unformed, voice_variant
from ..data import held_out_split, load_dataset, load_text
from ..errors import MicrogptError
from ..files import checkpoint as ckpt
from ..files.outputs import Output, check_outputs
from ..gpt.engines import DEFAULT_DTYPE, check_dtype
from ..gpt.model import GPTConfig
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, check_temperature
from ..gpt.settings import SettingError
from ..training.genome import PRIMORDIAL, SETTINGS, Genome, genome_in_use, settle_train_settings
from ..training.run import ARCH_FIELDS, DEFAULT_SEED, TRAIN_DEFAULTS, TrainConfig, check_memory, data_bytes
from ..training.textmode import TextSplit
from .options import DEFAULT_GENOME_READ, SETTING_FLAGS, data_read


@dataclass
class TrainRequest:
    """What `microgpt train` was asked, apart from the settings; None means "not given" (a
    default or, with resume, the checkpoint's applies)."""
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
    text: bool = False  # text mode: the data is one stream of characters (microgpt/training/textmode.py)
    command: Optional[list] = None  # the arguments after `microgpt`


@dataclass
class TrainJob:
    """The job apart from its settings, settled: where they come from (`resumed` or
    `genome_file`), the run's seed, sampling, arithmetic and output, and the data once read."""
    seed: int
    temperature: float
    samples: int
    out: str
    engine: str = 'numpy'
    dtype: Optional[str] = None
    text_mode: bool = False  # the data is one stream of characters (--text, or the resumed run's)
    resumed: Optional[ckpt.Checkpoint] = None
    genome_file: object = None
    genome_path: Optional[str] = None  # recorded in the checkpoint
    data: object = None  # the Dataset or TextData, once read

    def best_out(self, eval_every):
        """Where the best-so-far checkpoint goes: beside out (None: no evaluation)."""
        return None if eval_every is None else best_checkpoint_path(self.out)


@dataclass
class TrainPlan:
    """The settings a run trains with, settled once its data is read, and what they decide:
    the data's split and, under a budget, the steps and the mean step's FLOPs."""
    arch: dict
    train: Optional[TrainConfig]  # None until settled
    train_docs: list
    held_out: list
    text_split: object = None  # in text mode: the textmode.TextSplit
    voice: Optional[str] = None
    genome_line: Optional[str] = None
    budget_flops_per_step: Optional[float] = None

    @property
    def val_split(self):
        return self.train.val_split or 0.0


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


# --- the job -------------------------------------------------------------------------------

def plan_job(request, settings):
    """The job's own flags checked, and where its settings come from; the first problem is one
    MicrogptError. `settings` ({setting: value or None}) only for the flags that exclude each other."""
    check_dtype(request.engine or 'numpy', request.dtype)
    if request.new_samples and request.samples == 0:
        raise MicrogptError("--new-samples picks which samples to print, and --samples 0 prints none: drop one")
    if request.new_samples and request.text:
        raise MicrogptError("--new-samples picks names not in the list; text mode writes one passage: drop one")
    if request.resume:
        if request.budget is not None:
            raise MicrogptError("--budget sets the steps of a new run; a resumed run keeps its own: drop --budget")
        return _resumed_job(request)
    if request.budget is not None and settings.get('num_steps') is not None:
        raise MicrogptError("--budget sets the number of steps: drop --steps")
    genome_file = genome_in_use(request.genome_path, request.primordial)
    return TrainJob(
        seed=DEFAULT_SEED if request.seed is None else request.seed,
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        samples=DEFAULT_NUM_SAMPLES if request.samples is None else request.samples,
        out=ckpt.DEFAULT_CHECKPOINT if request.out is None else request.out,
        engine=request.engine or 'numpy', dtype=request.dtype, text_mode=request.text, genome_file=genome_file,
        genome_path=None if genome_file is None else str(genome_file.path))


def _resumed_job(request):
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
    engine, dtype = _resumed_arithmetic(request, t)
    return TrainJob(
        seed=t['seed'], text_mode=text_mode_of_resumed(request, resumed),
        temperature=t['temperature'] if request.temperature is None else request.temperature,
        samples=t['samples'] if request.samples is None else request.samples,
        out=request.resume if request.out is None else request.out,
        genome_path=t.get('genome'), resumed=resumed, engine=engine, dtype=dtype)


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


def read_data(request, job, eval_every, console):
    """Every path the job writes checked against those it reads, then the data read (a resumed
    run's must be the data it trained on): all before the first step."""
    check_temperature(job.temperature)
    if request.max_time is not None and not request.max_time > 0:
        raise MicrogptError(f"max_time must be > 0 seconds, got {request.max_time}")
    check_horizon(f"sampling {describe_count(job.samples)} names", fastest_seconds(job.samples),
                  "choose fewer --samples")
    check_outputs([Output('--out', job.out, 'checkpoint', updates='--resume'),
                   Output("--out's best checkpoint", lambda: job.best_out(eval_every), 'best checkpoint'),
                   Output('--plot', request.plot, 'plot')],
                  [data_read(request.data), ('--genome', request.genome_path), ('--resume', request.resume),
                   DEFAULT_GENOME_READ])
    if request.plot:
        from ..plots import check_plot_path
        check_plot_path(request.plot)
    job.data = data = (load_text if job.text_mode else load_dataset)(request.data, echo=console.info)
    if job.resumed is not None:
        digest = data.sha256
        if digest != job.resumed.training.get('data_sha256'):
            raise MicrogptError(f"{data.path} is not the data checkpoint {request.resume} was trained "
                                f"on (SHA-256 {digest[:12]}..., the checkpoint's "
                                f"{str(job.resumed.training.get('data_sha256'))[:12]}...)")
    return data


# --- the settings --------------------------------------------------------------------------

def plan_settings(settings, request, job):
    """The settings the run trains with (the flags over the genome's, or the resumed
    checkpoint's), the data's split they decide, and the checks of memory and time."""
    if job.resumed is not None:
        arch, train = _resumed_settings(settings, request, job.resumed)
        plan = _split(arch, train.batch_size, train.val_split, job)
        plan.train = train
        plan.voice = (f"I wake: resuming at step {job.resumed.training['steps_done'] + 1} of "
                      f"{job.resumed.training['num_steps']}")
    else:
        plan = _new_settings(settings, request, job)
    _check_time(request, job, plan)
    return plan


def _resumed_settings(settings, request, resumed):
    """The checkpoint's model and training settings; a setting given must be the same."""
    config, t = resumed.config, resumed.training
    try:
        train = TrainConfig.from_dict(t)
    except MicrogptError as e:
        raise MicrogptError(f"checkpoint {request.resume} is corrupt: {e}") from None
    have = dict(config.to_dict(), **train.to_dict(), seed=t['seed'])
    for name, value in dict(settings, seed=request.seed).items():
        if value is not None and value != have[name]:
            raise MicrogptError(f"{name} {value} (given on the command line) contradicts checkpoint "
                                f"{request.resume}, which has {name} {have[name]}")
    return {name: getattr(config, name) for name in ARCH_FIELDS}, train


def _new_settings(settings, request, job):
    """A new run's settings: a genome's from the flags, else the genome file's (the steps a
    budget buys, as if given), the others (how the run is watched) from the flags alone."""
    flags = {name: settings.get(name) for name in SETTINGS}
    watching = {name: value for name, value in given(settings).items() if name not in SETTINGS}
    genome = (PRIMORDIAL if job.genome_file is None else job.genome_file.genome).with_settings(**given(flags))
    try:  # the model first: the split and the budget need it
        genome.model_config()
    except SettingError as e:
        raise MicrogptError(_with_the_flag(e, job, flags, watching)) from None
    plan = _split(genome.arch(), genome.batch_size, watching.get('val_split') or 0.0, job)
    if request.budget is not None:
        flags['num_steps'], plan.budget_flops_per_step = _budget_steps(genome, request.budget, plan, job)
    plan.train, plan.genome_line, plan.voice = _settle(flags, watching, request, job)
    return plan


def _split(arch, batch_size, val_split, job):
    """The data's split (the held-out share by the seed; in text mode, the tail) and the check
    that a batch of this model fits in memory."""
    data, text_split = job.data, None
    if job.text_mode:
        text_split = TextSplit.of(data, arch['block_size'], val_split)
        train_docs, held_out = [text_split.train], [text_split.held_out] if text_split.held_out else []
    elif val_split:
        train_docs, held_out = held_out_split(data.docs, job.seed, val_split)
    else:
        train_docs, held_out = data.docs, []
    plan = TrainPlan(arch, None, train_docs, held_out, text_split)
    check_memory(arch, job.engine, vocab_size=vocabulary_size(job, plan), batch_size=batch_size,
                 data=data_bytes([data.text] if job.text_mode else data.docs))
    return plan


def _budget_steps(genome, budget, plan, job):
    """(steps, the mean step's FLOPs) a FLOPs budget buys (microgpt.compute.flops: the mean step over
    the training documents)."""
    from ..compute.flops import lengths_of, mean_step_flops, steps_for_budget
    config = genome.model_config(vocab_size=vocabulary_size(job, plan, training_only=True))
    lengths = lengths_of(plan.train_docs, config)
    steps = steps_for_budget(config, genome.batch_size, budget, lengths, genome.dropout)
    return steps, mean_step_flops(config, genome.batch_size, lengths, genome.dropout).total


def _settle(flags, watching, request, job):
    """(TrainConfig, the genome line, the voice) of the flags over the genome file."""
    differ = {name: value for name, value in watching.items() if value != getattr(TRAIN_DEFAULTS, name)}
    if request.dtype not in (None, DEFAULT_DTYPE):
        differ['dtype'] = request.dtype
    genome_file = job.genome_file
    settled, genome_line = settle_train_settings(flags, genome_file, request.primordial, differ)
    genome = Genome.from_settings(settled)
    try:
        train = genome.train_config(**watching)
    except SettingError as e:
        raise MicrogptError(_with_the_flag(e, job, flags, watching)) from None
    if genome_file is None:
        return train, None, voice_unformed(genome.shown(), genome_line)
    p = genome_file.provenance
    reshaped = {name: getattr(genome, name) for name in ARCH_FIELDS
                if getattr(genome, name) != getattr(genome_file.genome, name)}
    voice = (voice_variant(genome.shown(), genome_file.label(), reshaped) if reshaped
             else voice_become(genome.shown(), p.get('fitness'), p.get('score')))
    return train, genome_line, voice


def _with_the_flag(error, job, flags, settings):
    """A settings error, with where the setting came from and the flag that sets it."""
    name = error.setting
    if name not in SETTING_FLAGS:
        return str(error)
    # a genome's setting is in flags; a setting no genome holds (eval_every) is in the settings
    value = flags.get(name) if name in flags else settings.get(name)
    origin = (f"{name} is genome {job.genome_file.path}'s"
              if job.genome_file is not None and name in flags and value is None
              else f"{name} is {'the default' if value is None else 'given'}")
    return f"{error} ({origin}: set it with {SETTING_FLAGS[name]})"


def _check_time(request, job, plan):
    """The steps still to train, refused when even the fastest engine would take longer than
    microgpt's horizon (limits.py). A run bounded by --max-time stops by itself, unless its
    steps come from a --budget: a budget asks for its FLOPs whatever the time."""
    from ..compute.flops import lengths_of, mean_step_flops
    if request.max_time is not None and request.budget is None:
        return
    cfg = plan.train
    steps = cfg.num_steps - (0 if job.resumed is None else job.resumed.training['steps_done'])
    config = GPTConfig(vocab_size=vocabulary_size(job, plan, training_only=True), **plan.arch)
    per_step = plan.budget_flops_per_step or mean_step_flops(
        config, cfg.batch_size, lengths_of(plan.train_docs, config), cfg.dropout).total
    fix = ("choose a smaller --budget" if request.budget is not None else
           "choose fewer --steps" + (" or a smaller --batch-size" if cfg.batch_size > 1 else '') +
           ", or bound the run with --max-time")
    flops = steps * round(per_step)  # whole numbers: exact however many steps
    check_horizon(f"training {describe_count(steps)} steps ({describe_count(flops)} FLOPs)",
                  fastest_seconds(steps, flops), fix)


def vocabulary_size(job, plan, training_only=False):
    """The model's vocabulary size for the data read: in text mode the whole file's characters
    and BOS; else the documents' (with training_only, the training documents')."""
    if job.text_mode:
        return len(plan.text_split.chars) + 1
    return len(set(''.join(plan.train_docs if training_only else job.data.docs))) + 1
