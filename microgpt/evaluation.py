"""Batched evaluation: a model's mean per-token loss over many documents at once."""
from .errors import MicrogptError

DEFAULT_BATCH_SIZE = 256


def mean_loss(engine, tokenizer, docs, batch_size=DEFAULT_BATCH_SIZE):
    """Mean next-token cross-entropy over every token of every document (not a mean of
    per-document means): the validation loss.

    Each document is tokenized as in training (`tokenizer.doc_tokens(doc, block_size)`).
    Documents go through the numpy forward `batch_size` at a time, sorted by length and
    padded to the longest of their batch; padded positions are masked out of the sum (the
    causal mask already keeps them from reaching real positions). Works with any engine: a
    model not on the numpy engine is copied onto it through its state_dict.
    """
    import numpy as np  # here, not at the top: importing this module stays cheap
    from .engines.numpy_engine import NumpyEngine
    if not isinstance(batch_size, int) or batch_size < 1:
        raise MicrogptError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if not docs:
        raise MicrogptError("no documents to evaluate")
    unknown = tokenizer.unknown_chars(''.join(docs))
    if unknown:
        raise MicrogptError(f"documents have characters the model does not know: {''.join(unknown)!r}")
    if not isinstance(engine, NumpyEngine):
        engine = NumpyEngine(engine.config, engine.state_dict())
    block_size = engine.config.block_size
    sequences = sorted((tokenizer.doc_tokens(doc, block_size) for doc in docs), key=len)
    total, count = 0.0, 0
    with np.errstate(over='ignore', divide='ignore', invalid='ignore'):  # a diverged model gives inf/nan
        for start in range(0, len(sequences), batch_size):
            batch = sequences[start:start + batch_size]
            total += _batch_loss_sum(engine, batch, tokenizer.bos)
            count += sum(len(tokens) - 1 for tokens in batch)
    return total / count


def _batch_loss_sum(engine, batch, pad_id):
    """Sum of the token losses of a batch of token lists, padded with pad_id and masked."""
    import numpy as np
    lengths = [len(tokens) for tokens in batch]
    width = max(lengths)
    padded = np.array([tokens + [pad_id] * (width - len(tokens)) for tokens in batch])
    inputs, targets = padded[:, :-1], padded[:, 1:]
    real = np.arange(width - 1) < np.array(lengths)[:, None] - 1
    logits = engine.forward(inputs).reshape(*inputs.shape, -1)  # no activations kept
    logits -= logits.max(axis=-1, keepdims=True)
    log_total = np.log(np.exp(logits).sum(axis=-1))
    target_logits = np.take_along_axis(logits, targets[..., None], axis=-1)[..., 0]
    return float(np.where(real, log_total - target_logits, 0.0).sum())
