"""Sampling: temperature, top-k and top-p cut the distribution as documented."""
import math
import random

import pytest

from microgpt.gpt.sampling import next_token_probs


def test_probs_are_the_tempered_softmax():
    logits = [1.0, 2.0, 0.5]
    probs = next_token_probs(logits, temperature=0.5)
    exps = [math.exp(l / 0.5) for l in logits]
    assert probs == pytest.approx([e / sum(exps) for e in exps], rel=1e-12)
    assert next_token_probs(logits, 2.0)[1] < probs[1]  # hotter is flatter


def test_top_k_keeps_the_k_most_likely():
    probs = next_token_probs([0.1, 3.0, 2.0, -1.0], 1.0, top_k=2)
    assert [p > 0 for p in probs] == [False, True, True, False]


def test_top_p_keeps_the_smallest_set_with_that_mass():
    logits = [math.log(p) for p in (0.5, 0.3, 0.15, 0.05)]
    assert [p > 0 for p in next_token_probs(logits, 1.0, top_p=0.5)] == [True, False, False, False]
    assert [p > 0 for p in next_token_probs(logits, 1.0, top_p=0.7)] == [True, True, False, False]
    assert [p > 0 for p in next_token_probs(logits, 1.0, top_p=0.96)] == [True, True, True, True]
    assert all(p > 0 for p in next_token_probs(logits, 1.0, top_p=1.0))
    # kept tokens keep their probabilities (choices normalizes the weights)
    assert next_token_probs(logits, 1.0, top_p=0.7)[:2] == pytest.approx([0.5, 0.3])


def test_top_k_and_top_p_together_take_the_smaller_set():
    logits = [math.log(p) for p in (0.4, 0.3, 0.2, 0.1)]
    assert [p > 0 for p in next_token_probs(logits, 1.0, top_k=3, top_p=0.6)] == [True, True, False, False]
    assert [p > 0 for p in next_token_probs(logits, 1.0, top_k=1, top_p=0.9)] == [True, False, False, False]


def test_draws_follow_the_cut_distribution():
    logits = [math.log(p) for p in (0.5, 0.3, 0.15, 0.05)]
    probs = next_token_probs(logits, 1.0, top_p=0.7)
    rng = random.Random(0)
    draws = [rng.choices(range(4), weights=probs)[0] for _ in range(2000)]
    assert set(draws) == {0, 1} and 0.55 < draws.count(0) / 2000 < 0.70
