"""What a result's bits depend on, and how far they may move on another machine.

The contract (docs/pages/reproducibility.md):
  - The Val engine is Python floats only: its bits are the original microgpt.py's wherever
    the platform's exp, log and pow are glibc's (tests/test_bitexact.py).
  - The numpy engine is bit for bit deterministic for a given *arithmetic*: the same numpy,
    the same SIMD code paths numpy dispatches to, the same BLAS library, kernel and thread
    count. The worker count of evolve and sweep never changes a result.
  - Across arithmetics its results agree within CROSS_MACHINE_TOLERANCE, a bound on the
    difference of a run's final validation loss, measured per run length by replaying the
    shipped runs under several OpenBLAS kernels and thread counts (the reproducibility page gives the figures).

`machine()` is the record every provenance carries; `same_arithmetic(a, b)` says whether two
records promise the same bits; `replay_tolerance(steps, a, b)` is what a replay may differ by.
"""
import os
import platform
import sys

# (longest run in steps, bound): twice the largest spread of the final validation loss that
# benchmarks/drift.py measured over the shipped sweeps' runs up to that length, replayed under
# three OpenBLAS kernels with 1 and 2 threads (experiments/drift.json), rounded up, and never
# below 1e-8. Up to 13,000 steps the replays stayed on one trajectory (spread <= 1.7e-9);
# beyond, they left it and differ about as much as two seeds do. Runs longer than the last
# row have no stated bound.
CROSS_MACHINE_TOLERANCE = (
    (13_000, 1e-8),
    (15_000, 2e-3),
    (17_000, 3e-3),
    (19_000, 2e-2),
    (21_000, 8e-2),
)
# Mini-batch float64 runs (batch_size > 1: the budget space's organisms, a genome of batches)
# leave one trajectory far sooner than one-document steps: a model ten times wider sums each
# gradient over a batch, so a kernel's last bit grows into a loss difference within a few
# hundred steps, depending on the run. experiments/batched-drift/ replays the shipped budgeted
# search's cheapest organism and its winner, the default search's cheapest organism (by its
# held-out loss and by the judge's score of its names) and the genome check's first evaluation
# under Haswell and Nehalem with 1 and 2 threads and SkylakeX with 2; twice the largest spread
# of runs up to each length, rounded up, never below 1e-8. The winner's 8,635 steps stayed
# within one ulp, but the cheapest organisms (less stable) spread by 0.088 at 4,240 steps and,
# at 952 steps, by 0.00015 in held-out loss and 0.0048 in judge score (a drawn name flips with
# the last bits of the weights). Rows are the runs measured: a longer run has no bound.
CROSS_MACHINE_TOLERANCE_BATCHED = (
    (952, 0.01),
    (1_000, 0.01),
    (4_240, 0.18),
    (8_635, 0.18),
)
# float32 (numpy's --dtype float32) rounds 2**29 times coarser: runs leave each other's
# trajectory within the first few hundred steps. The good-model recipe (docs/pages/training.md, 6,500 steps at
# batch 32, experiments/recipe/) under three kernels spread by up to 0.0081 at its
# evaluations; twice that, rounded up.
CROSS_MACHINE_TOLERANCE_FLOAT32 = (
    (6_500, 2e-2),
)
# The fields of machine() that decide the numpy engine's bits.
ARITHMETIC_FIELDS = ('arch', 'numpy', 'simd', 'blas', 'blas_version', 'blas_kernel', 'blas_threads')

