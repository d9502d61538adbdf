"""`microgpt sweep steps|params|frontier`: the scaling sweeps, and the lines they print
(stderr: one a run as it finishes, and where the results go)."""
import click

from ..console import format_duration, worker_died_line
from ..scaling import plans
from ..scaling.sweep import check_budgets, run_sweep
from ..training.run import TRAIN_DEFAULTS
from .options import (COUNT, DEFAULT_GENOME_READ, POSITIVE, apply, command_argv, console, data_option, data_read,
                      engine_option, list_only, parallel_options, seed_option)


def run_line(done, total, row):
    what = f"{row['steps']:,} steps"
    if row['sweep'] == 'frontier':
        what = f"{row['budget']:.3g} FLOPs ({what}, lr {row['lr']}, seed {row['seed']})"
    losses = ("diverged" if row.get('diverged') else
              f"train loss {row['train_loss']:.4f}, val loss {row['val_loss']:.4f}")
    return (f"[{done}/{total}] {row['sweep']} sweep: {row['size']} ({row['params']:,} params), "
            f"{what}: {losses}, {format_duration(row['seconds'])}")


def timing_text(elapsed, left):
    return f" | {format_duration(elapsed)} elapsed, ETA " + ('unknown' if left is None else format_duration(left))


SWEEP_LINES = {  # scaling.sweep.SWEEP_EVENTS, as lines
    'skipped': lambda warning: warning,
    'resuming': lambda path, done, planned: f"resuming {path}: {done} of {planned} runs already done",
    'stage': lambda runs, stage, train, validation, path: (
        f"{runs} runs{f' (stage {stage})' if stage else ''}, {train:,} training and {validation:,} validation "
        f"documents; results -> {path}"),
    'worker_died': worker_died_line,
    'run_done': lambda done, total, row, elapsed, left: run_line(done, total, row) + timing_text(elapsed, left),
    'run_failed': lambda failure, elapsed, left: f"run failed: {failure}" + timing_text(elapsed, left),
    'interrupted': lambda path: (f"\ninterrupted: finished runs are in {path}; "
                                 f"finish the sweep with the same options and --resume {path}"),
    'nothing_left': lambda: "nothing left to run",
    'done': lambda runs, seconds, path: f"sweep done: {runs} runs in {format_duration(seconds)} wall time -> {path}",
}


def sweep_lines(echo):
    """A run_sweep report that says each event as its line, through echo."""
    return lambda event, **facts: echo(SWEEP_LINES[event](**facts))


def run_planned(out, plan, data, workers, cluster, out_dir, resume, next_stage=None, check_data=None):
    """Run a sweep's plan, one results row per run as it finishes; check_data(docs) refuses a plan the data
    cannot run, before any run."""
    from ..compute.limits import check_worker_processes
    from ..data import load_dataset
    from ..files.outputs import Output, check_outputs
    if not cluster:
        check_worker_processes(workers)
    results = (Output('--out-dir', out_dir, 'results folder', 'folder') if resume is None
               else Output('--resume', resume, 'results file', 'append', updates='--resume'))
    check_outputs([results], [data_read(data), ('--resume', resume), DEFAULT_GENOME_READ])
    dataset = load_dataset(data, echo=out.info)
    if check_data is not None:
        check_data(dataset.docs)
    return run_sweep(plan, dataset.docs, dataset.sha256, out_dir=out_dir, resume=resume, workers=workers,
                     cluster=cluster, report=sweep_lines(out.info), command=command_argv(), next_stage=next_stage)


def results_file_options(command):
    """Where a sweep's runs go and its results file: every sweep has them."""
    return apply(command, [
        engine_option,
        parallel_options,
        click.option('--out-dir', type=click.Path(file_okay=False), default='experiments', show_default=True,
                     help="Where a new sweep writes its timestamped results file."),
        click.option('--resume', type=click.Path(dir_okay=False), default=None,
                     help="Results file of an interrupted sweep of the same kind and settings: run only "
                          "the runs it lacks, appending to it."),
    ])


SWEEP_LIST_ONLY = list_only("its runs train on a list and score its held-out documents")


def sweep_options(command):
    """The options of the steps and params sweeps: data, run settings, parallelism, results file."""
    return apply(command, [
        data_option,
        SWEEP_LIST_ONLY,
        seed_option("Seed of every run and of the held-out validation split."),
        click.option('--lr', type=POSITIVE, default=TRAIN_DEFAULTS.learning_rate, show_default=True,
                     help="Adam learning rate, decayed linearly to 0 in each run."),
        results_file_options,
    ])


@click.group()
def sweep():
    """Scaling sweeps: many runs in parallel, each appended to a JSON-lines results file
    (under experiments/) as soon as it finishes. Progress goes to stderr, one line per run."""


def sizes_text(sizes):
    return '; '.join(f"{name}: " + ', '.join(f"{k} {v}" for k, v in arch.items()) for name, arch in sizes.items())


@sweep.command('steps')
@click.option('--from', 'start', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['start'], show_default=True,
              help="Steps of the shortest run.")
