"""The exact floating-point-operation count of a training step, in closed form.

What one FLOP is: one float operation that the Val engine performs, as Python performs it:
every `+` or `-` (add), `*` (mul), `/` (div), `**` (pow), math.exp (exp), math.log (log),
unary minus of a float (neg) and comparison of floats (cmp: max's comparisons, ReLU's
`> 0`, which it makes twice: once for the value, once for its local gradient). Each counts
as one, whatever its cost in cycles. Constants the engine recomputes each time count too
(`head_dim ** 0.5` per attention logit, `n ** -1` of each `/ n`, the `1 - beta` of Adam);
integer arithmetic (indices, `k - 1` of an integer exponent) does not. A step is:

  forward    every atom of the loss's graph (a fused `sum` of n inputs is the n additions
             of 0 + v0 + v1 + ...; a `dot` of n pairs is n products and n additions), the
             local-gradient arithmetic the atoms compute as they are built (`x ** k` also
             computes `k * x ** (k - 1)`; `log x` computes `1 / x`), and the floats around
             them (softmax's max and the `-max`, the constants above, the batch mean's `1 / N`).
  backward   every edge of the graph (child, parent) does `child.grad += local * grad`: one
             mul and one add. Edges to constants (the -1 of `-x`, the `1 / N`) count: the
             engine computes them. There is no other arithmetic in backward.
  optimizer  Adam as engines/val.py writes it, per parameter (5 mul, 6 add, 3 div, 2 pow:
             `1 - beta` is recomputed for every parameter), plus the step's scalars: the bias
             corrections `1 - beta ** t` (2 pow, 2 add) and the learning rate of the linear
             schedule, `lr * (1 - step / num_steps)` (1 div, 1 add, 1 mul).

Dropout (off by default; on when a count's `dropout` share is above 0) multiplies each
attention weight and each residual branch's output by its mask value (0 or 1 / (1 - p)): a
mul node each, whatever the mask says, so its cost does not depend on p. Drawing the masks is
numpy's work, not the engine's, and is not counted.

Gradient clipping (off by default; math.hypot's operations are not Python's to count) and
the numpy engine's own arithmetic are not counted. Position t of a document attends over
t + 1 keys, so attention's cost grows with position and a document's with its length squared.

A step costs batch_fixed_flops (the mean's `1 / N` and its product, Adam) plus each
document's document_flops (a function of its length alone), so the expected step over a data
set, mean_step_flops, is exact; steps_for_budget divides a budget by it. tests/test_flops.py
checks every kind against the graph the Val engine builds, edge by edge, and against floats
that count their own arithmetic.
"""
import math
from collections import Counter
from dataclasses import dataclass, fields
from fractions import Fraction

from .errors import MicrogptError

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


# --- the graph of one batch, in closed form ----------------------------------------------
# The graph is counted as nodes by op ('+', ..., 'dot'), and the loose floats computed beside
# them ('float pow', ...); its FLOPs and edges follow from what each node computes and how
# many children it has.

NODE_FLOPS = {  # what building one node computes: its value and its local gradients
    '+': {'add': 1},
    '*': {'mul': 1},
    '**int': {'pow': 2, 'mul': 1},              # x ** k, and k * x ** (k - 1): k - 1 is an int
    '**float': {'pow': 2, 'mul': 1, 'add': 1},  # a float k: k - 1 is a float subtraction
    'exp': {'exp': 1},
    'log': {'log': 1, 'div': 1},                # log x, and 1 / x
    'relu': {'cmp': 2},                         # x > 0 for the value, again for the gradient
    'sum': {'add': 1},                          # per input: 0 + v0 + v1 + ...
    'dot': {'mul': 1, 'add': 1},                # per pair
}
NODE_EDGES = {'+': 2, '*': 2, '**int': 1, '**float': 1, 'exp': 1, 'log': 1, 'relu': 1,
              'sum': 1, 'dot': 2}  # children per node (per input of a sum, per pair of a dot)


