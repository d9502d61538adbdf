"""What `microgpt train` will do, settled and checked before any work: `plan_job` settles the job
(seed, sampling, engine, paths; a resumed checkpoint or a genome file), `read_data` checks the
paths and reads the data, and `plan_settings` settles the settings once: the flags over the
genome's (or the checkpoint's), the split, the steps a budget buys, the memory and the time."""
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
class TrainJob:
    """What `microgpt train` was asked, apart from the settings (None: not given), which
    plan_job settles in place: a default or, resumed, the checkpoint's fills what was not given."""
    data: Optional[str] = None
    seed: Optional[int] = None
    genome_path: Optional[str] = None
    primordial: bool = False
    temperature: Optional[float] = None
    samples: Optional[int] = None
    engine: Optional[str] = None
    dtype: Optional[str] = None
    out: Optional[str] = None
    resume: Optional[str] = None
    plot: Optional[str] = None
    max_time: Optional[float] = None  # seconds
    budget: Optional[float] = None  # FLOPs: sets the number of steps
    new_samples: bool = False  # sample only names not in the data, none twice
    text_mode: bool = False  # the data is one stream of characters (microgpt/training/textmode.py)
    command: Optional[list] = None  # the arguments after `microgpt`
    # settled by plan_job and read_data
    resumed: Optional[ckpt.Checkpoint] = None
    genome_file: object = None
    dataset: object = None  # the Dataset or TextData

    def best_out(self, eval_every):
        """Where the best-so-far checkpoint goes: beside out (None: no evaluation)."""
        return None if eval_every is None else best_checkpoint_path(self.out)

    def recorded(self, name, new_value):
        """What the checkpoint records of `name`: a resumed run's own, else this new run's."""
        return new_value if self.resumed is None else self.resumed.training.get(name)


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

def plan_job(job, settings):
    """Check the job's own flags and settle them in place, with where its settings come from;
    the first problem is one MicrogptError. `settings` only for --steps against --budget."""
    check_dtype(job.engine or 'numpy', job.dtype)
    if job.new_samples and job.samples == 0:
        raise MicrogptError("--new-samples picks which samples to print, and --samples 0 prints none: drop one")
    if job.new_samples and job.text_mode:
        raise MicrogptError("--new-samples picks names not in the list; text mode writes one passage: drop one")
    if job.resume:
        if job.budget is not None:
            raise MicrogptError("--budget sets the steps of a new run; a resumed run keeps its own: drop --budget")
        t = _resume(job)
        defaults = dict(seed=t['seed'], temperature=t['temperature'], samples=t['samples'], out=job.resume)
    else:
        if job.budget is not None and settings.get('num_steps') is not None:
            raise MicrogptError("--budget sets the number of steps: drop --steps")
        job.genome_file = genome_in_use(job.genome_path, job.primordial)
        job.engine = job.engine or 'numpy'
        defaults = dict(seed=DEFAULT_SEED, temperature=DEFAULT_TEMPERATURE, samples=DEFAULT_NUM_SAMPLES,
                        out=ckpt.DEFAULT_CHECKPOINT)
    for name, default in defaults.items():
        if getattr(job, name) is None:
            setattr(job, name, default)


