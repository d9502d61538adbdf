"""The jobs behind `microgpt train`, `sample`, `eval` and `judge`: check everything that can
be checked, then do the work, print through the Console, and keep what was done however the
job ends. (Evolution and sweeps have theirs in evolve/ and scaling/.)
"""
import random
import time
from dataclasses import dataclass, field
from typing import Optional

from . import checkpoint as ckpt
from .console import (INFERENCE_HEADER, StopRequests, exit_status, header_lines, sample_line, step_line,
                      voice_become, voice_unformed)
from .data import load_dataset
from .errors import MicrogptError
from .fileio import check_output_path
from .genome import Genome, resolve_train_settings
from .sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, check_sampling_args, generate
from .training import ARCH_FIELDS, DEFAULT_SEED, Run, TrainConfig, check_arch, check_memory


class JobInterrupted(Exception):
    """A job stopped by Ctrl-C or SIGTERM after keeping its work; carries the exit status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status


@dataclass
class TrainRequest:
    """What `microgpt train` was asked; None means "not given" (a default, a genome's gene,
    or, with resume, the checkpoint's setting applies)."""
    genes: dict = field(default_factory=dict)  # gene name -> value or None
    data: Optional[str] = None
    seed: Optional[int] = None
    batch_size: Optional[int] = None
    grad_clip: Optional[float] = None
    genome_path: Optional[str] = None
    primordial: bool = False
    temperature: Optional[float] = None
    samples: Optional[int] = None
    engine: str = 'numpy'
    out: Optional[str] = None
    resume: Optional[str] = None
    plot: Optional[str] = None
    command: Optional[list] = None  # the arguments after `microgpt`


@dataclass
class TrainPlan:
    """Everything a training run needs, settled before any work starts."""
    arch: dict
    train: TrainConfig
    seed: int
    temperature: float
    samples: int
    out: str
    voice: str
    genome_line: Optional[str] = None
    genome_path: Optional[str] = None
    resumed: Optional[ckpt.Checkpoint] = None
    data: object = None  # the Dataset, once read


def plan_training(request):
    """Check every setting, path and the data; the first problem is one MicrogptError."""
    if request.resume:
        return _plan_resume(request)
    flags = dict(request.genes, batch_size=request.batch_size, grad_clip=request.grad_clip)
    settings, genome_file, genome_line = resolve_train_settings(flags, request.genome_path, request.primordial)
    genome = Genome.from_settings(settings)
    train = genome.train_config()
    arch = genome.arch()
    check_arch(**arch)
    if genome_file is None:
        voice, genome_line = voice_unformed(genome.shown(), genome_line), None
    else:
        p = genome_file.provenance
        voice = voice_become(genome.shown(), p.get('fitness'), p.get('score'))
    return TrainPlan(
        arch=arch, train=train, seed=DEFAULT_SEED if request.seed is None else request.seed,
        temperature=DEFAULT_TEMPERATURE if request.temperature is None else request.temperature,
        samples=DEFAULT_NUM_SAMPLES if request.samples is None else request.samples,
        out=ckpt.DEFAULT_CHECKPOINT if request.out is None else request.out, voice=voice,
        genome_line=genome_line, genome_path=None if genome_file is None else str(genome_file.path))


def _plan_resume(request):
    resumed = ckpt.load_checkpoint(request.resume)
    t = resumed.training
    if resumed.optimizer is None or 'num_steps' not in t:
        raise MicrogptError(f"checkpoint {request.resume} cannot be resumed: it holds no optimizer "
                            f"state (written by an older microgpt)")
    if t['steps_done'] >= t['num_steps']:
        raise MicrogptError(f"checkpoint {request.resume} is a finished run ({t['steps_done']} of "
                            f"{t['num_steps']} steps): nothing to resume")
    if request.genome_path or request.primordial:
        raise MicrogptError("--resume takes its settings from the checkpoint: drop --genome / --primordial")
    config = resumed.config
    have = dict(config.to_dict(), num_steps=t['num_steps'], learning_rate=t['learning_rate'])
    asked = dict(request.genes, seed=request.seed, batch_size=request.batch_size, grad_clip=request.grad_clip)
    have.update(seed=t['seed'], batch_size=t['batch_size'], grad_clip=t['grad_clip'])
    for name, value in asked.items():
        if value is not None and value != have[name]:
            raise MicrogptError(f"{name} {value} (given on the command line) contradicts checkpoint "
                                f"{request.resume}, which has {name} {have[name]}")
    train = TrainConfig(num_steps=t['num_steps'], learning_rate=t['learning_rate'],
                        batch_size=t['batch_size'], grad_clip=t['grad_clip'])
    arch = {name: getattr(config, name) for name in ARCH_FIELDS}
    return TrainPlan(
        arch=arch, train=train, seed=t['seed'],
        temperature=t['temperature'] if request.temperature is None else request.temperature,
        samples=t['samples'] if request.samples is None else request.samples,
        out=request.resume if request.out is None else request.out,
        voice=f"I wake: resuming at step {t['steps_done'] + 1} of {t['num_steps']}",
        genome_path=t.get('genome'), resumed=resumed)


def check_plan_io(request, plan, console):
    """Output paths, the plot, the data and memory: all before the first step."""
    if not plan.temperature > 0:
        raise MicrogptError(f"temperature must be > 0, got {plan.temperature}")
    check_output_path(plan.out, 'checkpoint')
    if request.plot:
        from .plots import check_plot_path
        check_output_path(request.plot, 'plot')
        check_plot_path(request.plot)
    plan.data = data = load_dataset(request.data, echo=console.info)
    if plan.resumed is not None:
        digest = data.sha256
        if digest != plan.resumed.training.get('data_sha256'):
            raise MicrogptError(f"{data.path} is not the data checkpoint {request.resume} was trained "
                                f"on (SHA-256 {digest[:12]}..., the checkpoint's "
                                f"{str(plan.resumed.training.get('data_sha256'))[:12]}...)")
    check_memory(plan.arch, request.engine, vocab_size=len(set(''.join(data.docs))) + 1)


def train_job(request, console):
    """`microgpt train`: the original's lines on stdout; a checkpoint however it ends."""
    from .provenance import provenance
    plan = plan_training(request)
    check_plan_io(request, plan, console)
    if plan.genome_line:
        console.info(plan.genome_line)
    console.info(plan.voice)
    run = Run(plan.data.docs, seed=plan.seed, arch=plan.arch, engine_name=request.engine)
    if plan.resumed is not None:
        _restore(run, plan.resumed, request.engine)
    for line in header_lines(len(run.docs), run.config.vocab_size, run.config.num_params()):
        console.out(line)
    origin = provenance(request.command, plan.data.sha256, request.engine)

    def save():
        training = dict(seed=plan.seed, steps_done=run.step, num_steps=plan.train.num_steps,
                        learning_rate=plan.train.learning_rate, batch_size=plan.train.batch_size,
                        grad_clip=plan.train.grad_clip, temperature=plan.temperature, samples=plan.samples,
                        engine=request.engine, final_loss=run.losses[-1] if run.losses else None,
                        data_sha256=plan.data.sha256, data_path=str(plan.data.path), genome=plan.genome_path)
        ckpt.save_checkpoint(plan.out, ckpt.Checkpoint(
            run.config, run.tokenizer.chars, run.engine.state_dict(), training,
            run.engine.optimizer_state(), run.losses, origin))

    t0 = time.perf_counter()
    steps_before = run.step
    with StopRequests() as stop:
        try:
            run.train(plan.train, lambda step, total, loss: console.progress(step_line(step, total, loss)),
                      stop_requested=lambda: stop.requested)
        finally:
            console.end_progress()
        if stop.requested:
            save()
            _plot(request, run, console)
            console.info(f"interrupted after {run.step} of {plan.train.num_steps} steps: checkpoint saved to "
                         f"{plan.out}; continue with `microgpt train --resume {plan.out}`")
            raise JobInterrupted(exit_status(stop.exception()))
    seconds = time.perf_counter() - t0
    save()
    console.info(f"trained {run.step - steps_before} steps in {seconds:.2f}s ({request.engine} engine); "
                 f"checkpoint saved to {plan.out}")
    _plot(request, run, console)
    if plan.samples:
        console.out('')
        console.out(INFERENCE_HEADER)
        try:
            names = generate(run.engine, run.tokenizer, run.rng, plan.samples, temperature=plan.temperature)
            for i, name in enumerate(names, start=1):
                console.out(sample_line(i, name))
        except KeyboardInterrupt as interrupt:
            raise JobInterrupted(exit_status(interrupt)) from None
    return run


def _restore(run, resumed, engine_name):
    """Put a checkpoint's weights, Adam moments and progress into a freshly set-up run (whose
    random stream is then where the original's was at the same point)."""
    from .engines import make_engine
    if list(run.tokenizer.chars) != list(resumed.chars):
        raise MicrogptError("the data gives another vocabulary than the checkpoint's")
    run.engine = make_engine(engine_name, resumed.config, resumed.state_dict)
    run.engine.load_optimizer_state(resumed.optimizer)
    run.step = resumed.training['steps_done']
    run.losses = list(resumed.losses)


def _plot(request, run, console):
    if request.plot and run.losses:
        from .plots import plot_training_loss
        plot_training_loss(run.losses, request.plot, title=f"training loss ({len(run.losses)} steps)")
        console.info(f"loss plot saved to {request.plot}")


# --- sample, eval, judge -----------------------------------------------------------------------

def sample_job(console, checkpoint_path, num, temperature, seed, top_k, top_p, prefix, engine):
    """`microgpt sample`: names from a checkpoint, one `sample  i: name` line each."""
    from .engines import make_engine
    loaded = ckpt.load_checkpoint(checkpoint_path)
    tokenizer = loaded.tokenizer
    check_sampling_args(tokenizer, loaded.config.block_size, temperature, top_k, top_p, prefix)
    model = make_engine(engine, loaded.config, loaded.state_dict)
    rng = random.Random(seed)
    try:
        for i, name in enumerate(generate(model, tokenizer, rng, num, temperature=temperature,
                                          top_k=top_k, top_p=top_p, prefix=prefix), start=1):
            console.out(sample_line(i, name))
    except KeyboardInterrupt as interrupt:
        raise JobInterrupted(exit_status(interrupt)) from None


def eval_job(console, checkpoint_path, data, as_json=False):
    """`microgpt eval`: the checkpoint's mean per-token cross-entropy on a data file."""
    import json
    import math
    from .engines import make_engine
    from .evaluation import mean_loss
    loaded = ckpt.load_checkpoint(checkpoint_path)
    dataset = load_dataset(data, echo=console.info)
    data_path, docs = dataset.path, dataset.docs
    tokenizer = loaded.tokenizer
    for doc in docs:
        unknown = tokenizer.unknown_chars(doc)
        if unknown:
            raise MicrogptError(f"{data_path} has a character the model does not know: {unknown[0]!r} "
                                f"(in {doc!r})")
    engine = make_engine('numpy', loaded.config, loaded.state_dict)
    loss = mean_loss(engine, tokenizer, docs)
    tokens = sum(len(tokenizer.doc_tokens(doc, loaded.config.block_size)) - 1 for doc in docs)
    result = {'loss': loss, 'perplexity': math.exp(loss), 'tokens': tokens, 'documents': len(docs),
              'checkpoint': str(checkpoint_path), 'data': str(data_path)}
    if as_json:
        console.out(json.dumps(result))
    else:
        console.out(f"loss {loss:.4f} | perplexity {result['perplexity']:.4f} | "
                    f"{tokens:,} tokens in {len(docs):,} documents")
    return result


def judge_job(console, names_path, data, as_json=False):
    """`microgpt judge`: the aesthetic judge's scores of a file of names, per name and for
    the batch, against the training data."""
    import json
    from .evolve.judge import Judge, format_report, read_names
    names = read_names(names_path)
    report = Judge(load_dataset(data, echo=console.info).docs).score_batch(names)
    console.out(json.dumps(report) if as_json else format_report(report))
    return report
