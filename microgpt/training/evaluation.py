"""Batched evaluation: a model's mean per-token loss over many documents at once."""
from ..errors import MicrogptError

DEFAULT_BATCH_SIZE = 256


def mean_loss(engine, tokenizer, docs, batch_size=DEFAULT_BATCH_SIZE, on_batch=None):
    """The validation loss: mean next-token cross-entropy over every token of every document, each
    tokenized as in training (Tokenizer.doc_tokens)."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise MicrogptError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    if not docs:
        raise MicrogptError("no documents to evaluate")
    unknown = tokenizer.unknown_chars(''.join(docs))
    if unknown:
        raise MicrogptError(f"documents have characters the model does not know: {''.join(unknown)!r}")
    block_size = engine.config.block_size
    return sequences_loss(engine, [tokenizer.doc_tokens(doc, block_size) for doc in docs], batch_size, on_batch)


def sequences_loss(engine, sequences, batch_size=DEFAULT_BATCH_SIZE, on_batch=None):
    """Mean next-token cross-entropy over every target of the token lists `sequences`, batch_size at
    a time sorted by length (a batch is padded to its longest), on a float64 numpy engine;
    on_batch(sequences done) hears of each batch."""
    import numpy as np  # here, not at the top: importing this module stays cheap
    from ..gpt.engines.numpy_engine import NumpyEngine
    if not (isinstance(engine, NumpyEngine) and engine.dtype == np.float64):
        engine = NumpyEngine(engine.config, engine.state_dict())
    sequences = sorted(sequences, key=len)
    total, count = 0.0, 0
    with np.errstate(over='ignore', divide='ignore', invalid='ignore'):  # a diverged model gives inf/nan
        for start in range(0, len(sequences), batch_size):
            chunk = sequences[start:start + batch_size]
            batch = engine.batch(chunk)
            logits = engine.forward(batch)  # no activations kept
            logits -= logits.max(axis=-1, keepdims=True)
            log_total = np.log(np.exp(logits).sum(axis=-1))
            total += float((log_total - logits[np.arange(len(batch.targets)), batch.targets]).sum())
            count += sum(len(tokens) - 1 for tokens in chunk)
            if on_batch is not None:
                on_batch(start + len(chunk))
    return total / count


def checkpoint_loss(checkpoint, docs, data_path, on_batch=None):
    """(mean loss, tokens scored) of a checkpoint on docs (read from data_path); a character the
    model does not know is an error naming it."""
    from ..gpt.engines import make_engine
    tokenizer = checkpoint.tokenizer
    for doc in docs:
        unknown = tokenizer.unknown_chars(doc)
        if unknown:
            raise MicrogptError(f"{data_path} has a character the model does not know: {unknown[0]!r} "
                                f"(in {doc!r})")
    engine = make_engine('numpy', checkpoint.config, checkpoint.inference_state_dict)
    return (mean_loss(engine, tokenizer, docs, on_batch=on_batch),
            sum(len(tokenizer.doc_tokens(doc, checkpoint.config.block_size)) - 1 for doc in docs))
