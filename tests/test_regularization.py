"""Dropout and the weight average (ema): the same masks and numbers on every engine, their
own random streams (the original's stream untouched), off at evaluation and sampling, and
exact resumes."""
import random

import numpy as np
import pytest

from microgpt.cli import main
from microgpt.files import checkpoint as ckpt
from microgpt.gpt.dropout import step_masks
from microgpt.gpt.engines import make_engine
from microgpt.gpt.model import GPTConfig
from microgpt.training.evaluation import mean_loss
from microgpt.training.run import Run, TrainConfig

ARCH = dict(n_embd=8, n_head=2, n_layer=2, block_size=8)
TINY = ['--n-embd', '8', '--n-head', '2', '--n-layer', '2', '--block-size', '8']


def known(docs, others):
    """Those of `others` whose characters all occur in docs (the model has a token for them)."""
    chars = set(''.join(docs))
    return [doc for doc in others if set(doc) <= chars]


def trained(docs, engine, steps=6, **options):
    run = Run(docs, seed=3, arch=ARCH, engine_name=engine)
    losses = run.train(TrainConfig(num_steps=steps, batch_size=3, learning_rate=0.05, **options))
    return run, losses


# --- dropout ---------------------------------------------------------------------------------

def test_masks_are_their_own_stream_fixed_by_seed_and_step():
    config = GPTConfig(vocab_size=5, **ARCH)
    a, b = step_masks(0.3, 7, 2, [3, 7, 1], config), step_masks(0.3, 7, 2, [3, 7, 1], config)
    assert all(np.array_equal(x.attention, y.attention) and np.array_equal(x.mlp_out, y.mlp_out)
               for x, y in zip(a.layers, b.layers))
    other_step, other_seed = step_masks(0.3, 7, 3, [3, 7, 1], config), step_masks(0.3, 8, 2, [3, 7, 1], config)
    assert not np.array_equal(a.layers[0].attn_out, other_step.layers[0].attn_out)
    assert not np.array_equal(a.layers[0].attn_out, other_seed.layers[0].attn_out)
    first = a.layers[0]
    assert first.attention.shape == (3, 2, 7, 7) and first.attn_out.shape == first.mlp_out.shape == (11, 8)
    assert set(np.unique(first.attention)) == {0.0, 1 / 0.7}
    big = step_masks(0.3, 1, 0, [16] * 64, GPTConfig(vocab_size=5, n_embd=64, n_head=4, block_size=16))
    assert np.mean(big.layers[0].attention == 0) == pytest.approx(0.3, abs=0.01)


def test_dropout_leaves_the_originals_stream_and_init_alone(names_docs):
    docs = names_docs[:60]
    plain, _ = trained(docs, 'numpy')
    dropped, _ = trained(docs, 'numpy', dropout=0.3)
    assert plain.rng.getstate() == dropped.rng.getstate()
    assert plain.docs == dropped.docs
    fresh = Run(docs, seed=3, arch=ARCH)
    assert fresh.engine.state_dict() == Run(docs, seed=3, arch=ARCH).engine.state_dict()
    assert plain.engine.state_dict() != dropped.engine.state_dict()  # and dropout does something


def test_numpy_and_val_engines_drop_the_same_and_agree(names_docs):
    """Batches of documents of several lengths (padding), two layers: the same losses and
    weights within float tolerance; and different from training without dropout."""
    docs = names_docs[:60]
    (val, val_losses), (numpy_run, numpy_losses) = (trained(docs, e, dropout=0.3) for e in ('val', 'numpy'))
    np.testing.assert_allclose(numpy_losses, val_losses, rtol=1e-12)
    a, b = val.engine.state_dict(), numpy_run.engine.state_dict()
    for name in a:
        np.testing.assert_allclose(b[name], a[name], rtol=1e-9, atol=1e-12)
    _, plain_losses = trained(docs, 'numpy')
    assert plain_losses[0] != numpy_losses[0]