def _resume(job):
    """Settle a resumed run from its checkpoint: its data mode and arithmetic (a dtype or --text
    given must be the checkpoint's; another engine may take a float64 run on, as every engine
    prints the same numbers, but only numpy computes in float32). Returns its training record."""
    job.resumed = resumed = ckpt.load_checkpoint(job.resume)
    if resumed.weights_only:
        raise MicrogptError(f"{job.resume} is an exported folder: it holds weights only, not the optimizer "
                            f"state and training record that --resume needs")
    t = resumed.training
    if resumed.optimizer is None or 'num_steps' not in t:
        raise MicrogptError(f"checkpoint {job.resume} cannot be resumed: it holds no optimizer "
                            f"state (written by an older microgpt)")
    if t['steps_done'] >= t['num_steps']:
        raise MicrogptError(f"checkpoint {job.resume} is a finished run ({t['steps_done']} of "
                            f"{t['num_steps']} steps): nothing to resume")
    if t.get('stopped_early'):
        raise MicrogptError(f"checkpoint {job.resume} stopped early (no better held-out loss in "
                            f"{t['early_stop']} evaluations): nothing to resume")
    if job.genome_path or job.primordial:
        raise MicrogptError("--resume takes its settings from the checkpoint: drop --genome / --primordial")
    recorded_engine, recorded_dtype = t.get('engine', 'numpy'), t.get('dtype', DEFAULT_DTYPE)
    if job.dtype is not None and job.dtype != recorded_dtype:
        raise MicrogptError(f"dtype {job.dtype} (given on the command line) contradicts checkpoint "
                            f"{job.resume}, which has dtype {recorded_dtype}")
    job.engine = job.engine or recorded_engine
    if recorded_dtype != DEFAULT_DTYPE and job.engine != 'numpy':
        raise MicrogptError(f"engine {job.engine} (given on the command line) contradicts checkpoint "
                            f"{job.resume}, which computes in {recorded_dtype} on the numpy engine")
    job.dtype = None if recorded_dtype == DEFAULT_DTYPE else recorded_dtype
    if job.text_mode and not resumed.text_mode:
        raise MicrogptError(f"--text contradicts checkpoint {job.resume}, which was trained on a list "
                            f"(one document per line): drop --text")
    if job.new_samples and resumed.text_mode:
        raise MicrogptError(f"--new-samples picks names not in the list; checkpoint {job.resume} was "
                            f"trained in text mode: drop --new-samples")
    job.text_mode = resumed.text_mode
    return t


def read_data(job, eval_every, console):
    """Every path the job writes checked against those it reads, then the data read (a resumed
    run's must be the data it trained on): all before the first step."""
    check_temperature(job.temperature)
    check_horizon(f"sampling {describe_count(job.samples)} names", fastest_seconds(job.samples),
                  "choose fewer --samples")
    check_outputs([Output('--out', job.out, 'checkpoint', updates='--resume'),
                   Output("--out's best checkpoint", lambda: job.best_out(eval_every), 'best checkpoint'),
                   Output('--plot', job.plot, 'plot')],
                  [data_read(job.data), ('--genome', job.genome_path), ('--resume', job.resume),
                   DEFAULT_GENOME_READ])
    if job.plot:
        from ..plots import check_plot_path
        check_plot_path(job.plot)
    job.dataset = data = (load_text if job.text_mode else load_dataset)(job.data, echo=console.info)
    if job.resumed is not None:
        recorded = job.resumed.training.get('data_sha256')
        if data.sha256 != recorded:
            raise MicrogptError(f"{data.path} is not the data checkpoint {job.resume} was trained on (SHA-256 "
                                f"{data.sha256[:12]}..., the checkpoint's {str(recorded)[:12]}...)")


# --- the settings --------------------------------------------------------------------------

def plan_settings(settings, job):
    """The settings the run trains with (the flags over the genome's, or the resumed
    checkpoint's), the data's split they decide, and the checks of memory and time."""
    plan = _new_plan(settings, job) if job.resumed is None else _resumed_plan(settings, job)
    _check_time(job, plan)
    return plan


def _resumed_plan(settings, job):
    """The checkpoint's model and training settings (a setting given must be the same)."""
    config, t = job.resumed.config, job.resumed.training
    try:
        train = TrainConfig.from_dict(t)
    except MicrogptError as e:
        raise MicrogptError(f"checkpoint {job.resume} is corrupt: {e}") from None
    have = dict(config.to_dict(), **train.to_dict(), seed=t['seed'])
    for name, value in dict(settings, seed=job.seed).items():
        if value is not None and value != have[name]:
            raise MicrogptError(f"{name} {value} (given on the command line) contradicts checkpoint "
                                f"{job.resume}, which has {name} {have[name]}")
    plan = _split({name: getattr(config, name) for name in ARCH_FIELDS}, train.batch_size, train.val_split, job)
    plan.train, plan.voice = train, f"I wake: resuming at step {t['steps_done'] + 1} of {t['num_steps']}"
    return plan