class _Counts:
    """Nodes by op (the keys of NODE_FLOPS) and loose FLOPs ('float ' + kind), each
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


def _divided_by_node():
    """`a / b` of two Vals is `a * b ** -1`."""
    return _Counts({'**int': 1, '*': 1})


def _exps(n):
    """[(v - max).exp() for v in logits]: max's n - 1 comparisons, and per logit the float
    -max, an add node and an exp node."""
    return _Counts({'float cmp': n - 1, 'float neg': n, '+': n, 'exp': n})


def _attention_head(d):
    """One head (d = head_dim) over T keys: T logits (a dot of d, then `/ d ** 0.5`: the
    float d ** 0.5, its ** -1, a mul node), the softmax of T, then d dots of T."""
    logits = _Counts(per_key={'dot': d, 'float pow': 2, '*': 1})
    # the softmax: _exps(T), a sum of T, and T divisions by it (_divided_by_node per key)
    softmax = _Counts({'float cmp': -1}, {'float cmp': 1, 'float neg': 1, '+': 1, 'exp': 1,
                                          'sum': 1, '**int': 1, '*': 1})
    return logits + softmax + _Counts(per_key={'dot': d})


def _layer(config, dropout=0.0):
    e, f = config.n_embd, config.ff_mult * config.n_embd
    residual = _Counts({'+': e})
    attention = (_rmsnorm(e) + _Counts({'dot': 3 * e * e})  # q, k, v
                 + _attention_head(config.head_dim).times(config.n_head)
                 + _Counts({'dot': e * e}) + residual)
    mlp = _rmsnorm(e) + _Counts({'dot': e * f, 'relu': f}) + _Counts({'dot': f * e}) + residual
    if dropout:  # a mul node per attention weight (per head and key), per branch output
        attention += _Counts({'*': e}, per_key={'*': config.n_head})
        mlp += _Counts({'*': e})
    return attention + mlp


def _cross_entropy(v):
    # exps, their sum, exps[target] / sum, .log(), and `-`: a mul node by -1
    return _exps(v) + _Counts({'sum': v}) + _divided_by_node() + _Counts({'log': 1, '*': 1})


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
    forward = Counter({key[len('float '):]: num for key, num in counts.items()
                       if key.startswith('float ')})
    edges = 0
    for op, num in counts.items():
        if op in NODE_FLOPS:
            forward.update({kind: k * num for kind, k in NODE_FLOPS[op].items()})
            edges += NODE_EDGES[op] * num
    return _phase('forward', **forward), _phase('backward', mul=edges, add=edges)


def _check_length(config, n):
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= config.block_size:
        raise MicrogptError(f"a document's number of positions must be a whole number in "
                            f"1..block_size ({config.block_size}), got {n!r}")


def _checked_lengths(config, lengths):
    lengths = list(lengths)
    if not lengths:
        raise MicrogptError("no documents: a batch needs at least one")
    # each distinct value once (a data set has few), and any non-int (True == 1 in a set)
    for n in set(lengths) | {n for n in lengths if type(n) is not int}:
        _check_length(config, n)
    return lengths


ADAM_PER_PARAM = {'mul': 5, 'add': 6, 'div': 3, 'pow': 2}
ADAM_PER_STEP = {'pow': 2, 'add': 3, 'div': 1, 'mul': 1}  # 1 - beta ** t twice; the schedule


def optimizer_flops(config):
    """Adam's FLOPs for one step: per parameter, and the step's scalars."""
    n = config.num_params()
    return _phase('optimizer', **{k: ADAM_PER_PARAM[k] * n + ADAM_PER_STEP[k] for k in ADAM_PER_PARAM})


# --- the public counts ---------------------------------------------------------------------

def graph_atoms(config, lengths, dropout=0.0):
    """The loss graph of one batch as the Val engine builds it: {'+', '*', '**', 'exp',
    'log', 'relu': nodes of that _op; 'sum': inputs of sum nodes; 'dot': pairs of dot nodes;
    'edges': children of every node (a dot has two per pair)}."""
    counts = _batch_counts(config, lengths, dropout)
    atoms = {op: counts[op] for op in ('+', '*', 'exp', 'log', 'relu', 'sum', 'dot')}
    atoms['**'] = counts['**int'] + counts['**float']
    atoms['edges'] = sum(NODE_EDGES[op] * num for op, num in counts.items() if op in NODE_EDGES)
    return atoms


def step_phases(config, lengths, dropout=0.0):
    """One step's FLOPs by phase: {'forward': Flops, 'backward': Flops, 'optimizer': Flops},
    each with the kinds of its own operations; they sum to step_flops."""
    forward, backward = _as_flops(_batch_counts(config, lengths, dropout))
    return {'forward': forward, 'backward': backward, 'optimizer': optimizer_flops(config)}


def step_flops(config, lengths, dropout=0.0):
    """The exact FLOPs of one training step on a batch of documents with these numbers of
    positions (tokens - 1, cropped to block_size): forward, backward and Adam (`dropout`: the
    share dropped; any share above 0 costs the same)."""
    phases = step_phases(config, lengths, dropout)
    return phases['forward'] + phases['backward'] + phases['optimizer']


def document_flops(config, n, dropout=0.0):
    """What one document of n positions adds to a step: its forward and backward."""
    _check_length(config, n)
    forward, backward = _as_flops(_position(config, dropout).over_positions(n).base)
    return forward + backward


def batch_fixed_flops(config):
    """What a step costs whatever its documents: the batch mean's float 1 / N and its mul
    node (with their edges), and Adam. step_flops = this + the documents' document_flops."""
    forward, backward = _as_flops(_BATCH_FIXED.base)
    return forward + backward + optimizer_flops(config)


