"""The Python API a learner meets: the names importable from `microgpt`, and the examples in
their docstrings, run as doctests (they train the original's run and check its bits' summary)."""
import doctest
import subprocess
import sys

import pytest

import microgpt
from microgpt import data, predictions
from microgpt.gpt import autograd
from microgpt.training import run as training
from microgpt.viz import graph

from conftest import REFERENCE, REPO

# The modules whose docstrings carry examples: each is run, and each must have some.
DOCUMENTED = (microgpt, autograd, data, graph, predictions)


@pytest.mark.parametrize('module', DOCUMENTED, ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result


def test_every_public_name_is_there_and_documented():
    assert len(microgpt.__all__) == len(set(microgpt.__all__))
    for name in microgpt.__all__:
        obj = getattr(microgpt, name)
        assert obj.__doc__ and obj.__doc__.strip(), name
    assert microgpt.Run is training.Run and microgpt.Val is autograd.Val and microgpt.draw_dot is graph.draw_dot
    with pytest.raises(AttributeError, match="no attribute 'drawdot'"):
        microgpt.drawdot


def test_every_operation_of_val_is_documented():
    public = [name for name, member in vars(autograd.Val).items()
              if callable(member) or isinstance(member, staticmethod)]
    undocumented = [name for name in public if not (getattr(autograd.Val, name).__doc__ or '').strip()
                    and name not in ('__init__', '__repr__')]
    assert undocumented == []
    assert {'tanh', '__rpow__', '__radd__', '__rsub__', '__rmul__', '__rtruediv__', '__neg__', '__sub__',
            '__truediv__', 'relu', 'exp', 'log', 'backward'} <= set(public)


def test_importing_microgpt_loads_no_viewer():
    script = ("import sys, microgpt\nfrom microgpt import Val, Run, TrainConfig, GPT, generate\n"
              "print(sorted(m for m in sys.modules if m.startswith(('microgpt.viz', 'matplotlib'))))")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '[]'


def test_run_samples_as_the_original_does_after_training(names_docs):
    run = microgpt.Run(names_docs)
    run.train(microgpt.TrainConfig(num_steps=50))
    original = [line.split(': ', 1)[1] for line in (REFERENCE / 'default-50-steps.txt').read_text().splitlines()
                if line.startswith('sample ')]
    assert run.sample(5) == original[:5]
    assert run.sample(2, prefix='em', temperature=1.0)[0].startswith('em')