def _new_plan(settings, job):
    """A new run's settings: a genome's from the flags, else the genome file's (the steps a
    budget buys, as if given), the others (how the run is watched) from the flags alone; and the
    line naming the genome, and the voice."""
    flags = {name: settings.get(name) for name in SETTINGS}
    watching = {name: value for name, value in given(settings).items() if name not in SETTINGS}
    genome = (PRIMORDIAL if job.genome_file is None else job.genome_file.genome).with_settings(**given(flags))
    try:  # the model first: the split and the budget need it
        genome.model_config()
    except SettingError as e:
        raise MicrogptError(_with_the_flag(e, job, flags, watching)) from None
    plan = _split(genome.arch(), genome.batch_size, watching.get('val_split') or 0.0, job)
    if job.budget is not None:
        from ..compute.flops import lengths_of, mean_step_flops, steps_for_budget
        config = genome.model_config(vocab_size=vocabulary_size(job, plan, training_only=True))
        lengths = lengths_of(plan.train_docs, config)
        flags['num_steps'] = steps_for_budget(config, genome.batch_size, job.budget, lengths, genome.dropout)
        plan.budget_flops_per_step = mean_step_flops(config, genome.batch_size, lengths, genome.dropout).total
    differ = {name: value for name, value in watching.items() if value != getattr(TRAIN_DEFAULTS, name)}
    if job.dtype not in (None, DEFAULT_DTYPE):
        differ['dtype'] = job.dtype
    settled, genome_line = settle_train_settings(flags, job.genome_file, job.primordial, differ)
    genome, genome_file = Genome.from_settings(settled), job.genome_file
    try:
        plan.train = genome.train_config(**watching)
    except SettingError as e:
        raise MicrogptError(_with_the_flag(e, job, flags, watching)) from None
    if genome_file is None:  # the line is the voice's reason
        plan.voice = voice_unformed(genome.shown(), genome_line)
        return plan
    p = genome_file.provenance
    reshaped = {name: getattr(genome, name) for name in ARCH_FIELDS
                if getattr(genome, name) != getattr(genome_file.genome, name)}
    plan.genome_line = genome_line
    plan.voice = (voice_variant(genome.shown(), genome_file.label(), reshaped) if reshaped
                  else voice_become(genome.shown(), p.get('fitness'), p.get('score')))
    return plan


def _split(arch, batch_size, val_split, job):
    """The data's split (the held-out share by the seed; in text mode, the tail) and the check
    that a batch of this model fits in memory."""
    data, text_split = job.dataset, None
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


def _check_time(job, plan):
    """The steps still to train, refused when even the fastest engine would take longer than
    microgpt's horizon (limits.py). A run bounded by --max-time stops by itself, unless its
    steps come from a --budget: a budget asks for its FLOPs whatever the time."""
    if job.max_time is not None and job.budget is None:
        return
    from ..compute.flops import lengths_of, mean_step_flops
    cfg = plan.train
    steps = cfg.num_steps - job.recorded('steps_done', 0)
    config = GPTConfig(vocab_size=vocabulary_size(job, plan, training_only=True), **plan.arch)
    per_step = plan.budget_flops_per_step or mean_step_flops(
        config, cfg.batch_size, lengths_of(plan.train_docs, config), cfg.dropout).total
    fix = ("choose a smaller --budget" if job.budget is not None else
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
    return len(set(''.join(plan.train_docs if training_only else job.dataset.docs))) + 1
