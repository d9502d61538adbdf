"""The work of `microgpt train`, once train_plan.py has settled and checked it: set the run up,
train, print through the Console, and keep a checkpoint however the job ends."""
import time
from pathlib import Path

from ..console import (INFERENCE_HEADER, Ticker, budget_line, eval_line, header_lines, novelty_line, step_line)
from ..errors import MicrogptError
from ..files import checkpoint as ckpt
from ..gpt.engines import DEFAULT_DTYPE
from ..gpt.sampling import DEFAULT_TEXT_CHARS, generate, novelty
from ..signals import JobInterrupted, StopRequests, exit_status
from ..training.run import Run
from ..training.textmode import TextRun, text_baselines
from .sample import baselines_line, held_out_baselines_line, print_samples
from .train_plan import plan_job, plan_settings, read_data


def train_job(job, settings, console):
    """`microgpt train`: the original's lines on stdout; a checkpoint however it ends.
    `settings`: {setting: value given on the command line, or None}."""
    plan_job(job, settings)
    # the outputs are checked before the settings are settled, so whether a best checkpoint will be
    # written is read here from the flag (or the resumed checkpoint); plan.train holds the same value
    read_data(job, job.recorded('eval_every', settings.get('eval_every')), console)
    plan = plan_settings(settings, job)
    run = _start_run(job, plan, console)
    keeper = CheckpointKeeper(job, plan, run, console)
    cfg, steps_before = plan.train, run.step
    seconds = _train(job, plan, run, keeper, console)
    keeper.save(job.out)
    console.info(f"trained {run.step - steps_before} steps in {seconds:.2f}s ({job.engine} engine); "
                 f"checkpoint saved to {job.out}")
    if run.best is not None:
        console.info(best_line(run.best, keeper.best_path))
    if run.stopped_early:
        console.info(f"stopped early at step {run.step}: no better held-out loss in {cfg.early_stop} evaluations")
    _plot(job, run, console)
    if run.step < cfg.num_steps and not run.stopped_early:
        console.info(f"stopped at --max-time {job.max_time:g}s after {run.step} of {cfg.num_steps} steps; "
                     f"continue with `microgpt train --resume {job.out}`")
    elif job.samples:
        _sample_after(job, plan, run, console)
    return run


def _start_run(job, plan, console):
    """The run set up (a resumed one restored from its checkpoint), with the lines that
    introduce it: the genome, the voice, the budget, the header."""
    if plan.genome_line:
        console.info(plan.genome_line)
    console.info(plan.voice)
    cfg = plan.train
    if job.text_mode:
        run = TextRun(plan.text_split, seed=job.seed, arch=plan.arch, engine_name=job.engine, dtype=job.dtype)
    else:
        run = Run(plan.train_docs, seed=job.seed, arch=plan.arch, engine_name=job.engine,
                  held_out=plan.held_out, dtype=job.dtype)
    if job.budget is not None:
        step_seconds = run.seconds_per_step(cfg)
        console.info(budget_line(job.budget, cfg.num_steps, plan.budget_flops_per_step, step_seconds, job.engine))
    if job.resumed is not None:
        _restore(run, job.resumed, job.engine, job.dtype)
    if job.text_mode:  # the characters trained on, the vocabulary, the parameters; the held-out tail
        split = plan.text_split
        console.out(f"num chars: {len(split.train)}")
        console.out(f"vocab size: {run.config.vocab_size}")
        console.out(f"num params: {run.config.num_params()}")
        if split.held_out:
            console.info(f"held out: the last {len(split.held_out):,} characters of the text (val_split "
                         f"{cfg.val_split:g}); training on windows of the first {len(split.train):,}")
            baselines = text_baselines(split.chars, split.train, split.held_out).as_dict()
            console.info(baselines_line(baselines, None, 'the held-out characters',
                                        f"the {len(split.train):,} training characters"))
        return run
    for line in header_lines(len(run.docs), run.config.vocab_size, run.config.num_params()):
        console.out(line)
    if plan.held_out:
        console.info(f"held out: {len(plan.held_out):,} documents (val_split {cfg.val_split:g}, seed {job.seed}); "
                     f"training on {len(run.docs):,}")
        console.info(held_out_baselines_line(run, plan.held_out))
    return run


