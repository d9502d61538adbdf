"""The numpy engine computes what the Val engine computes: gradients, Adam, logits, samples."""
import json
import os
import platform
import random
import subprocess
import sys

import numpy as np
import pytest

from conftest import REFERENCE

from microgpt.data import Tokenizer
from microgpt.errors import MicrogptError
from microgpt.files.checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from microgpt.gpt.engines import make_engine
from microgpt.gpt.engines.numpy_engine import NumpyEngine
from microgpt.gpt.engines.val import ValEngine
from microgpt.gpt.model import GPTConfig, init_state_dict
from microgpt.gpt.sampling import generate
from microgpt.reproducibility import cross_machine_tolerance
from microgpt.training.evaluation import mean_loss
from microgpt.training.run import Run, TrainConfig

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


def doc_batches(config, docs, tokenizer):
    """Each document alone, then batches of several documents of different lengths."""
    tokens = [tokenizer.doc_tokens(doc, config.block_size) for doc in docs]
    return [[t] for t in tokens] + [tokens, tokens[::-1], tokens[2:4], [tokens[3], tokens[3]]]


def assert_same_gradients(fast, val):
    val_grads, fast_grads = val.gradients(), fast.gradients()
    assert list(fast_grads) == list(val_grads)
    for name in val_grads:
        assert_close(fast_grads[name], val_grads[name])


@pytest.mark.parametrize('seed', range(12))
def test_gradients_equal_the_val_engine(seed):
    config, state, docs = random_setup(seed)
    tokenizer = Tokenizer(CHARS)
    for batch in doc_batches(config, docs, tokenizer):
        val, fast = ValEngine(config, state), NumpyEngine(config, state)
        assert_close(fast.loss_and_backward(batch), val.loss_and_backward(batch))
        assert_same_gradients(fast, val)


def test_batch_loss_is_the_mean_over_all_tokens():
    config, state, docs = random_setup(3)
    tokenizer = Tokenizer(CHARS)
    batch = [tokenizer.doc_tokens(doc, config.block_size) for doc in docs]
    per_doc = [(NumpyEngine(config, state).loss_and_backward([tokens]), len(tokens) - 1) for tokens in batch]
    expected = sum(loss * n for loss, n in per_doc) / sum(n for _, n in per_doc)
    assert NumpyEngine(config, state).loss_and_backward(batch) == pytest.approx(expected, rel=1e-12)


def test_padding_contributes_nothing():
    """A short document's gradient is the same alone as beside a longer one (up to weights)."""
    config, state, docs = random_setup(4)
    tokenizer = Tokenizer(CHARS)
    short, long = (tokenizer.doc_tokens(doc, config.block_size) for doc in (docs[1], docs[4]))
    together, alone = NumpyEngine(config, state), NumpyEngine(config, state)
    together.loss_and_backward([short, long])
    alone.loss_and_backward([short])
    alone.loss_and_backward([long])  # accumulates: now the sum of the two documents' means
    n_short, n_long = len(short) - 1, len(long) - 1
    n = n_short + n_long
    alone_grads = alone.gradients()
    separately = NumpyEngine(config, state)
    separately.loss_and_backward([long])
    long_grads = separately.gradients()
    for name, grad in together.gradients().items():
        a, l = np.array(alone_grads[name]), np.array(long_grads[name])
        # (n_short * g_short + n_long * g_long) / n, with g_short = a - l
        np.testing.assert_allclose(grad, (n_short * (a - l) + n_long * l) / n, rtol=1e-9, atol=1e-15)


def test_gradients_accumulate_until_the_adam_step():
    config, state, docs = random_setup(100)
    tokenizer = Tokenizer(CHARS)
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    for doc in docs[2:4]:
        tokens = tokenizer.doc_tokens(doc, config.block_size)
        val.loss_and_backward([tokens])
        fast.loss_and_backward([tokens])
    assert_same_gradients(fast, val)
    fast.adam_step(0.01, 1)
    assert not np.any(np.array([x for rows in fast.gradients().values() for row in rows for x in row]))


@pytest.mark.parametrize('seed', range(3))
def test_training_steps_equal_the_val_engine(seed):
    config, state, docs = random_setup(seed + 50)
    tokenizer = Tokenizer(CHARS)
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    batches = doc_batches(config, docs, tokenizer)
    for t, batch in enumerate(batches * 2, start=1):
        assert_close(fast.train_step(batch, 0.02, t), val.train_step(batch, 0.02, t))
    for name, weights in val.state_dict().items():
        assert_close(fast.state_dict()[name], weights)
    for key, moments in val.optimizer_state().items():
        for name, rows in moments.items():
            assert_close(fast.optimizer_state()[key][name], rows)


def flat_gradient(engine):
    return np.array([x for rows in engine.gradients().values() for row in rows for x in row])


