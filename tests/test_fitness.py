"""Fitness kinds, how selection compares them, and the aesthetic measure of a trained run."""
import math
import random

import pytest

from microgpt.data import split_docs
from microgpt.errors import MicrogptError
from microgpt.evolve.fitness import (WORST_COST, aesthetic_measure, check_fitness_kind,
                                     cost, describe_score, judge_for, sampling_seeds, score_of)
from microgpt.evolve.judge import WEIGHTS as AESTHETIC_WEIGHTS
from microgpt.training.run import Run, TrainConfig


def test_cost_orders_both_kinds_and_failures_last():
    assert cost('loss', 2.0) < cost('loss', 2.5)
    assert cost('aesthetic', 0.7) < cost('aesthetic', 0.5)  # higher is better
    assert cost('loss', None) == cost('aesthetic', math.nan) == WORST_COST
    assert describe_score('loss', 2.34567) == 'val loss 2.3457'
    assert describe_score('aesthetic', 0.5) == 'aesthetic 0.5000' and describe_score('loss', None) == 'failed'
    with pytest.raises(MicrogptError, match='unknown fitness'):
        check_fitness_kind('beauty')
    assert sum(AESTHETIC_WEIGHTS.values()) == pytest.approx(1.0)


def test_score_of_reads_the_trial_record():
    assert score_of('loss', {'val_loss': 2.1, 'error': None}) == 2.1
    assert score_of('aesthetic', {'measured': {'score': 0.4}, 'val_loss': 2.1, 'error': None}) == 0.4
    assert score_of('loss', {'error': 'RuntimeError: boom'}) is None


def test_sampling_seeds_are_fresh_per_scoring_and_reproducible():
    a = sampling_seeds(42, 3, 1005)
    assert a == sampling_seeds(42, 3, 1005) and len(set(a)) == len(a)
    assert set(a).isdisjoint(sampling_seeds(42, 4, 1005))  # scored again next generation: new draws
    assert a != sampling_seeds(43, 3, 1005)


def test_aesthetic_measure_is_the_mean_over_seeded_batches(names_docs):
    train, val = split_docs(names_docs[:400], seed=5)
    run = Run(train, seed=3, arch=dict(n_embd=8, n_head=2, block_size=8, ff_mult=1))
    run.train(TrainConfig(num_steps=60))
    seeds = [11, 12, 13]
    measured = aesthetic_measure(run, train, val, seeds, batch=10)
    judge = judge_for(train)
    expected = []
    from microgpt.gpt.sampling import generate
    for seed in seeds:
        names = list(generate(run.engine, run.tokenizer, random.Random(seed), 10, temperature=0.5))
        expected.append(judge.score_batch(names)['score'])
    assert measured['batch_scores'] == expected
    assert measured['score'] == pytest.approx(sum(expected) / 3)
    assert measured['spread'] >= 0 and len(measured['samples']) == 20
    assert all(0 <= measured[k] <= 1 for k in ('flow', 'symmetry', 'creativity', 'short', 'distinct'))
    assert aesthetic_measure(run, train, val, seeds, batch=10) == measured  # deterministic
