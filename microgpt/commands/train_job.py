"""The work behind `microgpt train` (commands/train.py): check everything that can be
checked, then do the work, print through the Console, and keep what was done however the
job ends.
"""
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Optional

from .. import checkpoint as ckpt
from ..console import (INFERENCE_HEADER, Ticker, budget_line, eval_line, header_lines, novelty_line, step_line,
                      voice_become, voice_unformed, voice_variant)
from ..data import held_out_split, load_dataset, load_text
from ..engines import DEFAULT_DTYPE, check_dtype
from ..errors import MicrogptError
from ..genome import PRIMORDIAL, SETTINGS, Genome, genome_in_use, settle_train_settings
from ..limits import check_horizon, describe_count, fastest_seconds
from ..model import GPTConfig
from ..outputs import Output, check_outputs
from ..sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, DEFAULT_TEXT_CHARS, check_temperature, generate, novelty
from ..settings import WATCHING, SettingError
from ..signals import JobInterrupted, StopRequests, exit_status
from ..textmode import TextRun, TextSplit, text_baselines
from ..training import ARCH_FIELDS, DEFAULT_SEED, TRAIN_DEFAULTS, Run, TrainConfig, check_memory, data_bytes
from .options import DEFAULT_GENOME_READ, data_read
from .sample import baselines_line, held_out_baselines_line, print_samples


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
    microgpt's horizon (limits.py); a run bounded by --max-time stops by itself."""
    from ..flops import lengths_of, mean_step_flops
    if request.max_time is not None:
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


def train_job(request, console):
    """`microgpt train`: the original's lines on stdout; a checkpoint however it ends."""
    from ..provenance import provenance
    plan = plan_training(request)
    request = replace(request, engine=plan.engine, dtype=plan.dtype)
    check_plan_io(request, plan, console)
    if plan.genome_line:
        console.info(plan.genome_line)
    console.info(plan.voice)
    cfg = plan.train
    if plan.text_mode:
        run = TextRun(plan.text_split, seed=plan.seed, arch=plan.arch, engine_name=request.engine, dtype=request.dtype)
    else:
        run = Run(plan.train_docs, seed=plan.seed, arch=plan.arch, engine_name=request.engine,
                  held_out=plan.held_out, dtype=request.dtype)
    if request.budget is not None:
        step_seconds = run.seconds_per_step(cfg)
        console.info(budget_line(request.budget, cfg.num_steps, plan.budget_flops_per_step, step_seconds,
                                 request.engine))
    if plan.resumed is not None:
        _restore(run, plan.resumed, request.engine, request.dtype)
    if plan.text_mode:
        _text_header(console, plan, run)
    else:
        for line in header_lines(len(run.docs), run.config.vocab_size, run.config.num_params()):
            console.out(line)
    if plan.held_out and not plan.text_mode:
        console.info(f"held out: {len(plan.held_out):,} documents (val_split {cfg.val_split:g}, seed {plan.seed}); "
                     f"training on {len(run.docs):,}")
        console.info(held_out_baselines_line(run, plan.held_out))
    origin = provenance(request.command, plan.data.sha256, request.engine)
    best_path = _recorded_best_path(plan.resumed)  # where the best so far is kept

    def save(path):
        best = run.best
        training = dict(seed=plan.seed, steps_done=run.step, **cfg.to_dict(),
                        temperature=plan.temperature, samples=plan.samples,
                        engine=request.engine, dtype=request.dtype or DEFAULT_DTYPE,
                        final_loss=run.losses[-1] if run.losses else None,
                        data_sha256=plan.data.sha256, data_path=str(plan.data.path), genome=plan.genome_path,
                        curve=list(run.curve), stopped_early=run.stopped_early,
                        budget=request.budget if plan.resumed is None else plan.resumed.training.get('budget'),
                        best=None if best is None else dict(step=best['step'], val_loss=best['val_loss'],
                                                            checkpoint=best_path and str(best_path)),
                        **({'data_mode': ckpt.TEXT_MODE} if plan.text_mode else {}))
        ckpt.save_checkpoint(path, ckpt.Checkpoint(
            run.config, run.tokenizer.chars, run.engine.state_dict(), training,
            run.engine.optimizer_state(), run.losses, origin,
            None if run.average is None else run.average.state_dict(run.config)))

    def on_eval(point, improved):
        nonlocal best_path
        console.info(eval_line(point, cfg.num_steps, run.best))
        if improved:
            best_path = plan.best_out
            save(plan.best_out)

    t0 = time.perf_counter()
    deadline = None if request.max_time is None else t0 + request.max_time
    steps_before = run.step
    ticker = Ticker(console, 'training', cfg.num_steps, start=steps_before, unit='steps')

    def on_step(step, total, loss):
        console.progress(step_line(step, total, loss))
        ticker.update(step)

    with StopRequests() as stop:
        try:
            run.train(cfg, on_step,
                      stop_requested=lambda: stop.requested or (deadline is not None
                                                                and time.perf_counter() >= deadline),
                      on_eval=on_eval)
        finally:
            console.end_progress()
        if stop.requested:
            save(plan.out)
            _plot(request, run, console)
            console.info(f"interrupted after {run.step} of {cfg.num_steps} steps: checkpoint saved to "
                         f"{plan.out}; continue with `microgpt train --resume {plan.out}`")
            raise JobInterrupted(exit_status(stop.exception()))
    seconds = time.perf_counter() - t0
    save(plan.out)
    console.info(f"trained {run.step - steps_before} steps in {seconds:.2f}s ({request.engine} engine); "
                 f"checkpoint saved to {plan.out}")
    best = run.best
    if best is not None:
        console.info(best_line(best, best_path))
    if run.stopped_early:
        console.info(f"stopped early at step {run.step}: no better held-out loss in {cfg.early_stop} evaluations")
    _plot(request, run, console)
    if run.step < cfg.num_steps and not run.stopped_early:
        console.info(f"stopped at --max-time {request.max_time:g}s after {run.step} of {cfg.num_steps} steps; "
                     f"continue with `microgpt train --resume {plan.out}`")
        return run
    if plan.samples and plan.text_mode:
        _write_passage(console, run, plan.temperature)
    elif plan.samples:
        console.out('')
        console.out(INFERENCE_HEADER)
        draw = lambda count: generate(run.inference_engine(), run.tokenizer, run.rng, count,  # noqa: E731
                                      temperature=plan.temperature)
        names = print_samples(console, draw, plan.samples,
                              run.docs + plan.held_out if request.new_samples else None)
        console.info(novelty_line(novelty(names, run.docs, plan.held_out if cfg.val_split else None)))
    return run


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