@pytest.mark.parametrize('engine_class', [NumpyEngine, ValEngine])
def test_clip_grad_norm(engine_class):
    config, state, docs = random_setup(8)
    batch = [Tokenizer(CHARS).doc_tokens(doc, config.block_size) for doc in docs]
    engine = engine_class(config, state)
    engine.loss_and_backward(batch)
    before = flat_gradient(engine)
    norm = float(np.linalg.norm(before))
    # at or below the limit: nothing changes
    assert engine.clip_grad_norm(norm * 2) == pytest.approx(norm, rel=1e-12)
    assert np.array_equal(flat_gradient(engine), before)
    # above: the norm after is at most max_norm, the direction is kept
    max_norm = norm / 3
    assert engine.clip_grad_norm(max_norm) == pytest.approx(norm, rel=1e-12)
    after = flat_gradient(engine)
    assert np.linalg.norm(after) <= max_norm
    assert np.linalg.norm(after) == pytest.approx(max_norm, rel=1e-5)
    np.testing.assert_allclose(after, before * (np.linalg.norm(after) / norm), rtol=1e-12, atol=1e-18)


def test_clip_grad_norm_agrees_across_engines():
    config, state, docs = random_setup(9)
    batch = [Tokenizer(CHARS).doc_tokens(doc, config.block_size) for doc in docs]
    val, fast = ValEngine(config, state), NumpyEngine(config, state)
    val.loss_and_backward(batch)
    fast.loss_and_backward(batch)
    assert_close(fast.clip_grad_norm(0.1), val.clip_grad_norm(0.1))
    assert_same_gradients(fast, val)


def test_optimizer_state_round_trips():
    config, state, docs = random_setup(10)
    batch = [Tokenizer(CHARS).doc_tokens(doc, config.block_size) for doc in docs]
    engine = NumpyEngine(config, state)
    for t in (1, 2):
        engine.train_step(batch, 0.02, t)
    saved = json.loads(json.dumps(engine.optimizer_state()))
    assert set(saved) == {'m', 'v'}
    assert list(saved['m']) == [name for name, _ in config.param_shapes()]
    for engine_class in (NumpyEngine, ValEngine):
        other = engine_class(config, engine.state_dict())
        other.load_optimizer_state(saved)
        assert other.optimizer_state() == saved


def test_optimizer_state_is_the_originals_form():
    """After one step from zero: m = (1 - b1) g and v = (1 - b2) g**2."""
    from microgpt.gpt.optim import BETA1, BETA2
    config, state, docs = random_setup(11)
    batch = [Tokenizer(CHARS).doc_tokens(docs[3], config.block_size)]
    engine = NumpyEngine(config, state)
    engine.loss_and_backward(batch)
    g = flat_gradient(engine)
    engine.adam_step(0.01, 1)
    moments = engine.optimizer_state()
    m = np.array([x for rows in moments['m'].values() for row in rows for x in row])
    v = np.array([x for rows in moments['v'].values() for row in rows for x in row])
    assert np.array_equal(m, (1 - BETA1) * g) and np.array_equal(v, (1 - BETA2) * (g * g))


def train_losses(engine, batches, lr, start_t):
    return [engine.train_step(batch, lr, t) for t, batch in enumerate(batches, start=start_t)]


@pytest.mark.kernel
@pytest.mark.parametrize('first, second', [('numpy', 'numpy'), ('val', 'numpy'), ('numpy', 'val'), ('val', 'val')])
def test_run_split_in_two_halves_resumes_exactly(first, second):
    config, state, docs = random_setup(12)
    tokenizer = Tokenizer(CHARS)
    tokens = [tokenizer.doc_tokens(doc, config.block_size) for doc in docs]
    batches = [[t] for t in tokens] + [tokens[:3], tokens[2:]] + [[t] for t in tokens[::-1]]
    half = len(batches) // 2
    whole = train_losses(make_engine(first, config, state), batches, 0.03, 1)
    engine = make_engine(first, config, state)
    losses = train_losses(engine, batches[:half], 0.03, 1)
    saved = json.loads(json.dumps(dict(weights=engine.state_dict(), optimizer=engine.optimizer_state())))
    resumed = make_engine(second, config, saved['weights'])
    resumed.load_optimizer_state(saved['optimizer'])
    losses += train_losses(resumed, batches[half:], 0.03, half + 1)
    if first == second:
        assert losses == whole
    else:
        assert_close(losses, whole)


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
        full = fast.forward(fast.batch([tokens[:pos + 1] + [0]]))  # [0]: a target, unused
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


@pytest.mark.kernel
@pytest.mark.parametrize('train_engine, sample_engine', [('numpy', 'val'), ('val', 'numpy')])
def test_checkpoint_trained_on_one_engine_samples_the_same_on_the_other(
        train_engine, sample_engine, names_docs, tmp_path):
    run = Run(names_docs[:300], seed=5, arch=dict(n_embd=8, n_head=2, block_size=8), engine_name=train_engine)
    run.train(TrainConfig(num_steps=4, learning_rate=0.02))
    path = tmp_path / 'model.ckpt.json'
    save_checkpoint(path, Checkpoint(run.config, run.tokenizer.chars, run.engine.state_dict(), {}))
    loaded = load_checkpoint(path)
    samples = {name: list(generate(make_engine(name, loaded.config, loaded.state_dict), loaded.tokenizer,
                                   random.Random(9), 6, temperature=0.8))
               for name in (train_engine, sample_engine)}
    assert samples[train_engine] == samples[sample_engine]
    assert len(set(samples[train_engine])) > 1


