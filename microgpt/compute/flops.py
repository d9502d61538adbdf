"""The exact floating-point-operation count of a training step, in closed form (no graph is built).

One FLOP is one float operation the Val engine performs, as Python performs it (docs/pages/flops.md lists the
kinds; tests/test_flops.py checks each against the graph the Val engine builds). Constants the engine
recomputes count (`head_dim ** 0.5` per logit, `n ** -1` of each `/ n`, Adam's `1 - beta`); integer arithmetic
does not. Forward is every atom of the loss's graph with the local gradients it computes as it is built;
backward one mul and one add per edge (`child.grad += local * grad`); the optimizer Adam as engines/val.py
writes it. Gradient clipping and the numpy engine's own arithmetic are not counted.
"""
import math
from collections import Counter
from dataclasses import dataclass, fields
from fractions import Fraction

from ..errors import MicrogptError

KINDS = ('add', 'mul', 'div', 'pow', 'exp', 'log', 'neg', 'cmp')
PHASES = ('forward', 'backward', 'optimizer')


@dataclass(frozen=True)
class Flops:
    """FLOPs by kind (add ... cmp) and by phase (forward, backward, optimizer): two views of
    the same operations, so the kinds and the phases each sum to `total`."""
    add: float = 0
    mul: float = 0
    div: float = 0
    pow: float = 0
    exp: float = 0
    log: float = 0
    neg: float = 0
    cmp: float = 0
    forward: float = 0
    backward: float = 0
    optimizer: float = 0

    @property
    def total(self):
        return sum(getattr(self, kind) for kind in KINDS)

    def __add__(self, other):
        if not isinstance(other, Flops):
            return NotImplemented
        return Flops(**{f.name: getattr(self, f.name) + getattr(other, f.name) for f in fields(self)})

    def scaled(self, factor):
        return Flops(**{f.name: getattr(self, f.name) * factor for f in fields(self)})

    def to_dict(self):
        return {**{f.name: getattr(self, f.name) for f in fields(self)}, 'total': self.total}


def _phase(phase, **kinds):
    """A Flops of one phase: these kinds, and the phase's total."""
    return Flops(**kinds, **{phase: sum(kinds.values())})


# --- the graph of one batch, in closed form: nodes by op and the loose floats beside them ---------

NODES = {  # op: (what building one node computes: its value and local gradients, its children)
    '+': ({'add': 1}, 2),
    '*': ({'mul': 1}, 2),
    '**int': ({'pow': 2, 'mul': 1}, 1),              # x ** k, and k * x ** (k - 1): k - 1 is an int
    '**float': ({'pow': 2, 'mul': 1, 'add': 1}, 1),  # a float k: k - 1 is a float subtraction
    'exp': ({'exp': 1}, 1),
    'log': ({'log': 1, 'div': 1}, 1),                # log x, and 1 / x
    'relu': ({'cmp': 2}, 1),                         # x > 0 for the value, again for the gradient
    'sum': ({'add': 1}, 1),                          # per input of a sum node: 0 + v0 + v1 + ...
    'dot': ({'mul': 1, 'add': 1}, 2),                # per pair of a dot node
}


