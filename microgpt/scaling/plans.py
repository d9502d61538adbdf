"""The plans of the scaling sweeps: named model sizes and the runs each sweep trains.

Kept apart from the sweep's machinery so that the CLI can show these defaults without
importing it.
"""
from ..errors import MicrogptError, require_positive
from ..training import ARCH_DEFAULTS

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

def size_arch(name):
    if name not in SIZES:
        raise MicrogptError(f"unknown size {name!r}; choose from {', '.join(SIZES)}")
    return {**ARCH_DEFAULTS, **SIZES[name]}


def parse_sizes(text):
    """'small,large' -> ['small', 'large'] (in the given order, each once)."""
    names = [name.strip() for name in text.split(',') if name.strip()]
    if not names:
        raise MicrogptError("sizes: give at least one of " + ', '.join(SIZES))
    for name in names:
        size_arch(name)
    return list(dict.fromkeys(names))


def run_spec(sweep, size, steps, seed, lr, engine):
    """A planned run; `run_sweep` adds the data it trains on (data_sha256)."""
    return dict(sweep=sweep, size=size, **size_arch(size), steps=steps, seed=seed, lr=lr, engine=engine)


def steps_plan(start, stop, every, size=DEFAULT_SIZE, **common):
    """One run per step count start, start + every, ... up to stop; common: seed, lr, engine."""
    require_positive('from', start)
    require_positive('every', every)
    if stop < start:
        raise MicrogptError(f"to ({stop}) must be >= from ({start})")
    return [run_spec('steps', size, steps, **common) for steps in range(start, stop + 1, every)]


def params_plan(sizes, steps, **common):
    """One run per named size, all trained for the same steps."""
    require_positive('steps', steps)
    return [run_spec('params', size, steps, **common) for size in sizes]


