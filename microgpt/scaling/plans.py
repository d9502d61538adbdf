"""The plans of the scaling sweeps: named model sizes and the runs each sweep trains (apart from
the sweep's machinery, so that the CLI shows these defaults without importing it)."""
from ..errors import MicrogptError, require_positive
from ..training.run import ARCH_DEFAULTS

# Named model sizes for the params sweep. Heads grow with the width so every head stays
# 4 wide; medium is the `microgpt train` default model.
SIZES = {
    'small': dict(n_embd=8, n_head=2, n_layer=1),
    'medium': dict(n_embd=16, n_head=4, n_layer=1),
    'large': dict(n_embd=32, n_head=8, n_layer=2),
}
DEFAULT_SIZE = 'medium'
STEPS_RANGE_DEFAULTS = dict(start=1000, stop=21000, every=2000)
# The medium run of the params sweep is then the longest run of the steps sweep.
PARAMS_SWEEP_STEPS = STEPS_RANGE_DEFAULTS['stop']


def size_arch(name, sizes=SIZES):
    """The whole architecture of a named size of `sizes` (SIZES or FRONTIER_SIZES; parse_sizes checks the name)."""
    return {**ARCH_DEFAULTS, **sizes[name]}


def parse_sizes(text, known=SIZES):
    """'small,large' -> ['small', 'large'] (in the given order, each once), each one of `known`."""
    names = list(dict.fromkeys(name.strip() for name in text.split(',') if name.strip()))
    if not names:
        raise MicrogptError("sizes: give at least one of " + ', '.join(known))
    unknown = [name for name in names if name not in known]
    if unknown:
        raise MicrogptError(f"unknown size {unknown[0]!r}; choose from {', '.join(known)}")
    return names


def run_spec(sweep, size, steps, seed, lr, engine):
    """A planned run; `run_sweep` adds the data it trains on (data_sha256)."""
    return dict(sweep=sweep, size=size, **size_arch(size), steps=steps, seed=seed, lr=lr, engine=engine)


def check_sweep_time(runs, steps, flops=0, fix=''):
    """Refuse a sweep of `runs` runs, `steps` steps and `flops` FLOPs in all beyond microgpt's
    horizon even at the fastest any engine goes on this machine's cores (limits.py)."""
    from ..compute.limits import check_horizon, describe_count, fastest_seconds
    from ..trials.executor import default_workers
    check_horizon(f"a sweep of {describe_count(runs)} runs ("
                  + (f"{describe_count(flops)} FLOPs" if flops else f"{describe_count(steps)} steps") + " in all)",
                  fastest_seconds(steps, flops, default_workers()), fix)


def steps_plan(start, stop, every, size=DEFAULT_SIZE, **common):
    """One run per step count start, start + every, ... up to stop; common: seed, lr, engine."""
    require_positive('from', start)
    require_positive('every', every)
    if stop < start:
        raise MicrogptError(f"to ({stop}) must be >= from ({start})")
    runs = (stop - start) // every + 1
    check_sweep_time(runs, runs * start + every * runs * (runs - 1) // 2,
                     fix="choose a smaller --to, or a larger --every")
    return [run_spec('steps', size, steps, **common) for steps in range(start, stop + 1, every)]


def params_plan(sizes, steps, **common):
    """One run per named size, all trained for the same steps."""
    require_positive('steps', steps)
    check_sweep_time(len(sizes), len(sizes) * steps, fix="choose fewer --steps")
    return [run_spec('params', size, steps, **common) for size in sizes]


# --- the compute-optimal frontier ------------------------------------------------------------
# A ladder of sizes over two decades of parameters, named by width and depth; every head at
# least 4 wide. With the names data's 28 characters they have 1,328 to 151,936 parameters.
FRONTIER_SIZES = {
    'e8l1': dict(n_embd=8, n_head=2, n_layer=1),
    'e16l1': dict(n_embd=16, n_head=4, n_layer=1),
    'e24l2': dict(n_embd=24, n_head=4, n_layer=2),
    'e32l2': dict(n_embd=32, n_head=4, n_layer=2),
    'e48l2': dict(n_embd=48, n_head=4, n_layer=2),
    'e64l3': dict(n_embd=64, n_head=4, n_layer=3),
}
FRONTIER_DEFAULTS = dict(
    budgets=(3e9, 1e10, 3e10, 1e11, 3e11),  # FLOPs of training: two orders of magnitude
    seeds=2,
    batch_size=32,
    # The learning rate of each size: the best of this grid at the tuning budget (first seed).
    lr_grid=(0.0025, 0.005, 0.01, 0.02, 0.04, 0.08),
    tune_budget=3e10,
)