# A search meets its incumbent by the scorings its genome file records (evolve/incumbent.py).
# Made on another arithmetic, they stand for training it again only when the drift measured
# for that genome (the record's `drift`: the largest difference of its scores trained again on
# other arithmetics) is at most INCUMBENT_REUSE_TOLERANCE, and that measurement covered this
# machine's kind of arithmetic (arithmetic_kind): see reuse_across_arithmetics.
# experiments/incumbent-drift/ measured the shipped genome (14,600 steps at batch 32): trained
# again as an AVX2-only machine computes (OpenBLAS's Haswell kernel, numpy's loops at X86_V3)
# and, by a search, on SkylakeX, its held-out loss moved by at most 2e-14 and the judge's score
# of its names not at all. The tolerance is 1e-7: ten thousand times below the spread of its
# scorings over the final's seeds (0.0016 in held-out loss, 0.014 in judge score), so a
# decision cannot turn on it, and ten million times above the drift measured.
INCUMBENT_REUSE_TOLERANCE = 1e-7


def numpy_version():
    """numpy's version, without importing it (the Val engine runs without numpy)."""
    if 'numpy' in sys.modules:
        return sys.modules['numpy'].__version__
    from importlib import metadata
    try:
        return metadata.version('numpy')
    except metadata.PackageNotFoundError:
        return None


def cpu_model():
    """The CPU's name as the kernel reports it (x86 'model name', arm 'CPU part'), else
    platform.processor()."""
    try:
        with open('/proc/cpuinfo') as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(':')
                if key.strip() in ('model name', 'Hardware', 'CPU part') and value.strip():
                    return value.strip()
    except OSError:
        pass
    return platform.processor() or None


