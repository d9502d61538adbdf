"""The Val engine ends training with the original microgpt.py's parameters, bit for bit.

The witnesses are the original's own parameters after three short runs of different shapes
(data/reference/weights-*.json, see data/reference/README.md): the default model; three
layers of width 8 with two heads, ff_mult 1 and block 8; width 20 with five heads, ff_mult 3
and block 12. Each run goes through `microgpt train --engine val` and every one of its
parameters must equal the original's (`==` on floats).
"""
import json
import platform
import subprocess
import sys
import warnings

import pytest

from conftest import REFERENCE
from microgpt.data import Tokenizer
from microgpt.files.checkpoint import load_checkpoint
from microgpt.gpt.engines.numpy_engine import NumpyEngine
from microgpt.gpt.engines.val import ValEngine
from microgpt.gpt.model import GPTConfig, init_state_dict

# The reference was made on x86-64 with glibc's libm. exp, log and pow round differently in
# other libms, so elsewhere the last bits can differ.
REFERENCE_LIBM = platform.machine().lower() in ('x86_64', 'amd64') and platform.libc_ver()[0] == 'glibc'

# weights file: (the `microgpt train` flags of its run, as data/reference/README.md gives them, its size)
REFERENCE_WEIGHTS = {
    'weights-default-50-steps.json': (['--steps', '50'], 4192),
    'weights-seed3-3layers-embd8-20-steps.json': (
        ['--seed', '3', '--n-layer', '3', '--n-embd', '8', '--n-head', '2', '--block-size', '8',
         '--ff-mult', '1', '--lr', '0.03', '--steps', '20'], 1648),
    'weights-seed123-embd20-head5-15-steps.json': (
        ['--seed', '123', '--n-embd', '20', '--n-head', '5', '--block-size', '12', '--ff-mult', '3',
         '--lr', '0.005', '--steps', '15'], 5320),
}


def flat(weights, names=None):
    return [x for name in (names or weights) for row in weights[name] for x in row]


def assert_reference_weights(weights, reference):
    expected = json.loads((REFERENCE / reference).read_text())
    assert list(weights) == list(expected)
    got, want = flat(weights), flat(expected)
    assert len(want) == REFERENCE_WEIGHTS[reference][1]
    if REFERENCE_LIBM:
        differ = sum(a != b for a, b in zip(got, want))
        assert got == want, f"{differ} of {len(want)} parameters differ from the original's"
    else:
        warnings.warn(f"not glibc on x86-64 ({platform.machine()}, {platform.libc_ver()[0] or 'no glibc'}, "
                      f"Python {platform.python_version()}): the reference bits come from glibc's "
                      "libm, so the weights are compared with a tolerance, not bit for bit")
        assert got == pytest.approx(want, rel=1e-6, abs=1e-9)


def train_val(names_path, tmp_path, flags):
    out = tmp_path / 'model.ckpt.json'
    result = subprocess.run(
        [sys.executable, '-m', 'microgpt', 'train', '--data', str(names_path), '--engine', 'val',
         '--primordial', '--samples', '0', '--out', str(out), *flags],
        cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return load_checkpoint(out)


@pytest.mark.parametrize('reference', sorted(REFERENCE_WEIGHTS))
def test_val_engine_training_reproduces_the_original_weights(reference, names_path, tmp_path):
    checkpoint = train_val(names_path, tmp_path, REFERENCE_WEIGHTS[reference][0])
    assert_reference_weights(checkpoint.state_dict, reference)


def test_a_changed_bit_is_caught(names_path, tmp_path):
    """The comparison is bit for bit: one parameter moved by one unit in the last place fails."""
    import math
    checkpoint = train_val(names_path, tmp_path, REFERENCE_WEIGHTS['weights-default-50-steps.json'][0])
    weights = checkpoint.state_dict
    weights['wte'][3][5] = math.nextafter(weights['wte'][3][5], math.inf)
    with pytest.raises(AssertionError):
        assert_reference_weights(weights, 'weights-default-50-steps.json')


@pytest.mark.parametrize('docs', [['emma'], ['ava', 'christopher', 'li'], ['x', 'y']])
def test_batch_gradients_agree_between_engines(docs):
    """A batch's gradient (the mean over all its tokens) on the Val engine and on the numpy
    engine, two independent implementations, agree to rounding."""
    import random
    tokenizer = Tokenizer('abcdefghijklmnopqrstuvwxyz')
    config = GPTConfig(vocab_size=tokenizer.vocab_size, n_embd=8, n_head=2, n_layer=2, block_size=6)
    batch = [tokenizer.doc_tokens(doc, config.block_size) for doc in docs]
    state = init_state_dict(config, random.Random(5))
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    assert val.loss_and_backward(batch) == pytest.approx(fast.loss_and_backward(batch), rel=1e-12)
    assert flat(val.gradients()) == pytest.approx(flat(fast.gradients()), rel=1e-9, abs=1e-12)
