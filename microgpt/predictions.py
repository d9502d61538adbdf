"""What a trained model predicts, as data, for any engine: `predict_next` (the next character's probabilities
after a prefix), `surprisal` (-ln p of each character of a text) and `trace_sample` (one sample drawn step by
step), each read one position at a time as sampling reads it."""
import math
from dataclasses import asdict, dataclass

from .gpt.sampling import (
    DEFAULT_TEMPERATURE, check_readable, check_sampling_args, check_temperature, next_token_probs,
    sample_one)

END = 'BOS'  # the label of the token that ends a name: the BOS that also starts one
BITS_PER_NAT = 1 / math.log(2)


def token_labels(tokenizer):
    """Each token as a learner reads it: its character, or END for BOS (the last token)."""
    return [*tokenizer.chars, END]


def _logits_after_each(engine, tokens):
    """The engine's logits after reading tokens[0], then tokens[:2], ..."""
    cache = engine.new_cache()
    return [engine.logits(token, position, cache) for position, token in enumerate(tokens)]


class Distribution:
    """A probability for each token: `probabilities[i]` is token i's (the characters in order,
    then BOS), `labels[i]` its label."""

    def top(self, n=None):
        """[(label, probability)] of the n likeliest tokens (all: None), likeliest first."""
        ranked = sorted(range(len(self.probabilities)), key=lambda i: -self.probabilities[i])
        return [(self.labels[i], self.probabilities[i]) for i in ranked[:n]]

    def as_dict(self):
        """{label: probability} of every token, in vocabulary order (the end of the name: "BOS")."""
        return dict(zip(self.labels, self.probabilities))


@dataclass
class NextCharacters(Distribution):
    """The next token's distribution after BOS and `prefix`, at `temperature`."""
    prefix: str
    temperature: float
    labels: list
    probabilities: list


def predict_next(engine, tokenizer, prefix='', temperature=1.0):
    """The probabilities of the character after BOS and `prefix`, at this temperature (1: the
    model's own), one for every token:

        >>> from microgpt import Run, load_names, predict_next
        >>> run = Run(load_names()[:50])
        >>> after = predict_next(run.engine, run.tokenizer, 'em')
        >>> len(after.probabilities) == run.tokenizer.vocab_size, round(sum(after.probabilities), 12)
        (True, 1.0)
    """
    check_readable(tokenizer, engine.config.block_size, prefix)
    check_temperature(temperature)
    logits = _logits_after_each(engine, [tokenizer.bos] + tokenizer.encode(prefix))[-1]
    return NextCharacters(prefix, temperature, token_labels(tokenizer), next_token_probs(logits, temperature))


@dataclass
class Surprise:
    """One character of a text as the model met it: at `position` it had read BOS and the
    characters before; it gave `label` the `probability`, its surprisal -ln p in `nats` (and
    in `bits`, -log2 p); `likeliest` is what it expected most, with `likeliest_probability`."""
    position: int
    label: str
    probability: float
    nats: float
    bits: float
    likeliest: str
    likeliest_probability: float


@dataclass
class Surprisal:
    """One Surprise for each character of `text` and the end of the name; `mean_nats` is the
    model's loss on the text (as training and `eval` compute it), `perplexity` exp(mean_nats)."""
    text: str
    characters: list
    mean_nats: float
    mean_bits: float
    perplexity: float

    def as_dict(self):
        """The surprisal as plain data (what `microgpt surprise --json` prints)."""
        return asdict(self)


def surprisal(engine, tokenizer, text):
    """-ln p of each character of `text` given BOS and the ones before, and of the end of the
    name; their mean is the loss. Four letters and the end:

        >>> from microgpt import Run, load_names, surprisal
        >>> run = Run(load_names()[:50])
        >>> seen = surprisal(run.engine, run.tokenizer, 'emma')
        >>> [c.label for c in seen.characters]
        ['e', 'm', 'm', 'a', 'BOS']
    """
    check_readable(tokenizer, engine.config.block_size, text, 'text')
    tokens, labels = [tokenizer.bos] + tokenizer.encode(text) + [tokenizer.bos], token_labels(tokenizer)
    characters = []
    for position, logits in enumerate(_logits_after_each(engine, tokens[:-1])):
        probabilities = next_token_probs(logits, 1.0)
        target, likeliest = tokens[position + 1], max(range(len(probabilities)), key=probabilities.__getitem__)
        nats = -math.log(probabilities[target]) if probabilities[target] > 0 else math.inf
        characters.append(Surprise(position, labels[target], probabilities[target], nats, nats * BITS_PER_NAT,
                                   labels[likeliest], probabilities[likeliest]))
    mean = sum(c.nats for c in characters) / len(characters)
    return Surprisal(text, characters, mean, mean * BITS_PER_NAT, math.exp(mean))


@dataclass
class Draw(Distribution):
    """One draw of a sample: at `position`, having read BOS and `after`, the chance of each
    token (`probabilities`, in vocabulary order, labelled by `labels`) and the one `drawn`."""
    position: int
    after: str
    labels: list
    probabilities: list
    drawn: str

    @property
    def drawn_probability(self):
        return self.probabilities[self.labels.index(self.drawn)]


@dataclass
class SampleTrace:
    """One sample (`name`, prefix included), its `draws` (the prefix is fed, not drawn) and options."""
    name: str
    prefix: str
    temperature: float
    top_k: int
    top_p: float
    draws: list

    def as_dict(self):
        """The trace as plain data (what `microgpt trace --json` prints, less the seed)."""
        return {'name': self.name, 'prefix': self.prefix, 'temperature': self.temperature, 'top_k': self.top_k,
                'top_p': self.top_p,
                'draws': [{'position': d.position, 'after': d.after, 'drawn': d.drawn,
                           'probability': d.drawn_probability, 'probabilities': d.as_dict()}
                          for d in self.draws]}


def trace_sample(engine, tokenizer, rng, temperature=DEFAULT_TEMPERATURE, top_k=None, top_p=None, prefix=''):
    """One sample drawn exactly as `generate` draws it from `rng`, with every draw: each token's
    chance (scaled to sum to 1 where top-k or top-p cut others) and the one drawn. So the trace
    of random.Random(S) is the first name `microgpt sample --seed S` prints:

        >>> import random
        >>> from microgpt import Run, generate, load_names, trace_sample
        >>> run = Run(load_names()[:50])
        >>> traced = trace_sample(run.engine, run.tokenizer, random.Random(7))
        >>> traced.name == next(generate(run.engine, run.tokenizer, random.Random(7), 1))
        True
    """
    check_sampling_args(tokenizer, engine.config.block_size, temperature, top_k, top_p, prefix)
    labels, draws, text = token_labels(tokenizer), [], list(prefix)

    def record(position, weights, token_id):
        cut = top_k is not None or top_p is not None
        total = sum(weights) if cut else 1.0
        chances = [w / total for w in weights] if cut else list(weights)
        draws.append(Draw(position, ''.join(text), labels, chances, labels[token_id]))
        if token_id != tokenizer.bos:
            text.append(tokenizer.chars[token_id])

    name = sample_one(engine, tokenizer, rng, temperature=temperature, top_k=top_k, top_p=top_p, prefix=prefix,
                      on_draw=record)
    return SampleTrace(name, prefix, temperature, top_k, top_p, draws)
