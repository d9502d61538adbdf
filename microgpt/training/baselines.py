"""What a loss is read against: the losses of three guesses that need no neural network, on the
same tokens as the model (docs/pages/training.md explains them): uniform (ln V), unigram (token
frequency) and bigram (makemore's V x V table of counts), both counted with add-one smoothing so
an unseen pair costs a finite loss.
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from ..errors import MicrogptError


@dataclass(frozen=True)
class Baselines:
    """Mean per-token losses (nats) of the three guesses on the scored tokens."""
    uniform: float
    unigram: float
    bigram: float

    def as_dict(self):
        return asdict(self)


def baseline_losses(tokenizer, train_docs, scored_docs, block_size):
    """Baselines of documents: the unigram and bigram counted on train_docs, all three scored on
    every token but the first of scored_docs, each document cut as the model sees it."""
    train = [tokenizer.doc_tokens(doc, block_size) for doc in train_docs]
    scored = [tokenizer.doc_tokens(doc, block_size) for doc in scored_docs]
    return sequence_baselines(tokenizer.vocab_size, train, scored)


def sequence_baselines(vocab_size, train_sequences, scored_sequences):
    """Baselines of token sequences (lists of ids below vocab_size): counted on train_sequences,
    scored on every token but the first of each of scored_sequences."""
    if not isinstance(vocab_size, int) or vocab_size < 1:
        raise MicrogptError(f"vocab_size must be a whole number >= 1, got {vocab_size!r}")
    trained = pair_counts(vocab_size, train_sequences)
    scored = pair_counts(vocab_size, scored_sequences)
    if not trained.any():
        raise MicrogptError("no training tokens to count the baselines on")
    tokens = scored.sum()
    if not tokens:
        raise MicrogptError("no tokens to score the baselines on")
    next_counts = trained.sum(axis=0)  # how often each token was predicted
    unigram_log_p = np.log((next_counts + 1.0) / (next_counts.sum() + vocab_size))
    bigram_log_p = np.log((trained + 1.0) / (trained.sum(axis=1, keepdims=True) + vocab_size))
    return Baselines(uniform=math.log(vocab_size),
                     unigram=float(-(scored.sum(axis=0) * unigram_log_p).sum() / tokens),
                     bigram=float(-(scored * bigram_log_p).sum() / tokens))


def pair_counts(vocab_size, sequences):
    """counts[previous, next]: how often each token follows each other in the sequences."""
    previous = np.asarray([token for tokens in sequences for token in tokens[:-1]], dtype=np.int64)
    following = np.asarray([token for tokens in sequences for token in tokens[1:]], dtype=np.int64)
    if previous.size and not (0 <= min(previous.min(), following.min())
                              and max(previous.max(), following.max()) < vocab_size):
        raise MicrogptError(f"a token id outside the vocabulary of {vocab_size}")
    flat = np.bincount(previous * vocab_size + following, minlength=vocab_size * vocab_size)
    return flat.reshape(vocab_size, vocab_size)


def checkpoint_documents(checkpoint, dataset):
    """(documents trained on, documents held out or []) of a checkpoint's run, split as it split
    them, where they are at hand, else None."""
    from ..data import held_out_split, load_dataset
    dataset = checkpoint.trained_data(dataset, load_dataset)
    if dataset is None:
        return None
    training = checkpoint.training
    if training.get('val_split'):
        return held_out_split(dataset.docs, training['seed'], training['val_split'])
    return dataset.docs, []