class CheckpointKeeper:
    """Writes the run's checkpoints: at --out, and the best so far beside it at each better
    held-out loss (best_path: where the best so far is, this run's or its resumed part's)."""

    def __init__(self, job, plan, run, console):
        from ..provenance import provenance
        self.job, self.plan, self.run, self.console = job, plan, run, console
        self.origin = provenance(job.command, job.dataset.sha256, job.engine)
        self.best_path = (job.recorded('best', None) or {}).get('checkpoint')
        self.best_out = job.best_out(plan.train.eval_every)

    def save(self, path):
        run, job, best = self.run, self.job, self.run.best
        genome_file = job.genome_file
        training = dict(seed=job.seed, steps_done=run.step, **self.plan.train.to_dict(),
                        temperature=job.temperature, samples=job.samples,
                        engine=job.engine, dtype=job.dtype or DEFAULT_DTYPE,
                        final_loss=run.losses[-1] if run.losses else None,
                        data_sha256=job.dataset.sha256, data_path=str(job.dataset.path),
                        genome=job.recorded('genome', None if genome_file is None else str(genome_file.path)),
                        curve=list(run.curve), stopped_early=run.stopped_early,
                        budget=job.recorded('budget', job.budget),
                        best=None if best is None else dict(step=best['step'], val_loss=best['val_loss'],
                                                            checkpoint=self.best_path and str(self.best_path)),
                        **({'data_mode': ckpt.TEXT_MODE} if job.text_mode else {}))
        ckpt.save_checkpoint(path, ckpt.Checkpoint(
            run.config, run.tokenizer.chars, run.engine.state_dict(), training,
            run.engine.optimizer_state(), run.losses, self.origin,
            None if run.average is None else run.average.state_dict(run.config)))

    def evaluated(self, point, improved):
        self.console.info(eval_line(point, self.plan.train.num_steps, self.run.best))
        if improved:
            self.best_path = self.best_out
            self.save(self.best_out)


def _train(job, plan, run, keeper, console):
    """Train to the last step, to --max-time or to early stopping, and return the seconds it
    took; a stop request (Ctrl-C, SIGTERM) saves the checkpoint and ends the job."""
    cfg = plan.train
    t0 = time.perf_counter()
    deadline = None if job.max_time is None else t0 + job.max_time
    ticker = Ticker(console, 'training', cfg.num_steps, start=run.step, unit='steps')

    def on_step(step, total, loss):
        console.progress(step_line(step, total, loss))
        ticker.update(step)

    with StopRequests() as stop:
        try:
            run.train(cfg, on_step,
                      stop_requested=lambda: stop.requested or (deadline is not None
                                                                and time.perf_counter() >= deadline),
                      on_eval=keeper.evaluated)
        finally:
            console.end_progress()
        if stop.requested:
            keeper.save(job.out)
            _plot(job, run, console)
            console.info(f"interrupted after {run.step} of {cfg.num_steps} steps: checkpoint saved to "
                         f"{job.out}; continue with `microgpt train --resume {job.out}`")
            raise JobInterrupted(exit_status(stop.exception()))
    return time.perf_counter() - t0


TEXT_INFERENCE_HEADER = "--- inference (text written after a new line) ---"


def _sample_after(job, plan, run, console):
    """After a finished run: a passage of DEFAULT_TEXT_CHARS characters drawn from the run's own
    random stream, as the model writes after a new line; or names with how many are new."""
    console.out('')
    if job.text_mode:
        console.out(TEXT_INFERENCE_HEADER)
        console.out(run.write(DEFAULT_TEXT_CHARS, temperature=job.temperature))
        return
    console.out(INFERENCE_HEADER)
    draw = lambda count: generate(run.inference_engine(), run.tokenizer, run.rng, count,  # noqa: E731
                                  temperature=job.temperature)
    names = print_samples(console, draw, job.samples, run.docs + plan.held_out if job.new_samples else None)
    console.info(novelty_line(novelty(names, run.docs, plan.held_out if plan.train.val_split else None)))


def best_line(best, path):
    """Where the best checkpoint is: this run's, or the one its resumed part kept."""
    found = f"best held-out loss {best['val_loss']:.4f} at step {best['step']}"
    if path is not None and Path(path).is_file():
        return f"{found}: saved to {path}"
    return f"{found}; its checkpoint {path} no longer exists" if path else f"{found}; no checkpoint of it is known"


def _restore(run, resumed, engine_name, dtype=None):
    """Put a checkpoint's weights, Adam moments and progress into a freshly set-up run (whose
    random stream is then where the original's was at the same point)."""
    from ..gpt.engines import make_engine
    from ..training.run import WeightAverage
    if list(run.tokenizer.chars) != list(resumed.chars):
        raise MicrogptError("the data gives another vocabulary than the checkpoint's")
    run.engine = make_engine(engine_name, resumed.config, resumed.state_dict, dtype)
    if resumed.ema is not None:
        run.average = WeightAverage.from_state_dict(resumed.training['ema'], resumed.config, resumed.ema)
    run.engine.load_optimizer_state(resumed.optimizer)
    run.step = resumed.training['steps_done']
    run.losses = list(resumed.losses)
    run.curve = list(resumed.training.get('curve') or [])


def _plot(job, run, console):
    if job.plot and run.losses:
        from ..plots import plot_training_loss
        what = "training and held-out loss" if run.curve else "training loss"
        plot_training_loss(run.losses, job.plot, title=f"{what} ({len(run.losses)} steps)",
                           curve=run.curve)
        console.info(f"loss plot saved to {job.plot}")