def mean_step_flops(config, batch_size, lengths, dropout=0.0):
    """The expected FLOPs of one step whose batch_size documents are drawn uniformly from a
    data set of documents with these position counts.

    A step costs a fixed part (batch_fixed_flops) plus each document's own cost, which
    depends on its length alone; so by linearity of expectation the mean is exactly the fixed
    part plus batch_size times the data set's mean document cost, whether the documents are
    drawn independently or walked from a shuffled list as the trainer does. Each count is
    exact: an int where whole, else the float nearest the exact fraction."""
    return Flops(**{name: _as_number(x) for name, x in _exact_mean(config, batch_size, lengths, dropout).items()})


def _exact_mean(config, batch_size, lengths, dropout=0.0):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise MicrogptError(f"batch_size must be a whole number >= 1, got {batch_size!r}")
    counts = Counter(_checked_lengths(config, lengths))
    docs = Flops()
    for n, num in counts.items():
        docs = docs + document_flops(config, n, dropout).scaled(num)
    fixed, docs = batch_fixed_flops(config).to_dict(), docs.to_dict()
    num_docs = sum(counts.values())
    return {f.name: fixed[f.name] + Fraction(batch_size * docs[f.name], num_docs) for f in fields(Flops)}


def _as_number(x):
    return int(x) if x.denominator == 1 else float(x)


def training_flops(config, batch_size, num_steps, lengths, dropout=0.0):
    """The expected FLOPs of num_steps steps: num_steps * mean_step_flops, exactly."""
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 0:
        raise MicrogptError(f"num_steps must be a whole number >= 0, got {num_steps!r}")
    return Flops(**{name: _as_number(x * num_steps)
                    for name, x in _exact_mean(config, batch_size, lengths, dropout).items()})


def steps_for_budget(config, batch_size, budget, lengths, dropout=0.0):
    """The number of whole steps whose expected cost (mean_step_flops) fits in `budget`
    FLOPs: floor(budget / step), computed exactly, so that k steps' cost buys k steps."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not (
            math.isfinite(budget) and budget > 0):
        raise MicrogptError(f"a FLOPs budget must be a finite number > 0, got {budget!r}")
    mean = _exact_mean(config, batch_size, lengths, dropout)
    step = sum(mean[kind] for kind in KINDS)
    steps = math.floor(Fraction(budget) / step)
    if steps < 1:
        raise MicrogptError(f"a budget of {budget:.4g} FLOPs is less than one step of this model "
                            f"({float(step):.4g} FLOPs)")
    return steps


def lengths_of(docs, block_size, tokenizer=None):
    """The number of positions (tokens - 1, cropped to block_size) of each document, as the
    trainer's batches hold them. block_size may be a GPTConfig. Without a tokenizer: one
    token per character (microgpt's tokenizer) and a BOS at each end."""
    block_size = getattr(block_size, 'block_size', block_size)
    if tokenizer is not None:
        return [len(tokenizer.doc_tokens(doc, block_size)) - 1 for doc in docs]
    return [min(len(doc) + 1, block_size) for doc in docs]