@pytest.mark.kernel
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


def test_blas_threads_default_to_one_unless_set(tmp_path):
    code = "import microgpt, os; print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])"
    env = {k: v for k, v in os.environ.items() if k not in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS')}
    default = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True, cwd=tmp_path)
    chosen = subprocess.run([sys.executable, '-c', code], env={**env, 'OPENBLAS_NUM_THREADS': '2'},
                            capture_output=True, text=True, cwd=tmp_path)
    assert default.stdout.split() == ['1', '1'] and chosen.stdout.split() == ['2', '1']
    all_set = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                             env={**env, 'OPENBLAS_NUM_THREADS': '2', 'OMP_NUM_THREADS': '3', 'MKL_NUM_THREADS': '4'})
    assert all_set.stdout.split() == ['2', '3'], all_set.stderr


THREADS_PROBE = """
import json, random, sys
from microgpt.data import Tokenizer
from microgpt.gpt.engines.numpy_engine import NumpyEngine
from microgpt.gpt.model import GPTConfig, init_state_dict
from microgpt.training.run import Run, TrainConfig
run = Run([l.strip() for l in open(sys.argv[1]) if l.strip()][:2000], seed=3)
losses = run.train(TrainConfig(num_steps=40, learning_rate=0.01))
# a wider model and a batch of 32: products large enough for OpenBLAS to use its threads
config = GPTConfig(vocab_size=run.config.vocab_size, n_embd=64, n_head=4, n_layer=2)
engine = NumpyEngine(config, init_state_dict(config, random.Random(1)))
docs = [run.tokenizer.doc_tokens(doc, config.block_size) for doc in run.docs]
losses += [engine.train_step(docs[i * 32:(i + 1) * 32], 0.01, i + 1) for i in range(4)]
print(json.dumps([run.engine.state_dict()['wte'][0], losses]))
"""


def run_probe(names_path, tmp_path, **env):
    done = subprocess.run([sys.executable, '-c', THREADS_PROBE, str(names_path)], capture_output=True,
                          text=True, cwd=tmp_path, env={**os.environ, **env}, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.kernel
def test_runs_repeat_bit_for_bit_on_one_arithmetic(names_path, tmp_path):
    """The same BLAS kernel and thread count: the same bits, run after run."""
    assert run_probe(names_path, tmp_path, OPENBLAS_NUM_THREADS='2') == \
        run_probe(names_path, tmp_path, OPENBLAS_NUM_THREADS='2')


# another OpenBLAS kernel than the one the CPU would pick, per architecture
OTHER_KERNEL = {'x86_64': 'Nehalem', 'amd64': 'Nehalem', 'aarch64': 'ARMV8', 'arm64': 'ARMV8'}


# Two threads on the kernel the session runs on: under CI's forced kernels too. The other kernel
# is forced here whatever the session's, so it runs once.
@pytest.mark.parametrize('env', [pytest.param(dict(OPENBLAS_NUM_THREADS='2'), marks=pytest.mark.kernel),
                                 dict(OPENBLAS_CORETYPE=OTHER_KERNEL.get(platform.machine().lower(), ''))],
                         ids=['two-threads', 'other-kernel'])
def test_other_threads_or_kernel_move_the_losses_within_the_tolerance(names_path, tmp_path, env):
    """Threads and kernels round products in other orders: the losses may move, but no more
    than the cross-machine tolerance for a run of this length."""
    base_weights, base_losses = run_probe(names_path, tmp_path, OPENBLAS_NUM_THREADS='1')
    weights, losses = run_probe(names_path, tmp_path, **{'OPENBLAS_NUM_THREADS': '1', **env})
    tolerance = cross_machine_tolerance(len(losses))
    assert max(abs(a - b) for a, b in zip(losses, base_losses)) <= tolerance
    assert max(abs(a - b) for a, b in zip(weights, base_weights)) <= tolerance


def test_primordial_lines_are_the_originals_under_another_kernel(names_path, tmp_path):
    """The printed lines (4 decimals) do not move under another BLAS kernel and thread count."""
    kernel = OTHER_KERNEL.get(platform.machine().lower(), '')
    done = subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--primordial', '--steps', '100',
                           '--data', str(names_path), '--out', str(tmp_path / 'c.json')],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env={**os.environ, 'OPENBLAS_CORETYPE': kernel, 'OPENBLAS_NUM_THREADS': '2'})
    assert done.returncode == 0, done.stderr
    assert done.stdout == (REFERENCE / 'default-100-steps.txt').read_text()
