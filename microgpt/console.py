"""What microgpt prints: the streams (Console), the Ticker of long work, and the line formats of train and
sample, of evolve, a dead worker's line, the creature's voice and --json's text. A line only one other command
prints lives beside it in microgpt/commands/ (the root group's in cli.py; bench's rounds and the data's loading
report through a callback); microgpt.layout lays out durations and tables.

Stdout carries the original microgpt.py's lines and each command's results; everything else (which genome,
where files went, progress, the creature's voice) goes to stderr. A closed stdout (`microgpt train | head`)
silences stdout and nothing else: the work goes on and its files are written.
"""
import json
import os
import sys
import time

from .files.fileio import finite_or_null
from .layout import format_duration

INFERENCE_HEADER = "--- inference (new, hallucinated names) ---"


# --- --json ------------------------------------------------------------------------------------

def json_text(obj, indent=None):
    """What every --json prints: strict JSON, null standing for a number that is not finite."""
    return json.dumps(finite_or_null(obj), indent=indent, allow_nan=False)


# --- the original's lines ---------------------------------------------------------------------

def header_lines(num_docs, vocab_size, num_params):
    return [f"num docs: {num_docs}", f"vocab size: {vocab_size}", f"num params: {num_params}"]


def step_line(step, num_steps, loss):
    return f"step {step:4d} / {num_steps:4d} | loss {loss:.4f}"


def sample_line(index, name):
    return f"sample {index:2d}: {name}"


def eval_line(point, num_steps, best):
    """One evaluation while training (stderr): the train loss is the mean since the last one."""
    return (f"eval step {point['step']:4d} / {num_steps:4d} | train loss {point['train_loss']:.4f} | "
            f"held-out loss {point['val_loss']:.4f} | best {best['val_loss']:.4f} (step {best['step']})")


def budget_line(budget, steps, flops_per_step, step_seconds, engine):
    return (f"budget {budget:.4g} FLOPs: {steps:,} steps of {flops_per_step:.4g} FLOPs on average; about "
            f"{format_duration(steps * step_seconds)} on the {engine} engine here "
            f"({step_seconds * 1000:.3g} ms a step, timed on a copy of the model)")


def novelty_line(counts):
    """makemore's three kinds of sample: new, in the training data, in the held-out data."""
    held_out = 'no held-out data' if counts['held_out'] is None else f"{counts['held_out']} in the held-out data"
    return (f"novelty: {counts['new']} of {counts['samples']} samples new, "
            f"{counts['train']} in the training data, {held_out}")


def new_names_line(counts):
    """What `--new` drew to find its names, and whether it found them all."""
    rejected = counts['known'] + counts['repeated']
    found = (f"{counts['accepted']} new names" if counts['accepted'] == counts['asked'] else
             f"only {counts['accepted']} of {counts['asked']} new names: gave up after "
             f"{counts['max_draws']:,} draws")
    return (f"new names: {found} in {counts['drawn']:,} draws; rejected {rejected:,} "
            f"({counts['known']:,} in the data, {counts['repeated']:,} repeats)")


# --- evolution ------------------------------------------------------------------------------

def generation_line(summary, generations):
    worst = 'failed' if summary.failed else f"{summary.worst:.4f}"
    mean = 'n/a' if summary.mean is None else f"{summary.mean:.4f}"
    best = 'n/a' if summary.best.score is None else f"{summary.best.score:.4f}"
    return (f"gen {summary.generation:2d}/{generations} | best {best} | mean {mean} | "
            f"worst {worst} | diversity {summary.diversity} | {summary.best.genome.describe()}")


def baseline_line(organism, score_text, label=None):
    return f"{label or organism.origin} ({organism.genome.describe()}): {score_text}"


def best_line(organism, score_text):
    return f"best: {score_text} (generation {organism.generation}): {organism.genome.describe()}"


def lead_line(lead, clear, runner_up):
    verdict = {True: 'more than', False: 'within', None: 'beside'}[clear]
    return (f"lead over the runner-up (generation {runner_up.generation}, {len(runner_up.scores)} scorings): "
            f"{lead:.4f}, {verdict} the spread of their scorings")


