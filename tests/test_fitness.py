import math

import pytest

from microgpt.data import split_docs
from microgpt.errors import MicrogptError
from microgpt.evolve.fitness import (AESTHETIC_WEIGHTS, WORST_COST, check_fitness_kind, cost, creativity,
                              describe_score, evaluate_organism, flow, judge, symmetry)

TINY = dict(n_embd=8, n_head=2, n_layer=1, block_size=8, ff_mult=1, learning_rate=0.01, num_steps=30)


# --- the aesthetic judge, pinned on hand-picked names ---------------------------------------

def test_anna_flows_and_is_symmetric():
    assert flow('anna') == 1.0  # a-nn-a: vowel, doubled consonant, vowel
    assert symmetry('anna') == 1.0  # a palindrome


def test_xqzkt_is_unpronounceable_and_asymmetric():
    assert flow('xqzkt') == 0.0
    assert symmetry('xqzkt') == 0.0


def test_flow_penalizes_clusters_and_rewards_alternation():
    assert flow('olivia') == pytest.approx(0.8)  # "ia" is the one vowel-vowel pair
    assert flow('christopher') == pytest.approx(0.6 * 0.5)  # 6 of 10 pairs alternate; "chr" is a cluster
    assert flow('amelia') > flow('strength')
    assert flow('a') == 0.0 and flow('') == 0.0


def test_symmetry_counts_palindromes_and_repeated_patterns():
    assert symmetry('lala') == 1.0  # "la" twice covers it all
    assert symmetry('abcab') == pytest.approx(0.8)  # "ab" twice: 4 of 5 letters
    assert symmetry('emma') == 0.5  # one of two mirrored pairs matches
    assert symmetry('otto') == 1.0


def test_a_training_name_is_not_creative(names_docs):
    known = names_docs
    assert 'emma' in known
    assert creativity(['emma'], known) == 0.0
    assert judge(['emma'], known)['creativity'] == 0.0


def test_a_repeated_sample_counts_once():
    assert creativity(['zorvana', 'zorvana'], ['anna']) == 0.5
    assert creativity(['zorvana', 'belvira'], ['anna']) == 1.0
    assert creativity(['', 'belvira'], []) == 0.5  # an empty sample is not a name
    assert creativity([], []) == 0.0


def test_judge_is_the_documented_weighted_sum(names_docs):
    names = ['anna', 'xqzkt', 'emma', 'zorvana', 'zorvana']
    judged = judge(names, names_docs)
    assert set(judged) == {'flow', 'symmetry', 'creativity', 'score'}
    for key in ('flow', 'symmetry', 'creativity'):
        assert 0.0 <= judged[key] <= 1.0
    assert judged['creativity'] == pytest.approx(2 / 5)  # xqzkt and the first zorvana are new
    assert judged['flow'] == pytest.approx(sum(map(flow, names)) / 5)
    assert judged['score'] == pytest.approx(sum(AESTHETIC_WEIGHTS[k] * judged[k] for k in AESTHETIC_WEIGHTS))
    assert sum(AESTHETIC_WEIGHTS.values()) == pytest.approx(1.0)
    # a batch of new, flowing palindromes beats memorized or unpronounceable ones
    assert judge(['anna'], []) ['score'] == 1.0
    assert judge(['anna'], ['anna'])['score'] < judge(['anna'], [])['score']
    assert judge(['xqzkt'], [])['score'] == AESTHETIC_WEIGHTS['creativity']


def test_cost_orders_both_fitness_kinds_lower_is_better():
    assert cost('loss', 2.0) < cost('loss', 2.5)
    assert cost('aesthetic', 0.9) < cost('aesthetic', 0.3)
    assert cost('loss', None) == cost('aesthetic', None) == WORST_COST
    assert cost('loss', math.nan) == WORST_COST
    assert describe_score('loss', 2.25) == 'val loss 2.2500' and describe_score('aesthetic', None) == 'failed'
    with pytest.raises(MicrogptError, match='unknown fitness'):
        check_fitness_kind('beauty')


# --- one organism ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def split(names_docs):
    return split_docs(names_docs[:300], seed=5)


def test_loss_fitness_is_the_validation_loss_and_deterministic(split):
    train, val = split
    a = evaluate_organism(TINY, 123, train, val, 'loss')
    assert a['error'] is None, a
    assert a['score'] == a['components']['val_loss']
    assert 2.0 < a['score'] < math.log(27) + 0.5  # near or below a uniform guess over 27 tokens
    assert a['num_params'] > 0 and a['seconds'] > 0
    b = evaluate_organism(TINY, 123, train, val, 'loss')
    assert b['score'] == a['score']
    longer = evaluate_organism(dict(TINY, num_steps=300), 123, train, val, 'loss')
    assert longer['score'] < a['score']  # training on the train split helps on the held-out one


def test_aesthetic_fitness_judges_sampled_names(split):
    train, val = split
    result = evaluate_organism(TINY, 7, train, val, 'aesthetic', samples=12)
    assert result['error'] is None, result
    components = result['components']
    assert len(components['samples']) == 12
    assert result['score'] == pytest.approx(judge(components['samples'], train + val)['score'])
    for key in ('flow', 'symmetry', 'creativity'):
        assert 0.0 <= components[key] <= 1.0


def test_a_failing_organism_reports_instead_of_raising(split):
    train, val = split
    bad_arch = evaluate_organism(dict(TINY, n_head=3), 1, train, val, 'loss')
    assert bad_arch['score'] is None and 'divisible' in bad_arch['error']
    exploding = evaluate_organism(dict(TINY, learning_rate=math.inf, num_steps=3), 1, train, val, 'loss')
    assert exploding['score'] is None and 'training loss became nan' in exploding['error']