def test_the_torch_twin_drops_the_same(names_docs):
    pytest.importorskip('torch')
    from torch_twin import TorchEngine
    docs = names_docs[:60]
    run = Run(docs, seed=3, arch=ARCH)
    batch = run.batch(0, 4)
    masks = run.dropout_masks(0, batch, 0.3)
    state = run.engine.state_dict()
    numpy_loss = make_engine('numpy', run.config, state).loss_and_backward(batch, masks)
    torch_engine = TorchEngine(run.config, state)
    np.testing.assert_allclose(torch_engine.loss_and_backward(batch, masks), numpy_loss, rtol=1e-12)
    numpy_engine = make_engine('numpy', run.config, state)
    numpy_engine.loss_and_backward(batch, masks)
    ours, theirs = numpy_engine.gradients(), torch_engine.gradients()
    for name in ours:
        np.testing.assert_allclose(theirs[name], ours[name], rtol=1e-9, atol=1e-13)


def test_dropout_gradients_match_finite_differences(names_docs):
    run = Run(names_docs[:40], seed=5, arch=ARCH)
    batch = run.batch(0, 3)
    masks = run.dropout_masks(0, batch, 0.4)
    state = run.engine.state_dict()
    engine = make_engine('numpy', run.config, state)
    engine.loss_and_backward(batch, masks)
    grads = engine.gradients()
    rng, h = random.Random(0), 1e-6
    for name in ('layer0.attn_wq', 'layer1.attn_wv', 'layer0.attn_wo', 'layer1.mlp_fc1', 'layer1.mlp_fc2', 'wpe'):
        rows, cols = len(state[name]), len(state[name][0])
        for _ in range(3):
            r, c = rng.randrange(rows), rng.randrange(cols)
            losses = []
            for sign in (1, -1):
                moved = {k: [list(row) for row in v] for k, v in state.items()}
                moved[name][r][c] += sign * h
                losses.append(make_engine('numpy', run.config, moved).loss_and_backward(batch, masks))
            assert (losses[0] - losses[1]) / (2 * h) == pytest.approx(grads[name][r][c], rel=1e-5, abs=1e-9)


def test_evaluation_and_sampling_drop_nothing(names_docs):
    """The held-out loss of a model is the same whatever dropout it was set to train with."""
    docs = names_docs[:60]
    held_out = known(docs, names_docs[60:120])
    run = Run(docs, seed=3, arch=ARCH, held_out=held_out)
    before = run.evaluate()
    engine = make_engine('numpy', run.config, run.engine.state_dict())
    assert before == mean_loss(engine, run.tokenizer, held_out)
    run.train(TrainConfig(num_steps=1, batch_size=2, dropout=0.5, learning_rate=1e-300))  # weights unchanged
    assert run.engine.state_dict() == engine.state_dict() and run.evaluate() == before


def test_dropout_is_off_by_default_and_refused_out_of_range(runner, small_data):
    assert TrainConfig().dropout == 0.0 and TrainConfig().ema is None
    for flag, value in (('--dropout', '1'), ('--dropout', '-0.1'), ('--ema', '1'), ('--ema', '0')):
        result = runner.invoke(main, ['train', '--data', str(small_data), *TINY, flag, value])
        assert result.exit_code == 2 and 'Traceback' not in result.output, (flag, value)


# --- the weight average -------------------------------------------------------------------------

def test_the_average_is_the_same_on_both_engines_and_starts_at_the_init(names_docs):
    docs = names_docs[:60]
    init = Run(docs, seed=3, arch=ARCH).engine.flat_weights().copy()
    (val, _), (numpy_run, _) = (trained(docs, e, steps=4, ema=0.9) for e in ('val', 'numpy'))
    np.testing.assert_allclose(numpy_run.average.weights, val.average.weights, rtol=1e-10, atol=1e-14)
    # replayed by hand: average = 0.9 * average + 0.1 * weights after each step, from the init
    engine = make_engine('numpy', numpy_run.config, Run(docs, seed=3, arch=ARCH).engine.state_dict())
    run = Run(docs, seed=3, arch=ARCH)
    average = init.copy()
    cfg = TrainConfig(num_steps=4, batch_size=3, learning_rate=0.05)
    for step in range(4):
        engine.loss_and_backward(run.batch(step, 3))
        engine.adam_step(cfg.learning_rate_at(step), step + 1)
        average = 0.9 * average + (1 - 0.9) * engine.weights
    assert np.array_equal(average, numpy_run.average.weights)


