"""microgpt.compute.flops against what the Val engine really builds and computes.

Two routes that do not go through the formula: the loss's graph, walked from the loss node by
`_children` and `_op`; and floats that count their own arithmetic (a float subclass) run
through the unchanged model, backward and Adam."""
import builtins
import math
import random
import re
import statistics
import types
from collections import Counter

import pytest

from conftest import docs_text
import microgpt.gpt.autograd as autograd
import microgpt.gpt.model as model
from microgpt.compute import flops
from microgpt.data import Tokenizer
from microgpt.errors import MicrogptError
from microgpt.gpt.dropout import step_masks
from microgpt.gpt.engines.val import ValEngine
from microgpt.gpt.model import GPT, GPTConfig, init_state_dict
from microgpt.gpt.optim import BETA1, BETA2, EPS, AdamSettings, learning_rate_at
from microgpt.training.run import Run

# (config, batch lengths): several layers, heads, ff_mult, block sizes; one and several documents
CASES = [
    (GPTConfig(vocab_size=5, n_embd=4, n_head=1, n_layer=1, block_size=3, ff_mult=1), [3]),
    (GPTConfig(vocab_size=7, n_embd=8, n_head=2, n_layer=2, block_size=6, ff_mult=2), [6]),
    (GPTConfig(vocab_size=6, n_embd=8, n_head=4, n_layer=3, block_size=5, ff_mult=3), [5, 2, 1]),
    (GPTConfig(vocab_size=9, n_embd=6, n_head=3, n_layer=1, block_size=8, ff_mult=4), [4, 8, 4, 7]),
    (GPTConfig(vocab_size=4, n_embd=4, n_head=2, n_layer=2, block_size=4, ff_mult=1), [1, 1]),
]
IDS = [f"L{c.n_layer}H{c.n_head}E{c.n_embd}F{c.ff_mult}B{c.block_size}-{'-'.join(map(str, n))}"
       for c, n in CASES]


def make_batch(config, lengths, rng):
    return [[rng.randrange(config.vocab_size) for _ in range(n + 1)] for n in lengths]


def masks(config, lengths, dropout):
    """A step's dropout masks over these lengths (None when nothing is dropped)."""
    return step_masks(dropout, 0, 0, lengths, config) if dropout else None


def build_loss(config, lengths, seed=0, dropout=0.0):
    rng = random.Random(seed)
    gpt = GPT(config, init_state_dict(config, rng))
    return gpt, gpt.loss(make_batch(config, lengths, rng), dropout=masks(config, lengths, dropout))


def graph_nodes(loss):
    """Every node reachable from loss (leaves too), each once."""
    seen, stack = {id(loss): loss}, [loss]
    while stack:
        for child in stack.pop()._children:
            if id(child) not in seen:
                seen[id(child)] = child
                stack.append(child)
    return list(seen.values())


def count_graph(loss):
    """Atoms by _op (a sum node counted by its inputs, a dot by its pairs) and edges."""
    atoms, edges = Counter(), 0
    for node in graph_nodes(loss):
        if not node._children:
            continue
        edges += len(node._children)
        if node._op == 'sum':
            atoms['sum'] += len(node._children)
        elif node._op == 'dot':
            atoms['dot'] += len(node._children) // 2
        else:
            atoms[node._op] += 1
    return atoms, edges


# --- floats that count their own arithmetic ---------------------------------------------------

TALLY = Counter()
FLOAT_METHODS = {'add': ('__add__', '__radd__', '__sub__', '__rsub__'), 'mul': ('__mul__', '__rmul__'),
                 'div': ('__truediv__', '__rtruediv__'), 'pow': ('__pow__', '__rpow__'),
                 'neg': ('__neg__',), 'cmp': ('__gt__', '__lt__', '__ge__', '__le__')}


class Counted(float):
    """A float that adds one to TALLY[kind] for each operation it takes part in."""


def _counting(kind, name):
    plain = getattr(float, name)

    def method(self, *args):
        result = plain(self, *args)
        if result is NotImplemented:  # the other operand (a Val) will do it
            return result
        TALLY[kind] += 1
        return Counted(result) if type(result) is float else result
    return method


for _kind, _names in FLOAT_METHODS.items():
    for _name in _names:
        setattr(Counted, _name, _counting(_kind, _name))


