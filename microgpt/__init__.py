"""microgpt: a GPT trained and sampled through a tiny scalar autograd engine.

The names a learner needs, from the atom up:

- `Val`, the scalar that remembers how it was made, and `draw_dot`, the picture of a Val's graph;
- `GPT` and `GPTConfig`, the model written over Vals, and `Tokenizer`, characters as ids;
- `Run` and `TrainConfig`, one seeded training run, and `load_names`, the names it trains on;
- `generate`, names sampled from a trained model (`Run.sample` does it for a run);
- `predict_next`, `surprisal` and `trace_sample`, what the model predicts: the next
  character's probabilities after a prefix, how surprised it is by each letter of a name, and
  a sample drawn step by step.

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

# The learner's names. The CLI imports all of these modules anyway; the drawing (viz) is
# loaded only when asked for, so that training never imports a viewer.
from .autograd import Val  # noqa: E402
from .data import Tokenizer, load_names  # noqa: E402
from .model import GPT, GPTConfig  # noqa: E402
from .predictions import predict_next, surprisal, trace_sample  # noqa: E402
from .sampling import generate  # noqa: E402
from .training import Run, TrainConfig  # noqa: E402

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