@click.option('--to', 'stop', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['stop'], show_default=True,
              help="Steps of the longest run (included when on the grid).")
@click.option('--every', type=COUNT, default=plans.STEPS_RANGE_DEFAULTS['every'], show_default=True,
              help="Steps between neighbouring runs.")
@click.option('--size', type=click.Choice(list(plans.SIZES)), default=plans.DEFAULT_SIZE, show_default=True,
              help=f"Model size. {sizes_text(plans.SIZES)}.")
@sweep_options
def sweep_steps(start, stop, every, size, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against training steps: one model trained for FROM, FROM+EVERY, ..., TO steps.

    \b
    Example:
      microgpt sweep steps --from 1000 --to 21000 --every 2000
    """
    plan = plans.steps_plan(start, stop, every, size, seed=seed, lr=lr, engine=engine)
    run_planned(console(), plan, data, workers, cluster, out_dir, resume)


@sweep.command('params')
@click.option('--sizes', default=','.join(plans.SIZES), show_default=True,
              help=f"Comma-separated model sizes. {sizes_text(plans.SIZES)}.")
@click.option('--steps', type=COUNT, default=plans.PARAMS_SWEEP_STEPS, show_default=True,
              help="Training steps of every run.")
@sweep_options
def sweep_params(sizes, steps, seed, lr, engine, data, workers, cluster, out_dir, resume):
    """Loss against parameters: each named size trained for the same steps.

    \b
    Example:
      microgpt sweep params --sizes small,medium,large --steps 21000
    """
    plan = plans.params_plan(plans.parse_sizes(sizes), steps, seed=seed, lr=lr, engine=engine)
    run_planned(console(), plan, data, workers, cluster, out_dir, resume)


FRONTIER = plans.FRONTIER_DEFAULTS


def comma_joined(values):
    return ','.join(f"{v:g}" for v in values)


@sweep.command('frontier')
@click.option('--budgets', default=comma_joined(FRONTIER['budgets']), show_default=True,
              help="Comma-separated compute budgets: FLOPs of training (forward, backward and Adam, "
                   "counted exactly by microgpt.compute.flops). Each run takes the steps its budget pays for.")
@click.option('--sizes', default=','.join(plans.FRONTIER_SIZES), show_default=True,
              help=f"Comma-separated model sizes of the ladder. {sizes_text(plans.FRONTIER_SIZES)}.")
@click.option('--seeds', type=COUNT, default=FRONTIER['seeds'], show_default=True,
              help="Seeds per (size, budget): --seed, --seed + 1, ...")
@seed_option("First seed; also the seed of the held-out validation split and of the learning-rate search.")
@click.option('--lrs', 'lr_grid', default=comma_joined(FRONTIER['lr_grid']), show_default=True,
              help="The learning rates searched for each size (at --tune-budget, first seed); every "
                   "run of a size then uses its best.")
@click.option('--tune-budget', type=POSITIVE, default=FRONTIER['tune_budget'], show_default=True,
              help="FLOPs of the learning-rate search's runs.")
@click.option('--batch-size', type=COUNT, default=FRONTIER['batch_size'], show_default=True,
              help="Documents per step.")
@data_option
@SWEEP_LIST_ONLY
@results_file_options
def sweep_frontier(budgets, sizes, seeds, seed, lr_grid, tune_budget, batch_size, data, engine, workers,
                   cluster, out_dir, resume):
    """The compute-optimal frontier: every size of the ladder trained for exactly each budget
    of FLOPs, at a learning rate tuned for its size, over several seeds. `microgpt analyze
    FILE --fit` fits the scaling law L(N, D) to it.

    \b
    Examples:
      microgpt sweep frontier                      # the default grid
      microgpt sweep frontier --sizes e32l2 --budgets 1e11 --seeds 1
    """
    out = console()
    sizes, budgets = plans.parse_sizes(sizes, plans.FRONTIER_SIZES), plans.parse_budgets(budgets)
    lr_grid = plans.parse_lr_grid(lr_grid)
    plans.check_frontier_time(sizes, budgets, seeds, lr_grid, tune_budget)
    common = dict(batch_size=batch_size, tune_budget=tune_budget, engine=engine)
    search = plans.lr_search_plan(sizes, seed, lr_grid, **common)

    def tuned_runs(rows):
        tuned = plans.tuned_lrs(rows, sizes)
        for size in sizes:
            out.info(f"{size}: learning rate {tuned[size]} (the best of {', '.join(map(str, lr_grid))} "
                     f"at {tune_budget:.3g} FLOPs)")
        return plans.frontier_plan(sizes, budgets, seed, seeds, lr_grid, tuned, **common)

    def check_data(docs):  # before any run, every budget of every size must buy a step
        check_budgets(plans.every_frontier_run(sizes, budgets, seed, seeds, lr_grid, **common), docs, seed)

    run_planned(out, search, data, workers, cluster, out_dir, resume, next_stage=tuned_runs, check_data=check_data)