class _Counts:
    """Nodes by op (the keys of NODES) and loose FLOPs ('float ' + kind), each
    `base + per_key * T` at a position whose attention has T keys."""

    def __init__(self, base=None, per_key=None):
        self.base, self.per_key = Counter(base or {}), Counter(per_key or {})

    def __add__(self, other):
        base, per_key = Counter(self.base), Counter(self.per_key)
        base.update(other.base)
        per_key.update(other.per_key)
        return _Counts(base, per_key)

    def times(self, n):
        return _Counts({k: v * n for k, v in self.base.items()},
                       {k: v * n for k, v in self.per_key.items()})

    def over_positions(self, n):
        """Summed over the n positions of a document: T = 1..n, n(n + 1) / 2 keys in all."""
        total = Counter({k: v * n for k, v in self.base.items()})
        total.update({k: v * (n * (n + 1) // 2) for k, v in self.per_key.items()})
        return _Counts(total)


def _rmsnorm(n):
    # dot(x, x); `/ n` is `* n ** -1` (a float pow, a mul node); `+ eps`; `** -0.5`; n muls
    return _Counts({'dot': n, 'float pow': 1, '*': 1 + n, '+': 1, '**float': 1})


def _attention_head(d):
    """One head (d = head_dim) over T keys: T logits, each a dot of d then `/ d ** 0.5` (the float
    d ** 0.5, its ** -1, a mul node); their softmax (max's T - 1 comparisons, per key the float -max,
    an add node, an exp node, an input of the sum and a division `a * b ** -1`); then d dots of T."""
    return _Counts({'float cmp': -1}, {'dot': 2 * d, 'float pow': 2, '*': 2, 'float cmp': 1, 'float neg': 1,
                                       '+': 1, 'exp': 1, 'sum': 1, '**int': 1})


def _layer(config, dropout=0.0):
    e, f = config.n_embd, config.ff_mult * config.n_embd
    # each branch: its rmsnorm, its matrices (q, k, v and the output's; the MLP's two), the residual's e adds
    attention = (_rmsnorm(e) + _Counts({'dot': 4 * e * e, '+': e})
                 + _attention_head(config.head_dim).times(config.n_head))
    mlp = _rmsnorm(e) + _Counts({'dot': 2 * e * f, 'relu': f, '+': e})
    if dropout:  # a mul node per attention weight (per head and key), per branch output
        attention += _Counts({'*': e}, per_key={'*': config.n_head})
        mlp += _Counts({'*': e})
    return attention + mlp


def _cross_entropy(v):
    # softmax's exps as in _attention_head, their sum, exps[target] / sum (a * b ** -1), .log(), and `-`:
    # a mul node by -1
    return _Counts({'float cmp': v - 1, 'float neg': v, '+': v, 'exp': v, 'sum': v, '**int': 1, '*': 2, 'log': 1})


def _position(config, dropout=0.0):
    e, v = config.n_embd, config.vocab_size
    return (_Counts({'+': e}) + _rmsnorm(e) + _layer(config, dropout).times(config.n_layer)
            + _Counts({'dot': v * e}) + _cross_entropy(v)
            + _Counts({'sum': 1}))  # the position's loss: one input of the batch mean's sum


# what a step's graph holds whatever its documents: the mean's float 1 / N, its mul node
_BATCH_FIXED = _Counts({'float div': 1, '*': 1})


def _batch_counts(config, lengths, dropout=0.0):
    counts, position = _BATCH_FIXED, _position(config, dropout)
    for n, num in Counter(_checked_lengths(config, lengths)).items():
        counts = counts + position.over_positions(n).times(num)
    return counts.base


def _as_flops(counts):
    """(forward Flops, backward Flops) of a graph's counts."""
    forward = Counter({key[len('float '):]: num for key, num in counts.items() if key.startswith('float ')})
    edges = 0
    for op, num in counts.items():
        if op in NODES:
            computed, children = NODES[op]
            forward.update({kind: k * num for kind, k in computed.items()})
            edges += children * num
    return _phase('forward', **forward), _phase('backward', mul=edges, add=edges)


def _checked_lengths(config, lengths):
    lengths = list(lengths)
    if not lengths:
        raise MicrogptError("no documents: a batch needs at least one")
    # each distinct value once (a data set has few), and any non-int (True == 1 in a set)
    for n in set(lengths) | {n for n in lengths if type(n) is not int}:
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= config.block_size:
            raise MicrogptError(f"a document's number of positions must be a whole number in "
                                f"1..block_size ({config.block_size}), got {n!r}")
    return lengths


ADAM_PER_PARAM = {'mul': 5, 'add': 6, 'div': 3, 'pow': 2}
ADAM_PER_STEP = {'pow': 2, 'add': 3, 'div': 1, 'mul': 1}  # 1 - beta ** t twice; the schedule


def optimizer_flops(config):
    """Adam's FLOPs for one step: per parameter, and the step's scalars."""
    n = config.num_params()
    return _phase('optimizer', **{k: ADAM_PER_PARAM[k] * n + ADAM_PER_STEP[k] for k in ADAM_PER_PARAM})


# --- the public counts ---------------------------------------------------------------------

def step_phases(config, lengths, dropout=0.0):
    """One step's FLOPs as {'forward': Flops, 'backward': Flops, 'optimizer': Flops}: they sum to step_flops."""
    forward, backward = _as_flops(_batch_counts(config, lengths, dropout))
    return {'forward': forward, 'backward': backward, 'optimizer': optimizer_flops(config)}


def step_flops(config, lengths, dropout=0.0):
    """The exact FLOPs of one training step (forward, backward, Adam) on documents with these numbers of
    positions (tokens - 1, cropped to block_size); any dropout share above 0 costs the same."""
    return sum(step_phases(config, lengths, dropout).values(), Flops())


def document_flops(config, n, dropout=0.0):
    """What one document of n positions adds to a step: its forward and backward."""
    _checked_lengths(config, [n])
    forward, backward = _as_flops(_position(config, dropout).over_positions(n).base)
    return forward + backward


def batch_fixed_flops(config):
    """What a step costs whatever its documents (the batch mean's 1 / N, its mul node, Adam):
    step_flops is this plus the documents' document_flops."""
    forward, backward = _as_flops(_BATCH_FIXED.base)
    return forward + backward + optimizer_flops(config)


def mean_step_flops(config, batch_size, lengths, dropout=0.0):
    """The expected FLOPs of a step of batch_size documents drawn uniformly from a data set with these
    lengths (independently, or walked from a shuffled list as the trainer does): by linearity of expectation,
    exactly the fixed part plus batch_size times the mean document's cost; an int where whole."""
    return _exactly(_exact_mean(config, batch_size, lengths, dropout))


def training_flops(config, batch_size, num_steps, lengths, dropout=0.0):
    """The expected FLOPs of num_steps steps: num_steps * mean_step_flops, exactly."""
    _check_whole('num_steps', num_steps, 0)
    return _exactly(_exact_mean(config, batch_size, lengths, dropout), num_steps)


def _exact_mean(config, batch_size, lengths, dropout=0.0):
    """mean_step_flops as {field: Fraction}."""
    _check_whole('batch_size', batch_size, 1)
    counts = Counter(_checked_lengths(config, lengths))
    docs = sum((document_flops(config, n, dropout).scaled(num) for n, num in counts.items()), Flops()).to_dict()
    fixed, num_docs = batch_fixed_flops(config).to_dict(), sum(counts.values())
    return {f.name: fixed[f.name] + Fraction(batch_size * docs[f.name], num_docs) for f in fields(Flops)}


def _exactly(fractions, factor=1):
    """Flops of these fractions times factor: each an int where whole, else the nearest float."""
    scaled = {name: x * factor for name, x in fractions.items()}
    return Flops(**{name: int(x) if x.denominator == 1 else float(x) for name, x in scaled.items()})


def _check_whole(name, value, least):
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise MicrogptError(f"{name} must be a whole number >= {least}, got {value!r}")


def check_budget(budget):
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not math.isfinite(budget) or budget <= 0:
        raise MicrogptError(f"a FLOPs budget must be a finite number > 0, got {budget!r}")


def steps_for_budget(config, batch_size, budget, lengths, dropout=0.0):
    """floor(budget / mean_step_flops), computed exactly, so that k steps' cost buys k steps."""
    check_budget(budget)
    mean = _exact_mean(config, batch_size, lengths, dropout)
    step = sum(mean[kind] for kind in KINDS)
    steps = math.floor(Fraction(budget) / step)
    if steps < 1:
        raise MicrogptError(f"a budget of {budget:.4g} FLOPs is less than one step of this model "
                            f"({float(step):.4g} FLOPs)")
    return steps


def lengths_of(docs, block_size, tokenizer=None):
    """Each document's positions (tokens - 1, cropped to block_size, which may be a GPTConfig) as the
    trainer's batches hold them; without a tokenizer, one token per character and a BOS at each end."""
    block_size = getattr(block_size, 'block_size', block_size)
    if tokenizer is not None:
        return [len(tokenizer.doc_tokens(doc, block_size)) - 1 for doc in docs]
    return [min(len(doc) + 1, block_size) for doc in docs]