TEXT_INFERENCE_HEADER = "--- inference (text written after a new line) ---"


def _text_header(console, plan, run):
    """Text mode's header: the characters trained on, the vocabulary, the parameters; and
    (stderr) the held-out tail."""
    split = plan.text_split
    console.out(f"num chars: {len(split.train)}")
    console.out(f"vocab size: {run.config.vocab_size}")
    console.out(f"num params: {run.config.num_params()}")
    if split.held_out:
        console.info(f"held out: the last {len(split.held_out):,} characters of the text (val_split "
                     f"{plan.val_split:g}); training on windows of the first {len(split.train):,}")
        baselines = text_baselines(split.chars, split.train, split.held_out).as_dict()
        console.info(baselines_line(baselines, None, 'the held-out characters',
                                    f"the {len(split.train):,} training characters"))


def _write_passage(console, run, temperature):
    """After training in text mode: one passage of DEFAULT_TEXT_CHARS characters, drawn from the
    run's own random stream, as the model writes after a new line."""
    console.out('')
    console.out(TEXT_INFERENCE_HEADER)
    console.out(run.write(DEFAULT_TEXT_CHARS, temperature=temperature))


def _recorded_best_path(resumed):
    """The best checkpoint a resumed run recorded (None: a new run, or none kept yet)."""
    best = None if resumed is None else resumed.training.get('best')
    return None if best is None else best['checkpoint']


def best_line(best, path):
    """Where the best checkpoint is: this run's, or the one its resumed part kept."""
    found = f"best held-out loss {best['val_loss']:.4f} at step {best['step']}"
    if path is not None and Path(path).is_file():
        return f"{found}: saved to {path}"
    return f"{found}; its checkpoint {path} no longer exists" if path else f"{found}; no checkpoint of it is known"


def _restore(run, resumed, engine_name, dtype=None):
    """Put a checkpoint's weights, Adam moments and progress into a freshly set-up run (whose
    random stream is then where the original's was at the same point)."""
    from ..engines import make_engine
    from ..training import WeightAverage
    if list(run.tokenizer.chars) != list(resumed.chars):
        raise MicrogptError("the data gives another vocabulary than the checkpoint's")
    run.engine = make_engine(engine_name, resumed.config, resumed.state_dict, dtype)
    if resumed.ema is not None:
        run.average = WeightAverage.from_state_dict(resumed.training['ema'], resumed.config, resumed.ema)
    run.engine.load_optimizer_state(resumed.optimizer)
    run.step = resumed.training['steps_done']
    run.losses = list(resumed.losses)
    run.curve = list(resumed.training.get('curve') or [])


def _plot(request, run, console):
    if request.plot and run.losses:
        from ..plots import plot_training_loss
        what = "training and held-out loss" if run.curve else "training loss"
        plot_training_loss(run.losses, request.plot, title=f"{what} ({len(run.losses)} steps)",
                           curve=run.curve)
        console.info(f"loss plot saved to {request.plot}")
