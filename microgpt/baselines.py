"""What a loss is read against: the losses of three guesses that need no neural network,
scored on the same tokens as the model.

- uniform: every token of the vocabulary equally likely, whatever came before: ln V.
- unigram: each token as likely as it is frequent among the training tokens (letter frequency).
- bigram: each token as likely as it followed the previous token in the training tokens
  (makemore's first model: a V x V table of counts).

Both counted models are smoothed by adding one to every count (add-one, or Laplace,
smoothing), as makemore's bigram does: a token or a pair the training tokens never show
still gets a small probability, so one unseen pair in the scored documents costs a finite
loss instead of an infinite one. It needs no setting to tune; it takes a little probability
from what was seen, so with few training tokens it scores a little worse than a tuned smoothing.

Token accounting is evaluation.mean_loss's: a sequence of tokens scores each token after its
first, predicted from what came before. For documents, each is BOS + characters + BOS cut at
block_size + 1 tokens (Tokenizer.doc_tokens, as the model sees it), both where the models are
counted and where they are scored. The counts are of predicted tokens: every character and the
closing BOS (the opening BOS is never predicted). sequence_baselines takes any token sequences
(windows of a text stream as well as documents).
"""
import math
from dataclasses import asdict, dataclass

import numpy as np

from .errors import MicrogptError


@dataclass(frozen=True)
class Baselines:
    """Mean per-token losses (nats) of the three guesses on the scored tokens."""
    uniform: float
    unigram: float
    bigram: float

    def as_dict(self):
        return asdict(self)


def baseline_losses(tokenizer, train_docs, scored_docs, block_size):
    """Baselines of documents: the unigram and bigram counted on train_docs, all three scored
    on scored_docs, each document cut as the model sees it (Tokenizer.doc_tokens)."""
    def sequences(docs):
        return [tokenizer.doc_tokens(doc, block_size) for doc in docs]
    return sequence_baselines(tokenizer.vocab_size, sequences(train_docs), sequences(scored_docs))


def sequence_baselines(vocab_size, train_sequences, scored_sequences):
    """Baselines of token sequences (lists of ids below vocab_size): counted on
    train_sequences, scored on every token but the first of each of scored_sequences."""
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
    previous, following = [], []
    for tokens in sequences:
        previous.extend(tokens[:-1])
        following.extend(tokens[1:])
    previous, following = np.asarray(previous, dtype=np.int64), np.asarray(following, dtype=np.int64)
    if previous.size and not (0 <= min(previous.min(), following.min())
                              and max(previous.max(), following.max()) < vocab_size):
        raise MicrogptError(f"a token id outside the vocabulary of {vocab_size}")
    flat = np.bincount(previous * vocab_size + following, minlength=vocab_size * vocab_size)
    return flat.reshape(vocab_size, vocab_size)


def checkpoint_training_docs(checkpoint, dataset):
    """The documents a checkpoint's run trained on, where they are at hand, else None (see
    checkpoint_documents)."""
    split = checkpoint_documents(checkpoint, dataset)
    return None if split is None else split[0]


def checkpoint_documents(checkpoint, dataset):
    """(documents trained on, documents held out: [] when none were) of a checkpoint's run,
    where they are at hand, else None: of `dataset` when it is the file the run trained on
    (the same SHA-256), else of the file its training recorded (data_path) when that is still
    there unchanged; split as the run split it (data.held_out_split) when it had a held-out share."""
    from .data import held_out_split, load_dataset
    dataset = checkpoint.trained_data(dataset, load_dataset)
    if dataset is None:
        return None
    training = checkpoint.training
    if training.get('val_split'):
        return held_out_split(dataset.docs, training['seed'], training['val_split'])
    return dataset.docs, []
