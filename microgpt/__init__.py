"""microgpt: a GPT trained and sampled through a tiny scalar autograd engine.

The names a learner needs, from the atom up (docs/pages/api.md): `Val`, the scalar that remembers how it
was made, and `draw_dot`, its graph's picture; `GPT`, `GPTConfig` and `Tokenizer`, the model over Vals and
characters as ids; `Run`, `TrainConfig` and `load_names`, one seeded training run on the names; `generate`,
names sampled from a model; `predict_next`, `surprisal` and `trace_sample`, what the model predicts.

The run `microgpt train --primordial` makes, from Python: every default is the original
microgpt.py's, so this is its run, to its final loss and its first samples.

>>> from microgpt import Run, TrainConfig, load_names
>>> run = Run(load_names())                       # seed 42: its shuffle, then its init
>>> losses = run.train(TrainConfig(num_steps=1000))
>>> print(f"{losses[-1]:.5f}")
2.64969
>>> run.sample(3)                                 # temperature 0.5
['kamon', 'ann', 'karai']
"""
import os

# One BLAS/OpenMP thread unless the user chose otherwise: the arrays are tiny, and idle
# OpenBLAS threads spin, burning a second core for nothing. Set before numpy is imported
# (it reads these once, as it loads OpenBLAS); the losses do not depend on them.
THREAD_VARIABLES = ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
THREAD_VARIABLES_DEFAULTED = tuple(name for name in THREAD_VARIABLES if name not in os.environ)
os.environ.update(dict.fromkeys(THREAD_VARIABLES_DEFAULTED, '1'))

__version__ = '0.1.0'

# The drawing (viz) is loaded only when asked for, so that training never imports a viewer.
from .data import Tokenizer, load_names  # noqa: E402
from .gpt.autograd import Val  # noqa: E402
from .gpt.model import GPT, GPTConfig  # noqa: E402
from .gpt.sampling import generate  # noqa: E402
from .predictions import predict_next, surprisal, trace_sample  # noqa: E402
from .training.run import Run, TrainConfig  # noqa: E402

__all__ = ['Val', 'draw_dot', 'GPT', 'GPTConfig', 'Tokenizer', 'Run', 'TrainConfig', 'load_names', 'generate',
           'predict_next', 'surprisal', 'trace_sample']


def __getattr__(name):
    if name == 'draw_dot':
        from .viz.graph import draw_dot
        return draw_dot
    raise AttributeError(f"module 'microgpt' has no attribute {name!r}")


def _draw_for_jupyter(val):
    """A Val's picture in Jupyter (viz.graph.jupyter_svg), loaded when first shown."""
    from .viz.graph import jupyter_svg
    return jupyter_svg(val)


Val.drawer = _draw_for_jupyter