class CountedInt(int):
    """An int whose float-making operations (`n ** k`, `1 / n`) count."""

    def __pow__(self, k):
        TALLY['pow'] += 1
        return Counted(float(self) ** k)

    def __rtruediv__(self, other):
        TALLY['div'] += 1
        return Counted(other / int(self))


class CountedConfig(GPTConfig):
    @property
    def head_dim(self):
        return CountedInt(self.n_embd // self.n_head)


def counting_math():
    def exp(x):
        TALLY['exp'] += 1
        return Counted(math.exp(x))

    def log(x):
        TALLY['log'] += 1
        return Counted(math.log(x))
    return types.SimpleNamespace(exp=exp, log=log)


@pytest.fixture
def counting(monkeypatch):
    """Make the model's floats count: exp/log, the ints behind `/ len(x)`, a float exponent
    (whose `k - 1` the engine computes); returns a fresh TALLY."""
    monkeypatch.setattr(autograd, 'math', counting_math())
    monkeypatch.setattr(model, 'len', lambda x: CountedInt(builtins.len(x)), raising=False)
    plain_pow = autograd.Val.__pow__
    monkeypatch.setattr(autograd.Val, '__pow__',
                        lambda self, k: plain_pow(self, Counted(k) if type(k) is float else k))
    TALLY.clear()
    return TALLY


def counted_forward(config, lengths, seed=0, dropout=0.0):
    rng = random.Random(seed)
    counted_config = CountedConfig(**config.to_dict())
    gpt = GPT(counted_config, init_state_dict(config, rng))
    for p in gpt.parameters():
        p.data = Counted(p.data)
    batch = make_batch(config, lengths, rng)
    drop = masks(config, lengths, dropout)
    TALLY.clear()
    return gpt.loss(batch, dropout=drop)


def closed_form_atoms(config, lengths, dropout=0.0):
    """The loss graph of one batch as flops counts it: nodes by _op ('sum': inputs of sum nodes, 'dot':
    pairs of dot nodes) and 'edges': children of every node (a dot has two per pair)."""
    counts = flops._batch_counts(config, lengths, dropout)
    atoms = {op: counts[op] for op in ('+', '*', 'exp', 'log', 'relu', 'sum', 'dot')}
    atoms['**'] = counts['**int'] + counts['**float']
    atoms['edges'] = sum(flops.NODES[op][1] * num for op, num in counts.items() if op in flops.NODES)
    return atoms


def kinds(flops_value):
    return {kind: getattr(flops_value, kind) for kind in flops.KINDS}


# --- the graph's atoms and edges --------------------------------------------------------------

@pytest.mark.parametrize('dropout', [0.0, 0.5])
@pytest.mark.parametrize('config,lengths', CASES, ids=IDS)
def test_the_graph_has_the_formulas_atoms_and_edges(config, lengths, dropout):
    _, loss = build_loss(config, lengths, dropout=dropout)
    atoms, edges = count_graph(loss)
    expected = closed_form_atoms(config, lengths, dropout)
    assert dict(atoms) == {op: n for op, n in expected.items() if op != 'edges' and n}
    assert edges == expected['edges']
    backward = flops.step_phases(config, lengths, dropout)['backward']
    assert backward.mul == backward.add == edges
    # the nodes backward() visits are the graph's non-leaf nodes
    assert len(loss._topological_order()) == sum(1 for n in graph_nodes(loss) if n._children)


@pytest.mark.parametrize('dropout', [0.0, 0.5])
@pytest.mark.parametrize('config,lengths', CASES, ids=IDS)
def test_forward_arithmetic_counted_by_the_floats_themselves(config, lengths, counting, dropout):
    loss = counted_forward(config, lengths, dropout=dropout)
    forward = flops.step_phases(config, lengths, dropout)['forward']
    assert dict(+counting) == {k: v for k, v in kinds(forward).items() if v}
    assert forward.forward == forward.total == sum(counting.values())
    # the counting floats changed no value
    _, plain_loss = build_loss(config, lengths, dropout=dropout)
    assert loss.data == plain_loss.data


@pytest.mark.parametrize('config,lengths', CASES[:3], ids=IDS[:3])
def test_backward_arithmetic_counted_by_the_floats_themselves(config, lengths):
    _, loss = build_loss(config, lengths)
    for node in graph_nodes(loss):
        node.grad = Counted(0.0)
        node._local_grads = tuple(Counted(g) for g in node._local_grads)
    TALLY.clear()
    loss.backward()
    backward = flops.step_phases(config, lengths)['backward']
    assert dict(+TALLY) == {'mul': backward.mul, 'add': backward.add}


@pytest.mark.parametrize('config', [CASES[0][0], CASES[2][0]])
def test_adam_arithmetic_counted_by_the_floats_themselves(config):
    rng = random.Random(1)
    engine = ValEngine(config, init_state_dict(config, rng))
    engine.set_adam(AdamSettings(beta1=Counted(BETA1), beta2=Counted(BETA2), eps=Counted(EPS)))
    for p in engine.params:
        p.data, p.grad = Counted(p.data), Counted(rng.gauss(0, 1))
    TALLY.clear()
    step, num_steps = 2, 10
    lr = learning_rate_at(Counted(step), num_steps, Counted(0.01))  # step / num_steps: a float
    engine.adam_step(lr, step + 1)
    assert dict(+TALLY) == {k: v for k, v in kinds(flops.optimizer_flops(config)).items() if v}


def test_a_step_is_its_three_phases():
    config, lengths = CASES[3]
    step, phases = flops.step_flops(config, lengths), flops.step_phases(config, lengths)
    assert step == phases['forward'] + phases['backward'] + phases['optimizer']
    assert step.total == step.forward + step.backward + step.optimizer
    assert step.to_dict()['total'] == step.total
    assert set(step.to_dict()) == set(flops.KINDS) | set(flops.PHASES) | {'total'}


# --- how the numbers scale -------------------------------------------------------------------

def test_attention_makes_a_documents_cost_quadratic_in_its_length():
    config = GPTConfig(vocab_size=27, n_embd=16, n_head=4, n_layer=2, block_size=16)
    cost = [flops.document_flops(config, n).total for n in range(1, 17)]
    second = {cost[i + 1] - 2 * cost[i] + cost[i - 1] for i in range(1, 15)}
    assert len(second) == 1 and second.pop() > 0  # a constant, positive second difference
    # and that curvature is attention's alone: it doubles with the layers, not with the MLP
    wider_mlp = GPTConfig(vocab_size=27, n_embd=16, n_head=4, n_layer=2, block_size=16, ff_mult=8)
    one_layer = GPTConfig(vocab_size=27, n_embd=16, n_head=4, n_layer=1, block_size=16)

    def curvature(c):
        f = [flops.document_flops(c, n).total for n in (1, 2, 3)]
        return f[2] - 2 * f[1] + f[0]
    assert curvature(wider_mlp) == curvature(config) == 2 * curvature(one_layer)


def test_parameters_cost_about_six_flops_per_token_each():
    # a long, wide model with a short context: the matrix products dominate, as 6 * N * D assumes
    config = GPTConfig(vocab_size=27, n_embd=64, n_head=4, n_layer=4, block_size=4)
    phases = flops.step_phases(config, [4] * 8)
    ratio = (phases['forward'].total + phases['backward'].total) / (6 * config.num_params() * 32)
    assert 0.85 < ratio < 1.05


def test_a_batch_is_its_documents_plus_a_fixed_part():
    config = CASES[2][0]
    fixed = flops.batch_fixed_flops(config)
    docs = [flops.document_flops(config, n) for n in (5, 2, 1)]
    assert flops.step_flops(config, [5, 2, 1]) == fixed + docs[0] + docs[1] + docs[2]
    assert flops.step_flops(config, [5, 2, 1]) == flops.step_flops(config, [1, 5, 2])
    # and the fixed part is really there: two documents cost less than two steps of one
    assert (flops.step_flops(config, [5, 5]).total
            == 2 * flops.step_flops(config, [5]).total - fixed.total)


def test_the_mean_step_is_the_mean_over_every_batch():
    config = CASES[1][0]
    lengths = [2, 6, 6, 3]
    batches = [[a, b] for a in lengths for b in lengths]  # draws with replacement, all of them
    exact = sum(flops.step_flops(config, b).total for b in batches) / len(batches)
    assert flops.mean_step_flops(config, 2, lengths).total == pytest.approx(exact, rel=1e-15)
    assert flops.mean_step_flops(config, 3, [4, 4]) == flops.step_flops(config, [4, 4, 4])


def test_training_flops_are_what_the_trainers_batches_cost():
    docs = ['ab', 'abcdefgh', 'c', 'bca', 'abcabc']
    run = Run(docs, arch=dict(n_embd=4, n_head=2, block_size=6), engine_name='numpy')
    batch_size, num_steps = 2, 5  # 10 documents: every one of the 5 twice
    walked = sum(flops.step_flops(run.config, [len(t) - 1 for t in run.batch(s, batch_size)]).total
                 for s in range(num_steps))
    lengths = flops.lengths_of(docs, run.config, run.tokenizer)
    assert flops.lengths_of(docs, run.config.block_size) == lengths == [3, 6, 2, 4, 6]
    assert flops.training_flops(run.config, batch_size, num_steps, lengths).total == walked


# --- the budget ------------------------------------------------------------------------------

def test_steps_for_budget_rounds_down_to_whole_steps():
    config, lengths = CASES[3][0], [4, 8, 5]
    step = flops.mean_step_flops(config, 2, lengths).total
    assert flops.steps_for_budget(config, 2, flops.training_flops(config, 2, 7, lengths).total, lengths) == 7
    assert flops.steps_for_budget(config, 2, 7 * step - 1, lengths) == 6
    assert flops.steps_for_budget(config, 2, step, lengths) == 1


def test_a_budget_below_one_step_is_one_clear_error():
    config = CASES[0][0]
    step = flops.step_flops(config, [3]).total
    with pytest.raises(MicrogptError, match=r"^a budget of 100 FLOPs is less than one step of "
                                            r"this model \(.* FLOPs\)$") as error:
        flops.steps_for_budget(config, 1, 100, [3])
    assert f"{step:.4g}" in str(error.value)
    for bad in (0, -5, float('inf'), float('nan'), True, '1e9'):
        with pytest.raises(MicrogptError):
            flops.steps_for_budget(config, 1, bad, [3])


@pytest.mark.parametrize('lengths', [[], [0], [4], [2.0]])
def test_impossible_lengths_are_refused(lengths):
    with pytest.raises(MicrogptError):
        flops.step_flops(CASES[0][0], lengths)  # block_size 3


# --- the docs' figures (docs/pages/flops.md) ---------------------------------------------------------------------

def readme_section():
    return ' '.join(docs_text('flops').split())


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, pattern
    return float(match.group(1).replace(',', ''))


def test_the_readme_figures_are_computed(names_docs):
    section = readme_section()
    tokenizer = Tokenizer.from_docs(names_docs)
    config = GPTConfig(vocab_size=tokenizer.vocab_size)
    one = flops.step_phases(config, flops.lengths_of(['emma'], config))
    total = sum(p.total for p in one.values())
    assert number(r'`emma` \(5 positions\) is \*\*([\d,]+) FLOPs\*\*', section) == total
    for phase in ('forward', 'backward', 'optimizer'):
        assert number(rf'([\d,]+) {phase}', section) == one[phase].total
    lengths = flops.lengths_of(names_docs, config)
    mean = flops.mean_step_flops(config, 1, lengths)
    assert number(r'names data, an average step is ([\d,]+) FLOPs', section) == round(mean.total)
    six_nd = 6 * config.num_params() * statistics.mean(lengths)
    assert number(r'`6 \* N \* D` = ([\d,]+)', section) == round(six_nd)
    assert number(r'forward and backward are ([\d.]+) times', section) == round(
        (mean.forward + mean.backward) / six_nd, 2)
    assert number(r'with Adam, ([\d.]+) times', section) == round(mean.total / six_nd, 2)
    assert number(r"Adam's (\d+) FLOPs per parameter", section) == sum(flops.ADAM_PER_PARAM.values())
    assert number(r'weigh as much as ([\d.]+) more tokens', section) == round(
        mean.optimizer / (6 * config.num_params()), 1)
    assert number(r'FLOPs \(([\d.]+) positions\)', section) == round(statistics.mean(lengths), 2)
    batch32 = flops.mean_step_flops(config, 32, lengths)
    assert number(r'a step is ([\d.]+) times `6 \* N \* D`', section) == round(batch32.total / (32 * six_nd), 2)
    assert number(r"original's 1,000 steps are ([\d.]+) GFLOPs", section) == round(
        flops.training_flops(config, 1, 1000, lengths).total / 1e9, 3)
