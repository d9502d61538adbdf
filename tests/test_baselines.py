"""The baselines a loss is read against (microgpt/baselines.py): uniform, unigram and bigram,
each checked against a count written out plainly here."""
import math
from collections import Counter

import pytest

from microgpt.baselines import Baselines, baseline_losses, sequence_baselines
from microgpt.data import Tokenizer, held_out_split
from microgpt.errors import MicrogptError

BLOCK_SIZE = 16  # the primordial model's context


def plain_baselines(tokenizer, train_docs, scored_docs, block_size):
    """The three losses, counted token by token with dictionaries: each document is BOS +
    characters + BOS, at most block_size + 1 tokens; every token after the first is predicted;
    one is added to every count over the whole vocabulary."""
    vocab = tokenizer.vocab_size

    def sequence(doc):
        return ([tokenizer.bos] + tokenizer.encode(doc) + [tokenizer.bos])[:block_size + 1]

    singles, pairs, starts = Counter(), Counter(), Counter()
    for doc in train_docs:
        tokens = sequence(doc)
        for previous, following in zip(tokens, tokens[1:]):
            singles[following] += 1
            pairs[previous, following] += 1
            starts[previous] += 1
    total = sum(singles.values())
    uniform = unigram = bigram = 0.0
    count = 0
    for doc in scored_docs:
        tokens = sequence(doc)
        for previous, following in zip(tokens, tokens[1:]):
            uniform += -math.log(1 / vocab)
            unigram += -math.log((singles[following] + 1) / (total + vocab))
            bigram += -math.log((pairs[previous, following] + 1) / (starts[previous] + vocab))
            count += 1
    return uniform / count, unigram / count, bigram / count


SMALL_TRAIN = ['anna', 'bob', 'ava', 'abba', 'bo']
SMALL_SCORED = ['anna', 'bab', 'oo', 'nab']


def test_uniform_is_ln_of_the_vocabulary_exactly():
    tokenizer = Tokenizer.from_docs(SMALL_TRAIN)
    got = baseline_losses(tokenizer, SMALL_TRAIN, SMALL_SCORED, BLOCK_SIZE)
    assert got.uniform == math.log(tokenizer.vocab_size) == math.log(6)  # a, b, n, o, v and BOS


@pytest.mark.parametrize('block_size', [16, 3, 1])
def test_unigram_and_bigram_are_the_plain_counts(block_size):
    tokenizer = Tokenizer.from_docs(SMALL_TRAIN)
    got = baseline_losses(tokenizer, SMALL_TRAIN, SMALL_SCORED, block_size)
    uniform, unigram, bigram = plain_baselines(tokenizer, SMALL_TRAIN, SMALL_SCORED, block_size)
    assert got.uniform == pytest.approx(uniform, abs=1e-12)
    assert got.unigram == pytest.approx(unigram, abs=1e-12)
    assert got.bigram == pytest.approx(bigram, abs=1e-12)


def test_a_small_case_worked_by_hand():
    """Train on 'ab' alone (BOS a b BOS), score 'ba' (BOS b a BOS); vocabulary a, b, BOS."""
    tokenizer = Tokenizer(['a', 'b'])
    got = baseline_losses(tokenizer, ['ab'], ['ba'], BLOCK_SIZE)
    # predicted in training: a, b, BOS once each -> every token (1 + 1) / (3 + 3) = 1/3
    assert got.unigram == pytest.approx(math.log(3), abs=1e-15)
    # pairs seen: BOS->a, a->b, b->BOS; scored: BOS->b, b->a, a->BOS, none seen: 1 / (1 + 3) each
    assert got.bigram == pytest.approx(math.log(4), abs=1e-15)


def test_sequences_take_any_token_windows():
    """Windows of a token stream count and score like documents: each token after the first."""
    stream = [0, 1, 2, 1, 0, 2, 2, 1]
    windows = [stream[i:i + 4] for i in range(0, len(stream) - 3, 2)]
    got = sequence_baselines(3, windows, [stream])
    follows = Counter((p, f) for window in windows for p, f in zip(window, window[1:]))
    starts = Counter(p for window in windows for p in window[:-1])
    bigram = sum(-math.log((follows[p, f] + 1) / (starts[p] + 3)) for p, f in zip(stream, stream[1:]))
    assert got.bigram == pytest.approx(bigram / (len(stream) - 1), abs=1e-12)
    assert isinstance(got, Baselines) and set(got.as_dict()) == {'uniform', 'unigram', 'bigram'}


def test_nothing_to_count_or_score_is_a_clear_error():
    tokenizer = Tokenizer(['a'])
    with pytest.raises(MicrogptError, match='no tokens to score'):
        baseline_losses(tokenizer, ['a'], [], BLOCK_SIZE)
    with pytest.raises(MicrogptError, match='no training tokens'):
        baseline_losses(tokenizer, [], ['a'], BLOCK_SIZE)
    with pytest.raises(MicrogptError, match='outside the vocabulary'):
        sequence_baselines(2, [[0, 2]], [[0, 1]])


def test_names_held_out_baselines_are_the_plain_counts_and_in_order(names_docs):
    train, held_out = held_out_split(names_docs, 42, 0.1)
    tokenizer = Tokenizer.from_docs(train)
    got = baseline_losses(tokenizer, train, held_out, BLOCK_SIZE)
    uniform, unigram, bigram = plain_baselines(tokenizer, train, held_out, BLOCK_SIZE)
    assert abs(got.uniform - uniform) <= 1e-9 and abs(got.unigram - unigram) <= 1e-9
    assert abs(got.bigram - bigram) <= 1e-9
    assert got.uniform == math.log(27)
    assert got.uniform > got.unigram > got.bigram
