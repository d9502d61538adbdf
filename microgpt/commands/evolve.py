"""`microgpt evolve`: the genetic search, told as it goes. A plan line, a progress line per
training (stderr), one line per generation and the final's verdicts on stdout; the best
genome written to --out when it beats the genome there (else beside it; if interrupted,
beside it too), every organism in a log under experiments/."""
import time
from functools import partial

import click

from ..console import (baseline_line, best_line, decision_line, format_duration, generation_line, judged_line,
                       lead_line, plan_line, stagnation_line, training_line, voice_searching, worker_died_line)
from ..errors import MicrogptError
from ..evolve import events
from ..evolve.decision import FINAL_SCORINGS
from ..evolve.fitness import FITNESS_KINDS, describe_score
from ..evolve.genes import DEFAULT_BUDGET, DEFAULT_GENERATIONS, DEFAULT_POPULATION, DEFAULT_SPACE, SPACES
from ..training.genome import DEFAULT_GENOME
from .options import COUNT, POSITIVE, SectionedCommand, command_argv, console, data_option, data_read, list_only, \
    parallel_options, seed_option

EVOLVE_SECTIONS = (
    ('Search', ['fitness', 'population', 'generations', 'space', 'budget', 'seed']),
    ('Where the runs go', ['workers', 'cluster']),
    ('Input and output', ['data', 'out']),
    ('The final', ['replace', 'retrain_incumbent']),
)


@click.command(cls=SectionedCommand, sections=EVOLVE_SECTIONS)
@click.option('--fitness', type=click.Choice(FITNESS_KINDS), required=True,
              help="loss: validation loss after training (lower is better); "
                   "aesthetic: a judge of the names the organism samples (higher is better).")
@click.option('--population', type=click.IntRange(min=2), default=DEFAULT_POPULATION, show_default=True,
              help="Organisms per generation.")
@click.option('--generations', type=COUNT, default=DEFAULT_GENERATIONS, show_default=True,
              help="Generations, the random first one included.")
@seed_option("Seed of the search, of the validation split and of every organism's training.")
@parallel_options
@data_option
@list_only("it scores organisms on a list's held-out documents (and their names, for --fitness aesthetic)")
@click.option('--out', type=click.Path(), default=DEFAULT_GENOME, show_default=True,
              help="Where to write the best genome (`microgpt train` loads ./genome.json). A genome "
                   "already there takes part in the final and is replaced only when the winner beats it "
                   "by more than the noise; else the winner goes beside it (genome.candidate.json). An "
                   "interrupted search writes beside it (genome.interrupted.json).")
@click.option('--replace', is_flag=True,
              help="Write the winner to --out even when it does not beat the genome there.")
@click.option('--retrain-incumbent', is_flag=True,
              help="Train the genome at --out in the final even where its file's record of the final "
                   "that chose it holds its scorings on the same split, settings and seeds, on this "
                   "machine's arithmetic or one whose drift was measured (such scorings are otherwise "
                   "reused).")
@click.option('--space', type=click.Choice(list(SPACES)), default=DEFAULT_SPACE, show_default=True,
              help="budget: the wide genome, every organism the same FLOPs (--budget), its steps "
                   "following from its architecture and batch size; seed: the seed design's narrow "
                   "ranges with steps as a gene, one document a step, no budget.")
@click.option('--budget', type=POSITIVE, default=None, metavar='FLOPS',
              help=f"FLOPs each organism trains for (budget space; default {DEFAULT_BUDGET:.0e}: the default "
                   "search finishes within 10 minutes on 2 cores). Counted as `microgpt.compute.flops` counts them.")
def evolve(fitness, population, generations, seed, workers, cluster, data, out, replace, retrain_incumbent, space,
           budget):
    """Evolve the hyperparameters ("DNA") with a genetic search and write the best genome.

    Tournament selection, crossover, mutation, 2 random immigrants (more when the search
    stagnates) and the best organism kept and trained again on a fresh seed each generation.
    Then the final: the 3 best, the genome at --out (as `microgpt train` trains it) and the
    primordial genome are trained on the same 3 fresh seeds; the best finalist wins, and
    replaces --out only when it beats it by more than the larger spread of the two (the scorings
    of the genome at --out that its file records are reused where they hold). Organisms
    train on the numpy engine, in parallel; a plan with an estimated time, then a line per
    training with elapsed time and ETA, go to stderr. Every organism goes into a log under
    experiments/.

    \b
    Examples:
      microgpt evolve --fitness loss                # the default search
      microgpt evolve --fitness loss --population 8 --generations 10 --budget 3e11
      microgpt evolve --fitness loss --space seed
    """
    from ..data import load_dataset
    from ..evolve.budget import check_evolution_args
    from ..evolve.decision import beside, read_incumbent
    from ..evolve.search import DEFAULT_LOG_DIR, Evolution
    from ..files.outputs import Output, check_outputs
    from ..provenance import provenance
    from ..trials.executor import default_workers
    terminal = console()
    check_evolution_args(fitness, population, generations, workers, space, budget, cluster)
    check_outputs([Output('--out', out, 'genome file'),
                   Output("--out's interrupted genome", lambda: beside(out, 'interrupted'), 'genome file'),
                   Output("--out's candidate", lambda: beside(out, 'candidate'), 'genome file'),
                   Output('the log folder', DEFAULT_LOG_DIR, 'log folder', 'folder')], [data_read(data)])
    read_incumbent(out)  # a file at --out that is no genome: one line now, before the data is read
    dataset = load_dataset(data, echo=terminal.info)
    evolution = Evolution(dataset.docs, fitness=fitness, population=population, generations=generations,
                          seed=seed, workers=workers, cluster=cluster, out=out, space=space, budget=budget,
                          replace=replace, reuse_incumbent=not retrain_incumbent,
                          origin=provenance(command_argv(), dataset.sha256, 'numpy'), data_path=str(dataset.path))
    terminal.info(voice_searching(population, generations, fitness, evolution.space.name, evolution.budget))
    where = f"cluster {cluster}" if cluster else f"workers: {workers or default_workers()}"
    terminal.info(f"({len(evolution.train_docs)} training, {len(evolution.val_docs)} validation documents; "
                  f"seed {seed}, {where})")
    SearchStory(terminal, evolution).tell()