def plan_line(plan, space, baseline_names):
    """Before any work: what the search will train, and how long that should take here."""
    budget = f", {plan['budget']:.3g} FLOPs each" if plan['budget'] is not None else ''
    each = format_duration(sum(plan['organism_seconds']) / len(plan['organism_seconds']))
    reused = plan.get('baseline_reused') or {}

    def baseline(origin):
        logs = sorted(set(reused.get(origin, ())))
        again = (f"; {len(reused[origin])} of {plan['final_scorings']} scorings reused from {', '.join(logs)}"
                 if logs else '')
        return (f"{baseline_names.get(origin, origin)} {plan['baseline_steps'][origin]:,} steps "
                f"({format_duration(plan['baseline_seconds'][origin])} each{again})")
    baselines = '; '.join(baseline(origin) for origin in plan['baseline_seconds'])
    count = len(plan['baseline_seconds'])
    final = f"{plan['finalists']} finalists" + (f" and {count} baseline{'s' if count > 1 else ''} ({baselines})"
                                                if baselines else '')
    wall = ('' if plan['estimated_seconds'] is None else
            f", about {format_duration(plan['estimated_seconds'])} on {plan['workers']} "
            f"worker{'s' if plan['workers'] != 1 else ''}")
    low, high = plan['step_seconds']
    return (f"plan: {plan['organisms']} organisms x {plan['generations']} generations in the {space} space{budget} "
            f"(about {each} of CPU each); then the final: {final}, on the same {plan['final_scorings']} seeds; "
            f"{plan['trainings']} trainings, {format_duration(plan['estimated_cpu_seconds'])} of CPU{wall} "
            f"(from steps timed here: {low * 1000:.3g} to {high * 1000:.3g} ms)")


def training_line(done, what, score_text):
    """After each training of a search: where it is, and the time."""
    stage = 'final' if done.stage == 'final' else f"generation {done.generation} of {done.generations}"
    eta = 'ETA unknown' if done.eta is None else f"ETA {format_duration(done.eta)}"
    return (f"{stage} | training {done.done} of {done.total} | {what}: {score_text} | "
            f"{format_duration(done.elapsed)} elapsed, {eta}")


def decision_line(decision, describe):
    """Whether the winner replaced the genome at --out, and by how much it won or lost."""
    out = decision['out']
    if decision.get('write_error'):
        return f"wrote no genome: {decision['write_error']}"
    if decision['incumbent'] is None:
        return f"wrote {out}: there was no genome there to beat"
    winner, incumbent = (describe(decision[who]['score'], decision[who]['spread']) for who in ('winner', 'incumbent'))
    if decision['lead'] is None:
        return f"replaced {out}: the incumbent ({incumbent}) failed to train on the final's seeds"
    lead, noise = decision['lead'], decision['noise']
    if decision['why'] == 'the winner beats the incumbent by more than the noise':
        return (f"replaced {out}: the winner ({winner}) beats the incumbent ({incumbent}) by {lead:.4f}, "
                f"more than the noise ({noise:.4f})")
    comparison = (f"the incumbent ({incumbent}) beats the winner ({winner}) by {-lead:.4f}"
                  if decision['why'] == 'the incumbent beats the winner' else
                  f"the winner ({winner}) is within the noise ({noise:.4f}) of the incumbent ({incumbent}): "
                  f"difference {lead:+.4f}")
    if decision['forced']:
        return f"replaced {out} as --replace asks, though {comparison}"
    return f"kept {out}: {comparison}; the winner is in {decision['genome_written']} (--replace adopts it)"


def stagnation_line(stale, immigrants):
    return f"no better organism in {stale} generations: {immigrants} immigrants a generation until one appears"


def judged_line(components, weights):
    parts = ', '.join(f"{k} {components[k]:.3f}" for k in weights)
    return f"judged: {parts}; samples: {', '.join(components['samples'][:10])}"


# --- parallel runs (evolve and sweep) ----------------------------------------------------------

def worker_died_line(name):
    """A worker process died under a run of evolve or a sweep; the run goes to a fresh one."""
    return f"a worker process died running {name}: running it again on a fresh worker"


# --- elapsed time and ETA of long work (stderr) ------------------------------------------------

# Work shorter than FIRST_TICK_SECONDS says nothing of its time; longer work says how far it is, at most
# every TICK_SECONDS.
FIRST_TICK_SECONDS = 5.0
TICK_SECONDS = 10.0