def simd_level():
    """The SIMD targets numpy found on this CPU and dispatches its loops to (exp, log, ...
    round differently on each), e.g. ['X86_V3', 'X86_V4', 'AVX512_ICL']."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        try:
            from numpy.core import _multiarray_umath as umath
        except ImportError:
            return None
    features = getattr(umath, '__cpu_features__', {})
    return [name for name in getattr(umath, '__cpu_dispatch__', []) if features.get(name)]


NO_BLAS = dict(blas=None, blas_version=None, blas_kernel=None, blas_threads=None)


def blas_info():
    """The BLAS numpy has loaded: library, version, kernel (OpenBLAS's core type) and
    threads, read by threadpoolctl; None fields where it cannot tell."""
    import numpy  # noqa: F401  (threadpoolctl reports only libraries already loaded)
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return dict(NO_BLAS)
    blas = [lib for lib in threadpool_info() if lib.get('user_api') == 'blas']
    if not blas:
        return dict(NO_BLAS)
    lib = blas[0]
    return dict(blas=lib.get('internal_api'), blas_version=lib.get('version'),
                blas_kernel=lib.get('architecture'), blas_threads=lib.get('num_threads'))


# The SIMD width of every x86-64 OpenBLAS kernel a CPU may pick for itself: a kernel of another
# width sums a product's terms in another order, as a machine of another kind would.
KERNEL_SIMD_WIDTH = {'Nehalem': 128, 'Core2': 128, 'Penryn': 128, 'Barcelona': 128, 'Sandybridge': 256,
                     'Haswell': 256, 'Zen': 256, 'SkylakeX': 512, 'Cooperlake': 512, 'SapphireRapids': 512}


def machine(with_blas=True):
    """This machine as far as results depend on it. with_blas=False leaves out numpy's SIMD
    and BLAS (None): the Val engine uses neither, and need not load numpy to say so."""
    numpy_fields = dict(simd=simd_level(), **blas_info()) if with_blas else dict(simd=None, **NO_BLAS)
    return dict(cpu=cpu_model(), arch=platform.machine(), numpy=numpy_version(), **numpy_fields,
                libc=' '.join(platform.libc_ver()).strip() or None,
                openblas_coretype=os.environ.get('OPENBLAS_CORETYPE'))


def arithmetic(record):
    """The part of a machine record that decides the numpy engine's bits."""
    return {name: (record or {}).get(name) for name in ARITHMETIC_FIELDS}


def same_arithmetic(recorded, current):
    """True when both records are complete and promise the same bits."""
    a, b = arithmetic(recorded), arithmetic(current)
    return None not in a.values() and a == b


def describe_arithmetic(record):
    a = arithmetic(record)
    if None in a.values():
        return 'an unrecorded machine'
    return (f"{a['arch']} numpy {a['numpy']} ({(a['simd'] or ['baseline'])[-1]}), "
            f"{a['blas']} {a['blas_version']} {a['blas_kernel']} kernel, {a['blas_threads']} thread(s)")


def cross_machine_tolerance(steps, dtype='float64', batch_size=1):
    """The stated bound on a final validation loss's drift between arithmetics for a run of
    this many steps (in float64, one document or a batch a step, or the numpy engine's
    float32), or None beyond the longest run measured."""
    if dtype == 'float32':
        table = CROSS_MACHINE_TOLERANCE_FLOAT32
    else:
        table = CROSS_MACHINE_TOLERANCE_BATCHED if batch_size > 1 else CROSS_MACHINE_TOLERANCE
    for longest, tolerance in table:
        if steps <= longest:
            return tolerance
    return None


def replay_tolerance(steps, recorded, current, dtype='float64', batch_size=1):
    """(tolerance, case) for replaying a run recorded on `recorded` here (`current`): 0.0
    ('bit for bit') when the arithmetic is the same, else the cross-machine bound."""
    if same_arithmetic(recorded, current):
        return 0.0, 'bit for bit: same arithmetic'
    return cross_machine_tolerance(steps, dtype, batch_size), (f"within the cross-machine tolerance: recorded on "
                                            f"{describe_arithmetic(recorded)}, replayed on "
                                            f"{describe_arithmetic(current)}")


def arithmetic_kind(record):
    """What of an arithmetic a run's drift depends on, as measured: the architecture, the BLAS,
    its kernel's SIMD width (KERNEL_SIMD_WIDTH; None for a kernel of unknown width), its
    threads, numpy's major version and the widest SIMD target numpy's loops dispatch to."""
    a = arithmetic(record)
    widths = {name.lower(): width for name, width in KERNEL_SIMD_WIDTH.items()}
    return (a['arch'], a['blas'], widths.get(str(a['blas_kernel']).lower()), a['blas_threads'],
            str(a['numpy']).split('.')[0], (a['simd'] or ['baseline'])[-1])


# each part of an arithmetic's kind, as a reason names it
KIND_TEXTS = ('on {}', 'with {}', 'on the {} kernel', 'with {} BLAS threads', 'with numpy {}',
              "with numpy's loops at {}")


def reuse_across_arithmetics(recorded, current, drift):
    """Why scores a genome's record holds, computed on arithmetic `recorded` with the measured
    `drift` (genome_record.py), may not stand for training it here on `current`; None when
    they may: the same arithmetic, or a measured drift within INCUMBENT_REUSE_TOLERANCE over
    arithmetics of this machine's kind (arithmetic_kind: the same architecture, BLAS, kernel
    SIMD width, BLAS threads, numpy major version and numpy SIMD target as one measured)."""
    if same_arithmetic(recorded, current):
        return None
    if drift is None:
        return "its drift across arithmetics was not measured"
    largest = max(d for d in (drift['val_loss'], drift['score']) if d is not None)
    if largest > INCUMBENT_REUSE_TOLERANCE:
        return f"its measured drift across arithmetics ({largest:.2g}) exceeds {INCUMBENT_REUSE_TOLERANCE:g}"
    if None in arithmetic(current).values():
        return "this machine's arithmetic is not fully known"
    measured = [arithmetic_kind(a) for a in [recorded] + drift['arithmetics']]
    kind = arithmetic_kind(current)
    if kind in measured:
        return None
    for k, text in enumerate(KIND_TEXTS):
        if kind[k] not in {m[k] for m in measured}:
            kernel = arithmetic(current)['blas_kernel']
            value = (f"{kernel} ({kind[k]}-bit)" if kind[k] else f"{kernel} (unknown width)") if k == 2 else kind[k]
            return f"its drift was not measured {text.format(value)}"
    return "its drift was not measured on this combination of them"