class SearchStory:
    """A search's events as `microgpt evolve` prints them (progress on stderr, results on
    stdout); on Ctrl-C, where the best so far went."""

    def __init__(self, console, evolution):
        self.console, self.evolution = console, evolution
        self.fitness, self.out = evolution.fitness, evolution.out
        self.describe = partial(describe_score, evolution.fitness)  # (score, spread=None)
        incumbent = {'incumbent': f"incumbent {self.out}"}
        self.names = dict(incumbent, primordial="baseline primordial")  # of the trainings in progress lines
        self.lines = {  # each event and what it prints
            events.PlanMade: lambda e: console.info(plan_line(e.plan, evolution.space.name, incumbent)),
            events.TrainingDone: self.training,
            events.WorkerRetried: lambda e: console.info(worker_died_line(e.name)),
            events.GenerationSummary: lambda summary: console.out(generation_line(summary, evolution.generations)),
            events.Stagnation: lambda e: console.out(stagnation_line(e.stale, e.immigrants)),
            events.BaselineScored: self.baseline,
            events.FinalResult: self.result,
            events.Decision: lambda e: console.out(decision_line(e.decision, self.describe))}

    def tell(self):
        t0 = time.perf_counter()
        search = self.evolution.events()
        try:
            for event in search:
                self.lines[type(event)](event)
        except KeyboardInterrupt:
            search.close()  # an interrupt while printing: the search still writes its best so far
            self.interrupted()
            raise
        e, seconds = self.evolution, time.perf_counter() - t0
        self.console.info(f"evolved in {format_duration(seconds)} of wall time ({seconds:.0f} s; "
                          f"{e.cpu_seconds:.0f} CPU seconds of training); genome written to "
                          f"{e.genome_written}; log {e.log_path}")

    def training(self, done):
        organism = done.organism
        name = self.names.get(organism.origin, f"organism {organism.generation}.{organism.index}")
        seed = f", seed {done.final_seed} of {FINAL_SCORINGS}" if done.stage == 'final' else ''
        self.console.status(training_line(done, name + seed, self.describe(organism.own_score)))

    def baseline(self, event):
        organism = event.organism
        label = f"incumbent {self.out}" if organism.origin == 'incumbent' else organism.origin
        if event.reused_from:
            self.console.info(f"{label}: {len(event.reused_from)} of {FINAL_SCORINGS} scorings reused from "
                              f"{', '.join(sorted(set(event.reused_from)))} ({self.evolution.incumbent_reuse}; "
                              f"--retrain-incumbent trains them)")
        self.console.out(baseline_line(organism, self.describe(organism.score, organism.spread), label))

    def result(self, event):
        best = event.best
        if best is None or best.score is None:
            raise MicrogptError(f"every organism failed (see {self.evolution.log_path}); no genome written")
        self.console.out(best_line(best, self.describe(best.score, best.spread)))
        if event.lead is not None:
            self.console.out(lead_line(event.lead, event.lead_exceeds_spread, event.runner_up))
        if self.fitness == 'aesthetic':
            from ..evolve.judge import WEIGHTS as AESTHETIC_WEIGHTS
            self.console.out(judged_line(best.components, AESTHETIC_WEIGHTS))

    def interrupted(self):
        e = self.evolution
        best = e.best
        if e.genome_written:
            self.console.info(f"interrupted: the best so far ({self.describe(best.score, best.spread)}) is in "
                              f"{e.genome_written}, {self.out} is untouched; adopt it with "
                              f"`mv {e.genome_written} {self.out}`; log {e.log_path}")
        else:
            self.console.info(f"interrupted before any organism finished: nothing written; log {e.log_path}")