class Ticker:
    """Elapsed time and ETA of work of `total` units (steps, documents, runs), the ETA from the rate since
    `start` units were done. `update(done)` prints when a tick is due."""

    def __init__(self, console, what, total, start=0, unit='', clock=None):
        self.console, self.what, self.total, self.start, self.unit = console, what, total, start, unit
        self.clock = clock or time.perf_counter
        self.started = self.clock()
        self.due = self.started + FIRST_TICK_SECONDS

    def update(self, done):
        now = self.clock()
        if now < self.due or done >= self.total:
            return False
        self.due, elapsed = now + TICK_SECONDS, now - self.started
        rate = (done - self.start) / elapsed if elapsed > 0 else 0
        eta = f"ETA {format_duration((self.total - done) / rate)}" if rate > 0 else 'ETA unknown'
        unit = f" {self.unit}" if self.unit else ''
        self.console.info(f"{self.what}: {done:,} of {self.total:,}{unit} ({done / self.total:.0%}), "
                          f"{format_duration(elapsed)} elapsed, {eta}")
        return True


# --- the creature's voice (stderr) ------------------------------------------------------------

def describe_genes(genes):
    """A genome's settings as describe_settings writes them, lr and steps by train's short names."""
    short = {'learning_rate': 'lr', 'num_steps': 'steps'}
    return describe_settings({short.get(name, name): value for name, value in genes.items()})


def describe_settings(settings):
    """{name: value} as `name=value` pairs (numbers as compactly as they read)."""
    return ' '.join(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}"
                    for name, value in settings.items())


def voice_unformed(genes, why):
    return f"I am unformed{f' ({why})' if why else ''}: {describe_genes(genes)}"


def voice_become(genes, fitness, score):
    origin = f" ({fitness} fitness {score:.4f})" if fitness and score is not None else ""
    return f"I have become{origin}: {describe_genes(genes)}"


def voice_variant(genes, genome_text, overrides):
    """A genome whose architecture the command line changed: not what evolution made."""
    return (f"I am {genome_text}, reshaped on the command line ({describe_settings(overrides)}), "
            f"not the model its score is for: {describe_genes(genes)}")


def voice_searching(population, generations, fitness, space, budget):
    each = f", {budget:.3g} FLOPs each" if budget is not None else ''
    return (f"I am searching: {population} organisms x {generations} generations for {fitness} fitness "
            f"in the {space} space{each}")


# --- streams ---------------------------------------------------------------------------------

class Console:
    """Stdout and stderr for one command. In a terminal, `progress` (stdout) and `status` (stderr) lines
    update in place and are ended before anything else is printed; piped, each gets its own line."""

    def __init__(self, stdout=None, stderr=None):
        self.stdout, self.stderr = stdout or sys.stdout, stderr or sys.stderr
        self.stdout_closed = False
        self.in_place, self.in_place_err = _isatty(self.stdout), _isatty(self.stderr)
        self._open_progress = self._open_err_progress = False

    def out(self, line):
        erase = self._end_open_lines()
        if erase:
            self._write_stderr(erase)
        self._write_stdout(line + '\n')

    def progress(self, line):
        if self.in_place:
            self._write_stdout('\r' + line + '\033[K')
            self._open_progress = True
        else:
            self.out(line)

    def end_progress(self):
        if self._open_progress:
            self._open_progress = False
            self._write_stdout('\n')

    def status(self, line):
        if self.in_place_err:
            self._write_stderr('\r' + line + '\033[K')
            self._open_err_progress = True
        else:
            self.info(line)

    def info(self, message):
        self._write_stderr(self._end_open_lines() + message + '\n')

    def _end_open_lines(self):
        """End an open progress line; the text that erases an open status line ('' when none is)."""
        self.end_progress()
        erase, self._open_err_progress = ('\r\033[K' if self._open_err_progress else ''), False
        return erase

    def _write_stderr(self, text):
        try:
            self.stderr.write(text)
            self.stderr.flush()
        except (BrokenPipeError, ValueError):
            pass

    def _write_stdout(self, text):
        if self.stdout_closed:
            return
        try:
            self.stdout.write(text)
            self.stdout.flush()
        except BrokenPipeError:
            self.stdout_closed = True
            try:  # the reader went away: later writes (and the flush at exit) go nowhere, quietly
                fd = self.stdout.fileno()
            except (AttributeError, ValueError, OSError):
                return
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)


def _isatty(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
