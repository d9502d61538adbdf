"""microgpt: a GPT trained and sampled through a tiny scalar autograd engine."""
import os

# One BLAS/OpenMP thread unless the user chose otherwise: the arrays are tiny, and idle
# OpenBLAS threads spin, burning a second core for nothing. Set before numpy is imported
# (it reads these once, as it loads OpenBLAS); the losses do not depend on them.
THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
THREAD_VARIABLES_DEFAULTED = tuple(name for name in THREAD_VARIABLES if name not in os.environ)
os.environ.update(dict.fromkeys(THREAD_VARIABLES_DEFAULTED, '1'))

__version__ = '0.1.0'
