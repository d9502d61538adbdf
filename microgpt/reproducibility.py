"""What a result's bits depend on, and how far they may move on another machine (the contract and
the measurements: docs/pages/reproducibility.md). The Val engine's bits are the original's wherever exp,
log and pow are glibc's; the numpy engine's are the same for one *arithmetic* (numpy, its SIMD targets,
the BLAS, its kernel and threads) and agree across arithmetics within the tolerances below.
"""
import os
import platform
import sys

# (longest run in steps, bound on the drift of its final validation loss): twice the largest spread
# measured by replaying shipped runs under other OpenBLAS kernels and thread counts, rounded up, never
# below 1e-8; a run longer than the last row has no stated bound. One document a step
# (benchmarks/drift.py, experiments/drift.json):
CROSS_MACHINE_TOLERANCE = ((13_000, 1e-8), (15_000, 2e-3), (17_000, 3e-3), (19_000, 2e-2), (21_000, 8e-2))
# mini-batch float64 runs, which leave one trajectory far sooner (experiments/batched-drift/), for a
# held-out loss or a judge score alike:
CROSS_MACHINE_TOLERANCE_BATCHED = ((952, 0.01), (1_000, 0.01), (4_240, 0.18), (8_635, 0.18))
# float32 (--dtype float32): the good-model recipe under three kernels (experiments/recipe/):
CROSS_MACHINE_TOLERANCE_FLOAT32 = ((6_500, 2e-2),)
# The fields of machine() that decide the numpy engine's bits.
ARITHMETIC_FIELDS = ('arch', 'numpy', 'simd', 'blas', 'blas_version', 'blas_kernel', 'blas_threads')

# A genome's recorded scorings made on another arithmetic stand for training it again when its measured drift
# is at most this on arithmetics of this machine's kind (reuse_across_arithmetics). The shipped genome moved by
# at most 2e-14 (experiments/incumbent-drift/); 1e-7 is far below the spread of its scorings over the final's seeds.
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
    """The CPU's name as the kernel reports it (x86 'model name', arm 'CPU part'), else platform.processor()."""
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
    """The SIMD targets numpy dispatches its loops to on this CPU (exp, log, ... round differently on each)."""
    try:
        from numpy._core import _multiarray_umath as umath
    except ImportError:  # numpy 1.x
        try:
            from numpy.core import _multiarray_umath as umath
        except ImportError:
            return None
    features = getattr(umath, '__cpu_features__', {})
    return [name for name in getattr(umath, '__cpu_dispatch__', []) if features.get(name)]


def blas_info():
    """The BLAS numpy has loaded (library, version, kernel: OpenBLAS's core type, threads), None where unknown."""
    import numpy  # threadpoolctl reports only libraries already loaded
    from threadpoolctl import threadpool_info  # a dependency of microgpt: it says which BLAS numpy runs on
    del numpy
    lib = next((lib for lib in threadpool_info() if lib.get('user_api') == 'blas'), {})
    return dict(blas=lib.get('internal_api'), blas_version=lib.get('version'),
                blas_kernel=lib.get('architecture'), blas_threads=lib.get('num_threads'))


# The SIMD width of every x86-64 OpenBLAS kernel a CPU may pick for itself: a kernel of another
# width sums a product's terms in another order, as a machine of another kind would.
KERNEL_SIMD_WIDTH = {'Nehalem': 128, 'Core2': 128, 'Penryn': 128, 'Barcelona': 128, 'Sandybridge': 256,
                     'Haswell': 256, 'Zen': 256, 'SkylakeX': 512, 'Cooperlake': 512, 'SapphireRapids': 512}


def machine(with_blas=True):
    """This machine as far as results depend on it; with_blas=False leaves numpy's SIMD and BLAS None (the Val
    engine uses neither, and need not load numpy to say so)."""
    numpy_fields = (dict(simd=simd_level(), **blas_info()) if with_blas
                    else dict.fromkeys(('simd', 'blas', 'blas_version', 'blas_kernel', 'blas_threads')))
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
    """The stated bound on a run's final validation loss's drift between arithmetics, None beyond the tables."""
    table = (CROSS_MACHINE_TOLERANCE_FLOAT32 if dtype == 'float32' else
             CROSS_MACHINE_TOLERANCE_BATCHED if batch_size > 1 else CROSS_MACHINE_TOLERANCE)
    return next((tolerance for longest, tolerance in table if steps <= longest), None)


def arithmetic_kind(record):
    """What of an arithmetic a run's drift depends on, as measured: the architecture, the BLAS, its kernel's
    SIMD width (None if unknown), its threads, numpy's major version and widest SIMD target."""
    a = arithmetic(record)
    widths = {name.lower(): width for name, width in KERNEL_SIMD_WIDTH.items()}
    return (a['arch'], a['blas'], widths.get(str(a['blas_kernel']).lower()), a['blas_threads'],
            str(a['numpy']).split('.')[0], (a['simd'] or ['baseline'])[-1])


# each part of an arithmetic's kind, as a reason names it
KIND_TEXTS = ('on {}', 'with {}', 'on the {} kernel', 'with {} BLAS threads', 'with numpy {}',
              "with numpy's loops at {}")


def reuse_across_arithmetics(recorded, current, drift):
    """Why a genome's recorded scores (made on `recorded`, with the measured `drift`) may not stand for training
    it on `current`; None when they may: the same arithmetic, or a small drift measured on one of its kind."""
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
