"""What this machine has, and the longest work microgpt takes on: the bounds every command checks its plan
against before any work, so that no plan runs until it is killed. Memory is what the machine can still give
(training.run.memory_shortfall says what a training needs). Time: a plan is refused when even at the fastest
any engine could go (generously: FASTEST_STEP_SECONDS a step, FASTEST_FLOPS_PER_SECOND; the numpy engine's
best here is about 200 microseconds and 3e10 FLOPs a second) it would take longer than a year.
"""
from ..errors import MicrogptError

HORIZON_SECONDS = 365 * 24 * 3600
FASTEST_STEP_SECONDS = 1e-5
FASTEST_FLOPS_PER_SECOND = 1e13
CLUSTER_WORKERS_AT_MOST = 1024  # what a plan sent to a cluster (whose size is not ours to read) may count on
BYTES_PER_WORKER_PROCESS = 64 * 2 ** 20  # a Python with numpy and microgpt imported, before its work


def available_memory():
    """Bytes this machine can still give (MemAvailable), or None where that is unknown."""
    try:
        with open('/proc/meminfo') as meminfo:
            for line in meminfo:
                if line.startswith('MemAvailable:'):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_worker_processes(workers):
    """Refuse (one MicrogptError line) more local worker processes than the memory free holds."""
    have = available_memory()
    if workers is not None and workers > 1 and have is not None and workers * BYTES_PER_WORKER_PROCESS > have:
        raise MicrogptError(f"{describe_count(workers)} worker processes need about "
                            f"{gib(workers * BYTES_PER_WORKER_PROCESS)} GiB (about "
                            f"{BYTES_PER_WORKER_PROCESS // 2 ** 20} MiB each); this machine has {gib(have)} GiB free: "
                            f"use fewer --workers")


def fastest_seconds(steps=0, flops=0.0, workers=1):
    """The least time `steps` training steps doing `flops` FLOPs in all can take over `workers` (counts
    too large for a float count as 1e300)."""
    steps, flops = min(steps, 10 ** 300), min(flops, 10 ** 300)
    return max(steps * FASTEST_STEP_SECONDS, flops / FASTEST_FLOPS_PER_SECOND) / max(1, workers)


def describe_count(count):
    """A count as text: with thousands separators, or (past a billion) as 1.35e+295."""
    if count < 10 ** 9:
        return f"{count:,}" if isinstance(count, int) else f"{count:,.0f}"
    if count >= 10 ** 300:
        return f"10^{len(str(int(count))) - 1}"
    return f"{float(count):.3g}"


def gib(size):
    """Bytes as GiB, the number alone ('1.5'; past a billion GiB: '3.2e+12')."""
    gibs = size // 2 ** 30 if size >= 2 ** 60 else size / 2 ** 30
    return describe_count(gibs) if gibs >= 10 ** 9 else f"{gibs:.1f}"


def describe_seconds(seconds):
    """A long time in words: '3.2e+282 years', '41 days', '5 hours'."""
    for unit, size in (('years', HORIZON_SECONDS), ('days', 86400), ('hours', 3600)):
        if seconds >= size:
            count = seconds / size
            return f"{count:.3g} {unit}" if count < 1e4 else f"{count:.2g} {unit}"
    return f"{seconds:.0f} seconds"


def check_horizon(what, seconds, fix):
    """Refuse in one MicrogptError line work (`what`: "training 1.4e+295 steps") whose least `seconds`
    pass the horizon, saying the `fix`."""
    if seconds > HORIZON_SECONDS:
        raise MicrogptError(f"{what} would take at least {describe_seconds(seconds)} even at the fastest "
                            f"any engine goes ({FASTEST_FLOPS_PER_SECOND:.0e} FLOPs a second, "
                            f"{1 / FASTEST_STEP_SECONDS:,.0f} steps or names a second); microgpt takes on "
                            f"nothing longer than a year: {fix}")
