"""The numpy engine computes what the Val engine computes: gradients, Adam, logits, samples."""
import random
import subprocess
import sys

import numpy as np
import pytest

from microgpt.checkpoint import load_checkpoint, save_checkpoint
from microgpt.data import Tokenizer
from microgpt.engines import make_engine
from microgpt.engines.numpy_engine import NumpyEngine
from microgpt.engines.val import ValEngine
from microgpt.errors import MicrogptError
from microgpt.evaluation import mean_loss
from microgpt.model import GPTConfig, init_state_dict
from microgpt.sampling import generate
from microgpt.training import Run

CHARS = 'abcdefg'


def random_setup(seed, std=0.3):
    """A random small config, its weights, and documents shorter and longer than block_size."""
    rng = random.Random(seed)
    n_head = rng.randint(1, 4)
    config = GPTConfig(vocab_size=len(CHARS) + 1, n_embd=n_head * rng.randint(1, 3), n_head=n_head,
                       n_layer=rng.randint(1, 3), block_size=rng.choice([1, 2, 3, 5, 8]),
                       ff_mult=rng.randint(1, 4))
    docs = [''.join(rng.choice(CHARS) for _ in range(length))
            for length in (0, 1, config.block_size - 1, config.block_size, config.block_size + 3)]
    # a larger init than the default makes attention and ReLU patterns less uniform
    return config, init_state_dict(config, rng, std=std), docs


def assert_close(numpy_value, val_value, rel=1e-9):
    a, b = np.asarray(numpy_value, dtype=float), np.asarray(val_value, dtype=float)
    # relative to each value; the tiny floor is for gradients that are exactly zero in one
    # engine and a rounding residue (~1e-18) in the other
    assert np.all(np.abs(a - b) <= rel * np.abs(b) + 1e-15), np.max(np.abs(a - b) / (np.abs(b) + 1e-300))


@pytest.mark.parametrize('seed', range(12))
def test_gradients_equal_the_val_engine(seed):
    config, state, docs = random_setup(seed)
    tokenizer = Tokenizer(CHARS)
    for doc in docs:
        tokens = tokenizer.doc_tokens(doc, config.block_size)
        val, fast = ValEngine(config, state), NumpyEngine(config, state)
        assert_close(fast.loss_and_backward([tokens]), val.loss_and_backward([tokens]))
        val_grads, fast_grads = val.gradients(), fast.gradients()
        assert list(fast_grads) == list(val_grads)
        for name in val_grads:
            assert_close(fast_grads[name], val_grads[name])


def test_gradients_accumulate_until_the_adam_step():
    config, state, docs = random_setup(100)
    tokenizer = Tokenizer(CHARS)
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    for doc in docs[2:4]:
        tokens = tokenizer.doc_tokens(doc, config.block_size)
        val.loss_and_backward([tokens])
        fast.loss_and_backward([tokens])
    for name, grad in val.gradients().items():
        assert_close(fast.gradients()[name], grad)
    fast.adam_step(0.01, 1)
    assert not np.any(np.array([x for rows in fast.gradients().values() for row in rows for x in row]))


@pytest.mark.parametrize('seed', range(3))
def test_training_steps_equal_the_val_engine(seed):
    config, state, docs = random_setup(seed + 50)
    tokenizer = Tokenizer(CHARS)
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    for t, doc in enumerate(docs * 2, start=1):
        tokens = tokenizer.doc_tokens(doc, config.block_size)
        assert_close(fast.train_step([tokens], 0.02, t), val.train_step([tokens], 0.02, t))
    for name, weights in val.state_dict().items():
        assert_close(fast.state_dict()[name], weights)


def test_state_dict_round_trips_exactly():
    config, state, _ = random_setup(7)
    assert NumpyEngine(config, state).state_dict() == state


@pytest.mark.parametrize('seed', range(4))
def test_kv_cache_logits_equal_a_full_recompute(seed):
    config, state, _ = random_setup(seed, std=0.5)
    rng = random.Random(seed)
    tokens = [rng.randrange(config.vocab_size) for _ in range(config.block_size)]
    fast, val = NumpyEngine(config, state), ValEngine(config, state)
    fast_cache, val_cache = fast.new_cache(), val.new_cache()
    for pos, token in enumerate(tokens):
        cached = fast.logits(token, pos, fast_cache)
        full, _ = fast.forward(np.array(tokens[:pos + 1]), keep_tape=False)
        assert_close(cached, full[-1], rel=1e-12)
        assert_close(cached, val.logits(token, pos, val_cache), rel=1e-12)