def _parse_numbers(text, what, valid, must, not_a_number, none):
    """The comma-separated numbers of text, ascending and each once, each passing `valid`."""
    values = []
    for part in (p.strip() for p in text.split(',') if p.strip()):
        try:
            value = float(part)
        except ValueError:
            raise MicrogptError(f"{what}: {part!r} {not_a_number}") from None
        if not valid(value):
            raise MicrogptError(f"{what}: {part!r} {must}")
        values.append(value)
    if not values:
        raise MicrogptError(f"{what}: {none}")
    return sorted(set(values))


def parse_budgets(text):
    """'1e10,3e10' -> [1e10, 3e10] (FLOPs, ascending, each once; >= 1)."""
    return _parse_numbers(text, 'budgets', lambda v: 1 <= v < float('inf'), "must be a finite number of FLOPs >= 1",
                          "is not a number of FLOPs", "give at least one number of FLOPs, e.g. 1e10,1e11")


def parse_lr_grid(text):
    must = "must be a finite number > 0"
    return _parse_numbers(text, 'learning rates', lambda v: 0 < v < float('inf'), must, must,
                          "give at least one, e.g. 0.005,0.01")


def frontier_spec(size, budget, seed, lr, role, *, split_seed, batch_size, lr_grid, tune_budget, engine):
    """A planned frontier run: one size trained for the steps `budget` FLOPs pay for."""
    return dict(sweep='frontier', size=size, **size_arch(size, FRONTIER_SIZES), budget=budget, batch_size=batch_size,
                seed=seed, split_seed=split_seed, lr=lr, lr_grid=list(lr_grid), tune_budget=tune_budget,
                engine=engine, role=role)


def check_frontier_time(sizes, budgets, seeds, lr_grid, tune_budget):
    """The frontier's runs (the learning-rate search's, then every size, budget and seed) within
    microgpt's horizon; each trains the whole steps its budget pays for, so at least half of it."""
    runs = len(sizes) * (len(lr_grid) + len(budgets) * seeds)
    # whole numbers: exact however many seeds
    flops = len(sizes) * (len(lr_grid) * round(tune_budget) + seeds * sum(map(round, budgets))) // 2
    check_sweep_time(runs, runs, flops, fix="choose smaller --budgets or --tune-budget, or fewer --seeds")


def lr_search_plan(sizes, seed, lr_grid, **common):
    """Stage one: every size at the tuning budget, on the first seed, at every learning rate."""
    return [frontier_spec(size, common['tune_budget'], seed, lr, 'lr-search', split_seed=seed,
                          lr_grid=lr_grid, **common)
            for size in sizes for lr in lr_grid]


def frontier_plan(sizes, budgets, seed, seeds, lr_grid, tuned_lr, **common):
    """Stage two: every (size, budget, seed) at its size's tuned learning rate."""
    require_positive('seeds', seeds)
    return [frontier_spec(size, budget, s, tuned_lr[size], 'frontier', split_seed=seed,
                          lr_grid=lr_grid, **common)
            for size in sizes for budget in budgets for s in range(seed, seed + seeds)]


def every_frontier_run(sizes, budgets, seed, seeds, lr_grid, **common):
    """Both stages' runs, for the checks made before any run: a run's steps do not depend on its
    learning rate, so the second stage is planned at a placeholder one."""
    return (lr_search_plan(sizes, seed, lr_grid, **common)
            + frontier_plan(sizes, budgets, seed, seeds, lr_grid, dict.fromkeys(sizes, 1.0), **common))


def tuned_lrs(rows, sizes=()):
    """{size: the learning rate of its lowest validation loss in the search} (the frontier rows
    at the tuning budget on the first seed); refused when the whole grid diverged for one of `sizes`."""
    best = {}
    for row in rows:
        if (row['sweep'] != 'frontier' or row.get('diverged') or row['budget'] != row['tune_budget']
                or row['seed'] != row['split_seed'] or row['lr'] not in row['lr_grid']):
            continue
        if row['size'] not in best or row['val_loss'] < best[row['size']]['val_loss']:
            best[row['size']] = row
    lost = [size for size in sizes if size not in best]
    if lost:
        raise MicrogptError(f"every learning rate of the grid diverged for {', '.join(lost)}: "
                            f"give lower ones with --lrs")
    return {size: row['lr'] for size, row in best.items()}
