"""Sampling names from a trained model, one `choices` draw per token."""
import math

from ..errors import MicrogptError, require_positive

DEFAULT_TEMPERATURE = 0.5
DEFAULT_NUM_SAMPLES = 20


def next_token_probs(logits, temperature, top_k=None, top_p=None):
    """softmax(logits / temperature), optionally cut to the top-k tokens or the top-p mass;
    computed in the original's order (x * t**-1, a left-to-right sum, e * total**-1), so the draws
    match it bit for bit."""
    inv_t = temperature ** -1
    scaled = [l * inv_t for l in logits]
    max_val = max(scaled)
    if not math.isfinite(max_val):  # a tiny temperature: the logits over it overflow
        raise MicrogptError(f"temperature {temperature} is too small: the logits divided by it overflow")
    exps = [math.exp(s - max_val) for s in scaled]
    total = 0
    for e in exps:
        total += e
    inv_total = total ** -1
    probs = [e * inv_total for e in exps]
    if top_k is not None or top_p is not None:
        probs = _truncate(probs, top_k, top_p)
    return probs


def _truncate(probs, top_k, top_p):
    """probs with all but the top_k likeliest, or the likeliest reaching top_p mass, made 0."""
    keep, mass = set(), 0.0
    for i in sorted(range(len(probs)), key=lambda i: -probs[i])[:top_k]:
        if top_p is not None and mass >= top_p:
            break
        keep.add(i)
        mass += probs[i]
    return [p if i in keep else 0.0 for i, p in enumerate(probs)]


def sample_one(engine, tokenizer, rng, temperature=DEFAULT_TEMPERATURE, top_k=None, top_p=None, prefix='',
               on_draw=None):
    """One sample: BOS, then the prefix fed as given, then draws until BOS or block_size.
    on_draw(pos_id, probs, token_id), if given, hears each draw (predictions.trace_sample)."""
    block_size = engine.config.block_size
    fed = tokenizer.encode(prefix)
    cache = engine.new_cache()
    token_id, out = tokenizer.bos, []
    for pos_id in range(block_size):
        logits = engine.logits(token_id, pos_id, cache)
        if pos_id < len(fed):
            token_id = fed[pos_id]
        else:
            probs = next_token_probs(logits, temperature, top_k, top_p)
            token_id = rng.choices(range(tokenizer.vocab_size), weights=probs)[0]
            if on_draw is not None:
                on_draw(pos_id, probs, token_id)
            if token_id == tokenizer.bos:
                break
        out.append(token_id)
    return tokenizer.decode(out)


def temperature_problem(temperature):
    """Why the logits cannot be divided by this temperature (the end of "temperature ..."),
    or None: it must be > 0, and its inverse (by which the logits are multiplied) finite."""
    if not temperature > 0:
        return f"must be > 0, got {temperature}"
    try:
        inverse = temperature ** -1
    except OverflowError:
        inverse = math.inf
    if not math.isfinite(inverse):
        return f"is too small: 1 / temperature overflows, got {temperature}"
    return None


def check_temperature(temperature):
    problem = temperature_problem(temperature)
    if problem is not None:
        raise MicrogptError(f"temperature {problem}")


def check_sampling_args(tokenizer, block_size, temperature, top_k=None, top_p=None, prefix=''):
    check_temperature(temperature)
    require_positive('top-k', top_k)
    if top_p is not None and not 0 < top_p <= 1:
        raise MicrogptError(f"top-p must be in (0, 1], got {top_p}")
    check_readable(tokenizer, block_size, prefix)


def check_readable(tokenizer, block_size, text, what='prefix'):
    """A MicrogptError line unless the model can read BOS and then `text`: every character in
    its vocabulary, at most block_size - 1 of them (`what` names the text in the message)."""
    unknown = tokenizer.unknown_chars(text)
    if unknown:
        raise MicrogptError(f"{what} {text!r} has characters the model does not know: "
                            f"{''.join(unknown)!r}")
    if len(text) >= block_size:
        raise MicrogptError(f"{what} is {len(text)} characters; the model's block_size "
                            f"({block_size}) leaves room for at most {block_size - 1}")


def generate(engine, tokenizer, rng, num, **kwargs):
    """Yield num samples (strings)."""
    check_sampling_args(tokenizer, engine.config.block_size, kwargs.get('temperature', DEFAULT_TEMPERATURE),
                        kwargs.get('top_k'), kwargs.get('top_p'), kwargs.get('prefix', ''))
    for _ in range(num):
        yield sample_one(engine, tokenizer, rng, **kwargs)


