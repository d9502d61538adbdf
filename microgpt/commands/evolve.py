"""`microgpt evolve`: the genetic search, told as it goes. A plan line, a progress line per training (stderr),
one line per generation and the final's verdicts on stdout; the best genome written to --out when it beats the
genome there (else beside it; if interrupted, beside it too), every organism in a log under experiments/."""
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
    tell_search(terminal, evolution)


def interrupted_line(e, describe):
    """Where an interrupted search left its best so far."""
    if not e.genome_written:
        return f"interrupted before any organism finished: nothing written; log {e.log_path}"
    return (f"interrupted: the best so far ({describe(e.best.score, e.best.spread)}) is in "
            f"{e.genome_written}, {e.out} is untouched; adopt it with "
            f"`mv {e.genome_written} {e.out}`; log {e.log_path}")


def tell_search(console, evolution):
    """Print a search's events as they come (progress on stderr, results on stdout); on Ctrl-C,
    say where the best so far went."""
    e = evolution
    describe = partial(describe_score, e.fitness)  # (score, spread=None)
    incumbent = {'incumbent': f"incumbent {e.out}"}
    names = dict(incumbent, primordial="baseline primordial")  # of the trainings in progress lines

    def training(done):
        organism = done.organism
        name = names.get(organism.origin, f"organism {organism.generation}.{organism.index}")
        seed = f", seed {done.final_seed} of {FINAL_SCORINGS}" if done.stage == 'final' else ''
        console.status(training_line(done, name + seed, describe(organism.own_score)))

    def baseline(event):
        organism = event.organism
        label = incumbent.get(organism.origin, organism.origin)
        if event.reused_from:
            console.info(f"{label}: {len(event.reused_from)} of {FINAL_SCORINGS} scorings reused from "
                         f"{', '.join(sorted(set(event.reused_from)))} ({e.incumbent_reuse}; "
                         f"--retrain-incumbent trains them)")
        console.out(baseline_line(organism, describe(organism.score, organism.spread), label))

    def result(event):
        best = event.best
        if best is None or best.score is None:
            raise MicrogptError(f"every organism failed (see {e.log_path}); no genome written")
        console.out(best_line(best, describe(best.score, best.spread)))
        if event.lead is not None:
            console.out(lead_line(event.lead, event.lead_exceeds_spread, event.runner_up))
        if e.fitness == 'aesthetic':
            from ..evolve.judge import WEIGHTS as AESTHETIC_WEIGHTS
            console.out(judged_line(best.components, AESTHETIC_WEIGHTS))

    lines = {  # each event and what it prints
        events.PlanMade: lambda event: console.info(plan_line(event.plan, e.space.name, incumbent)),
        events.TrainingDone: training,
        events.WorkerRetried: lambda event: console.info(worker_died_line(event.name)),
        events.GenerationSummary: lambda summary: console.out(generation_line(summary, e.generations)),
        events.Stagnation: lambda event: console.out(stagnation_line(event.stale, event.immigrants)),
        events.BaselineScored: baseline,
        events.FinalResult: result,
        events.Decision: lambda event: console.out(decision_line(event.decision, describe))}
    t0 = time.perf_counter()
    search = e.events()
    try:
        for event in search:
            lines[type(event)](event)
    except KeyboardInterrupt:
        search.close()  # an interrupt while printing: the search still writes its best so far
        console.info(interrupted_line(e, describe))
        raise
    seconds = time.perf_counter() - t0
    console.info(f"evolved in {format_duration(seconds)} of wall time ({seconds:.0f} s; "
                 f"{e.cpu_seconds:.0f} CPU seconds of training); genome written to "
                 f"{e.genome_written}; log {e.log_path}")