def per_document_mean(config, state, tokenizer, docs):
    """The same quantity, document by document, on the Val engine."""
    engine = ValEngine(config, state)
    total = count = 0
    for doc in docs:
        tokens = tokenizer.doc_tokens(doc, config.block_size)
        total += engine.model.loss([tokens]).data * (len(tokens) - 1)
        count += len(tokens) - 1
    return total / count


@pytest.mark.parametrize('seed', range(4))
def test_batched_evaluation_equals_per_document_loss(seed):
    config, state, docs = random_setup(seed)
    tokenizer = Tokenizer(CHARS)
    rng = random.Random(seed)
    docs = docs + [''.join(rng.choice(CHARS) for _ in range(rng.randint(0, 12))) for _ in range(9)]
    expected = per_document_mean(config, state, tokenizer, docs)
    for batch_size in (1, 3, 256):
        assert mean_loss(NumpyEngine(config, state), tokenizer, docs, batch_size=batch_size) == \
            pytest.approx(expected, rel=1e-12)
    # any engine: the Val engine's model is evaluated through its state_dict
    assert mean_loss(ValEngine(config, state), tokenizer, docs) == pytest.approx(expected, rel=1e-12)


def test_batched_evaluation_weights_tokens_not_documents():
    config = GPTConfig(vocab_size=len(CHARS) + 1, n_embd=4, n_head=2, block_size=8)
    state = init_state_dict(config, random.Random(3), std=0.3)
    tokenizer = Tokenizer(CHARS)
    docs = ['a', 'abcdefgabcdefg']
    per_doc = [per_document_mean(config, state, tokenizer, [doc]) for doc in docs]
    together = mean_loss(NumpyEngine(config, state), tokenizer, docs)
    assert together != pytest.approx(sum(per_doc) / 2, rel=1e-9)
    assert together == pytest.approx(per_document_mean(config, state, tokenizer, docs), rel=1e-12)


@pytest.mark.parametrize('docs, batch_size, message', [
    ([], 8, 'no documents'), (['abz'], 8, "'z'"), (['ab'], 0, 'batch_size')])
def test_batched_evaluation_refuses_bad_input(docs, batch_size, message):
    config, state, _ = random_setup(1)
    with pytest.raises(MicrogptError, match=message):
        mean_loss(NumpyEngine(config, state), Tokenizer(CHARS), docs, batch_size=batch_size)


@pytest.mark.parametrize('train_engine, sample_engine', [('numpy', 'val'), ('val', 'numpy')])
def test_checkpoint_trained_on_one_engine_samples_the_same_on_the_other(
        train_engine, sample_engine, names_docs, tmp_path):
    run = Run(names_docs[:300], seed=5, arch=dict(n_embd=8, n_head=2, block_size=8), engine_name=train_engine)
    run.train(4, 0.02)
    path = tmp_path / 'model.ckpt.json'
    save_checkpoint(path, run.config, run.tokenizer, run.engine.state_dict(), {})
    loaded = load_checkpoint(path)
    samples = {name: list(generate(make_engine(name, loaded.config, loaded.state_dict), loaded.tokenizer,
                                   random.Random(9), 6, temperature=0.8))
               for name in (train_engine, sample_engine)}
    assert samples[train_engine] == samples[sample_engine]
    assert len(set(samples[train_engine])) > 1


def test_cli_trains_on_numpy_by_default_and_samples_on_val(names_path, tmp_path):
    ckpt = tmp_path / 'model.ckpt.json'
    common = [sys.executable, '-m', 'microgpt']
    train = subprocess.run([*common, 'train', '--data', str(names_path), '--steps', '3', '--samples', '0',
                            '--n-embd', '8', '--n-head', '2', '--out', str(ckpt)],
                           cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert train.returncode == 0, train.stderr
    assert 'numpy engine' in train.stderr
    outputs = [subprocess.run([*common, 'sample', '--checkpoint', str(ckpt), '--num', '5', '--engine', engine],
                              cwd=tmp_path, capture_output=True, text=True, timeout=120)
               for engine in ('val', 'numpy')]
    assert all(out.returncode == 0 for out in outputs), [out.stderr for out in outputs]
    assert outputs[0].stdout == outputs[1].stdout
    assert outputs[0].stdout.count('sample') == 5
