import random

import pytest

from microgpt.gpt.engines.base import CLIP_EPS

from microgpt.data import Tokenizer
from microgpt.errors import MicrogptError
from microgpt.gpt.engines.val import ValEngine
from microgpt.gpt.model import GPT, GPTConfig, init_state_dict


def tiny():
    config = GPTConfig(vocab_size=5, n_embd=4, n_head=2, n_layer=2, block_size=6, ff_mult=2)
    return config, init_state_dict(config, random.Random(3))


def test_state_dict_names_and_shapes():
    config = GPTConfig(vocab_size=27)
    names = [name for name, _ in config.param_shapes()]
    assert names == ['wte', 'wpe', 'lm_head', 'layer0.attn_wq', 'layer0.attn_wk',
                     'layer0.attn_wv', 'layer0.attn_wo', 'layer0.mlp_fc1', 'layer0.mlp_fc2']
    assert config.num_params() == 4192
    sd = init_state_dict(config, random.Random(0))
    assert len(sd['layer0.mlp_fc1']) == 64 and len(sd['layer0.mlp_fc2'][0]) == 64


def test_init_draws_matrices_row_by_row_in_order():
    config = GPTConfig(vocab_size=3, n_embd=2, n_head=1, block_size=2, ff_mult=1)
    sd = init_state_dict(config, random.Random(5))
    rng = random.Random(5)
    flat = [rng.gauss(0, 0.08) for _ in range(config.num_params())]
    assert [x for name, _ in config.param_shapes() for row in sd[name] for x in row] == flat


@pytest.mark.parametrize('bad', [dict(n_embd=6, n_head=4), dict(n_embd=0), dict(n_layer=0),
                                 dict(block_size=-1), dict(ff_mult=0), dict(n_head=0)])
def test_config_that_cannot_work_is_refused(bad):
    with pytest.raises(MicrogptError):
        GPTConfig(vocab_size=5, **bad)


def loss_at(config, sd, tokens):
    return GPT(config, sd).loss([tokens]).data


@pytest.mark.parametrize('tokens', [[4, 0, 1, 2, 4], [4, 3, 3, 1, 0, 2, 1]])
def test_model_loss_gradient_matches_finite_differences(tokens):
    config, sd = tiny()
    engine = ValEngine(config, sd)
    engine.loss_and_backward([tokens])
    grads = engine.gradients()
    h = 1e-6
    for name, _ in config.param_shapes():  # every entry of every matrix
        rows = sd[name]
        for r in range(len(rows)):
            for c in range(len(rows[0])):
                orig = rows[r][c]
                rows[r][c] = orig + h
                up = loss_at(config, sd, tokens)
                rows[r][c] = orig - h
                down = loss_at(config, sd, tokens)
                rows[r][c] = orig
                assert grads[name][r][c] == pytest.approx((up - down) / (2 * h), rel=1e-4, abs=1e-8), (name, r, c)


def test_kv_cache_forward_sees_only_the_past():
    config, sd = tiny()
    model = GPT(config, sd)
    cache = model.new_cache()
    first = [l.data for l in model.forward(4, 0, cache)]
    model.forward(1, 1, cache)
    again = [l.data for l in GPT(config, sd).forward(4, 0, GPT(config, sd).new_cache())]
    assert first == again
    assert len(cache[0][0]) == 2 and len(cache[1][1]) == 2


def test_adam_step_moves_parameters_against_the_gradient():
    config, sd = tiny()
    engine = ValEngine(config, sd)
    before = engine.state_dict()
    engine.loss_and_backward([[4, 0, 1, 4]])
    grads = engine.gradients()
    engine.adam_step(0.01, 1)
    after = engine.state_dict()
    # first Adam step: update = -lr * sign(g) (up to eps)
    g, b, a = grads['lm_head'][0][0], before['lm_head'][0][0], after['lm_head'][0][0]
    assert a - b == pytest.approx(-0.01 * (1 if g > 0 else -1), rel=1e-4)
    assert all(x == 0.0 for row in engine.gradients()['wte'] for x in row)


def test_batch_loss_is_the_mean_over_all_tokens():
    config, sd = tiny()
    model = GPT(config, sd)
    docs = [[4, 0, 1, 2, 4], [4, 3, 4], [4, 2, 2, 2, 1, 0, 4]]
    losses = [loss.data for tokens in docs for loss in model.document_losses(tokens)]
    assert len(losses) == 4 + 2 + 6
    assert model.loss(docs).data == pytest.approx(sum(losses) / len(losses), rel=1e-12)
    # one document: the original's (1 / n) * sum(losses), exactly
    first = losses[:4]
    assert model.loss(docs[:1]).data == (1 / 4) * (((0 + first[0] + first[1]) + first[2]) + first[3])


def test_clip_grad_norm_scales_gradients_down_to_max_norm():
    config, sd = tiny()
    engine = ValEngine(config, sd)
    engine.loss_and_backward([[4, 0, 1, 2, 4]])
    grads = [x for rows in engine.gradients().values() for row in rows for x in row]
    norm = sum(g * g for g in grads) ** 0.5
    assert engine.clip_grad_norm(10 * norm) == pytest.approx(norm, rel=1e-12)
    assert [x for rows in engine.gradients().values() for row in rows for x in row] == grads
    assert engine.clip_grad_norm(norm / 4) == pytest.approx(norm, rel=1e-12)
    clipped = [x for rows in engine.gradients().values() for row in rows for x in row]
    factor = (norm / 4) / (norm + CLIP_EPS)  # as PyTorch's clip_grad_norm_: never a rounding above
    assert clipped == pytest.approx([g * factor for g in grads], rel=1e-12, abs=1e-18)
    assert engine.clip_grad_norm(norm) == pytest.approx(norm * factor, rel=1e-12)


def test_optimizer_state_resumes_training_exactly():
    config, sd = tiny()
    docs = [[4, 0, 1, 2, 4], [4, 3, 4], [4, 2, 2, 1, 0, 4]]
    straight = ValEngine(config, sd)
    for t, tokens in enumerate(docs, start=1):
        straight.train_step([tokens], 0.05, t)
    first = ValEngine(config, sd)
    first.train_step([docs[0]], 0.05, 1)
    state = first.optimizer_state()
    assert set(state) == {'m', 'v'} and list(state['m']) == [name for name, _ in config.param_shapes()]
    assert len(state['v']['layer0.mlp_fc1']) == 8 and len(state['v']['layer0.mlp_fc1'][0]) == 4
    resumed = ValEngine(config, first.state_dict())
    resumed.load_optimizer_state(state)
    for t, tokens in enumerate(docs[1:], start=2):
        resumed.train_step([tokens], 0.05, t)
    assert resumed.state_dict() == straight.state_dict()
    assert resumed.optimizer_state() == straight.optimizer_state()
    del state['v']['wte'][0]
    with pytest.raises(MicrogptError, match='wte'):
        resumed.load_optimizer_state(state)


def test_tokenizer_round_trip_and_cropping():
    tok = Tokenizer.from_docs(['abc', 'cab'])
    assert tok.vocab_size == 4 and tok.bos == 3
    assert tok.decode(tok.encode('cab')) == 'cab'
    assert tok.doc_tokens('abcabc', 4) == [3, 0, 1, 2, 0]
    assert tok.doc_tokens('ab', 8) == [3, 0, 1, 3]