def novelty(names, train_docs, held_out_docs=None):
    """How many samples are new, how many are training documents, and how many are held-out
    documents (None: no held-out data); a name in both counts as training."""
    train, held_out = set(train_docs), set(held_out_docs or ())
    in_train = sum(name in train for name in names)
    in_held_out = sum(name in held_out and name not in train for name in names)
    return dict(samples=len(names), new=len(names) - in_train - in_held_out, train=in_train,
                held_out=None if held_out_docs is None else in_held_out)


# `--new` draws until it has the names asked for, or gives up after this many draws a name.
NEW_NAME_DRAWS_PER_NAME = 50


class NewNames:
    """Iterating yields up to `num` names of `draws` that are not in `known` and not repeated,
    drawing at most `max_draws` (default NEW_NAME_DRAWS_PER_NAME * num); `.counts`, filled as
    it goes, says how many were drawn and rejected as known or as repeats."""

    def __init__(self, draws, known, num, max_draws=None):
        max_draws = NEW_NAME_DRAWS_PER_NAME * num if max_draws is None else max_draws
        self.draws, self.known, self.num, self.max_draws = draws, set(known), num, max_draws
        self.counts = dict(accepted=0, drawn=0, known=0, repeated=0, max_draws=max_draws, asked=num)

    def __iter__(self):
        seen, counts = set(), self.counts
        if self.num <= 0:
            return
        for name in self.draws:
            counts['drawn'] += 1
            if name in self.known:
                counts['known'] += 1
            elif name in seen:
                counts['repeated'] += 1
            else:
                seen.add(name)
                counts['accepted'] += 1
                yield name
                if counts['accepted'] == self.num:
                    return
            if counts['drawn'] >= self.max_draws:
                return


def novelty_documents(checkpoint, dataset):
    """(training documents, held-out documents or None) samples are told apart by: the
    checkpoint's split when it trained on this data with a held-out share, else all of it."""
    from ..data import held_out_split
    t = checkpoint.training
    if t.get('val_split') and t.get('data_sha256') == dataset.sha256:
        return held_out_split(dataset.docs, t['seed'], t['val_split'])
    return dataset.docs, None


# --- text mode: continuing a prompt -----------------------------------------------------------

DEFAULT_TEXT_CHARS = 200  # what `train --text` writes after training, and `sample --chars`'s default
LINE_START = '\n'  # what a text-mode model reads when no prompt is given: the start of a line


def check_prompt(tokenizer, prompt):
    """A MicrogptError line unless a text-mode model can read the prompt: every character in
    its vocabulary; an empty prompt starts a line, so the vocabulary needs a newline."""
    check_readable(tokenizer, math.inf, prompt, 'prompt')  # of any length: the window slides along it
    if not prompt and tokenizer.unknown_chars(LINE_START):
        raise MicrogptError("this model's text has no newline to start from: give a --prompt")


def continue_text(engine, tokenizer, rng, prompt, num_chars, temperature=DEFAULT_TEMPERATURE, top_k=None,
                  top_p=None):
    """Yield num_chars characters that continue `prompt` (empty: the start of a line), one
    `choices` draw each, from a text-mode model reading the last block_size characters written
    (past that the window slides and is read again from position 0, as it trained). BOS, which
    no training window holds, is never drawn. The arguments are checked before the first draw."""
    check_sampling_args(tokenizer, engine.config.block_size, temperature, top_k, top_p)
    check_prompt(tokenizer, prompt)
    return _continuation(engine, tokenizer, rng, prompt, num_chars, temperature, top_k, top_p)


def _continuation(engine, tokenizer, rng, prompt, num_chars, temperature, top_k, top_p):
    block_size = engine.config.block_size
    written = tokenizer.encode(prompt or LINE_START)
    cache, read_from, read = None, None, 0  # the cache holds written[read_from:read_from + read]
    for _ in range(num_chars):
        start = max(0, len(written) - block_size)
        if start != read_from:
            cache, read_from, read = engine.new_cache(), start, 0
        while read_from + read < len(written):
            logits = engine.logits(written[read_from + read], read, cache)
            read += 1
        logits = list(logits)
        logits[tokenizer.bos] = -math.inf  # before top-k / top-p, so they choose among characters
        probs = next_token_probs(logits, temperature, top_k, top_p)
        token_id = rng.choices(range(tokenizer.vocab_size), weights=probs)[0]
        written.append(token_id)
        yield tokenizer.chars[token_id]