def test_evaluation_and_samples_use_the_average(runner, small_data, names_docs):
    docs = names_docs[:60]
    held_out = known(docs, names_docs[60:120])
    run = Run(docs, seed=3, arch=ARCH, held_out=held_out)
    run.train(TrainConfig(num_steps=5, batch_size=3, learning_rate=0.05, ema=0.5))
    averaged = make_engine('numpy', run.config, run.average.state_dict(run.config))
    assert run.evaluate() == mean_loss(averaged, run.tokenizer, held_out)
    assert run.evaluate() != mean_loss(run.engine, run.tokenizer, held_out)
    # microgpt train samples with the average, and so does microgpt sample from its checkpoint
    args = ['train', '--data', str(small_data), *TINY, '--steps', '30', '--lr', '0.05', '--ema', '0.9', '--samples', '4']
    trained_run = runner.invoke(main, [*args, '--out', 'a.json'])
    assert trained_run.exit_code == 0, trained_run.output
    saved = ckpt.load_checkpoint('a.json')
    assert saved.ema is not None and saved.ema != saved.state_dict
    sampled = runner.invoke(main, ['sample', '--checkpoint', 'a.json', '--num', '8', '--seed', '1'])
    swapped = ckpt.Checkpoint(saved.config, saved.chars, saved.ema, {**saved.training, 'ema': None},
                              saved.optimizer, saved.losses, saved.provenance)
    ckpt.save_checkpoint('b.json', swapped)
    raw = ckpt.Checkpoint(saved.config, saved.chars, saved.state_dict, {**saved.training, 'ema': None},
                          saved.optimizer, saved.losses, saved.provenance)
    ckpt.save_checkpoint('c.json', raw)
    outputs = [runner.invoke(main, ['sample', '--checkpoint', p, '--num', '8', '--seed', '1']).stdout
               for p in ('b.json', 'c.json')]
    assert sampled.stdout == outputs[0] != outputs[1]


def test_a_checkpoint_of_an_averaged_run_without_its_average_is_refused(runner, small_data):
    result = runner.invoke(main, ['train', '--data', str(small_data), *TINY, '--steps', '3', '--ema', '0.9',
                                  '--samples', '0', '--out', 'a.json'])
    assert result.exit_code == 0, result.output
    import json
    obj = json.load(open('a.json'))
    del obj['ema']
    json.dump(obj, open('a.json', 'w'))
    with pytest.raises(Exception, match='weight average'):
        ckpt.load_checkpoint('a.json')


def test_the_best_checkpoint_holds_the_average_it_was_judged_by(runner, small_data):
    result = runner.invoke(main, ['train', '--data', str(small_data), *TINY, '--steps', '12', '--ema', '0.8',
                                  '--val-split', '0.2', '--eval-every', '4', '--samples', '0', '--out', 'r.json'])
    assert result.exit_code == 0, result.output
    best = ckpt.load_checkpoint('r.best.json')
    point = min(best.training['curve'], key=lambda p: p['val_loss'])
    from microgpt.data import held_out_split, load_dataset
    _, held_out = held_out_split(load_dataset(str(small_data)).docs, 42, 0.2)
    engine = make_engine('numpy', best.config, best.ema)
    assert mean_loss(engine, best.tokenizer, held_out) == point['val_loss']


@pytest.mark.parametrize('engine', ['numpy'])
def test_train_n_then_resume_to_2n_is_2n_straight_bit_for_bit(runner, small_data, engine):
    from test_training_options import interrupted_after, step_lines
    args = [*TINY, '--steps', '16', '--batch-size', '4', '--dropout', '0.2', '--ema', '0.95', '--samples', '3',
            '--engine', engine]
    whole = runner.invoke(main, ['train', '--data', str(small_data), *args, '--out', 'whole.json'])
    assert whole.exit_code == 0, whole.output
    stopped = interrupted_after(runner, small_data, 8, [*args, '--out', 'part.json'])
    assert stopped.exit_code == 130
    resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data)])
    assert resumed.exit_code == 0, resumed.output
    assert step_lines(resumed) == step_lines(whole)[8:]
    assert resumed.stdout.splitlines()[-3:] == whole.stdout.splitlines()[-3:]
    a, b = ckpt.load_checkpoint('part.json'), ckpt.load_checkpoint('whole.json')
    assert a.state_dict == b.state_dict and a.ema == b.ema and a.optimizer == b.optimizer
