import math
import random

import pytest

from microgpt.gpt.autograd import Val

H = 1e-6


def numeric_grad(f, xs):
    """Central finite differences of scalar f at the point xs (list of floats)."""
    grads = []
    for i in range(len(xs)):
        up = list(xs); up[i] += H
        down = list(xs); down[i] -= H
        grads.append((f(up) - f(down)) / (2 * H))
    return grads


def autograd_grad(build, xs):
    vals = [Val(x) for x in xs]
    out = build(vals)
    out.backward()
    return out.data, [v.grad for v in vals]


OPS = {
    'add': lambda a, b: a + b,
    'sub': lambda a, b: a - b,
    'mul': lambda a, b: a * b,
    'div': lambda a, b: a / b,
    'pow': lambda a, b: a ** 3 + b ** -0.5,
    'exp': lambda a, b: a.exp() * b,
    'log': lambda a, b: a.log() + b.log(),
    'relu': lambda a, b: (a - b).relu() + (b - a * 2.0).relu(),
    'neg': lambda a, b: -a * b,
    'radd': lambda a, b: 2.5 + a * b,
    'rsub': lambda a, b: 2.5 - a * b,
    'rmul': lambda a, b: 2.5 * a + b,
    'rtruediv': lambda a, b: 2.5 / (a * b),
    'rpow': lambda a, b: 2.5 ** (a * b) + 0.5 ** a,
    'tanh': lambda a, b: (a * b - 1.0).tanh() * b,
    'sum': lambda a, b: Val.sum([a, b, a * b]),
    'dot': lambda a, b: Val.dot([a, b, a], [b, b, a]),
    'composite': lambda a, b: ((a * b).exp() + (a / b).log()) ** 2 / (1.0 + a),
}


def as_float(build):
    """Run an op on plain floats by wrapping them, for the finite differences."""
    return lambda xs: build(*[Val(x) for x in xs]).data


@pytest.mark.parametrize('name', sorted(OPS))
def test_op_gradient_matches_finite_differences(name):
    op = OPS[name]
    rng = random.Random(name)
    for _ in range(5):
        xs = [rng.uniform(0.3, 2.0), rng.uniform(0.3, 2.0)]
        _, grads = autograd_grad(lambda v: op(*v), xs)
        expected = numeric_grad(as_float(op), xs)
        assert grads == pytest.approx(expected, rel=1e-5, abs=1e-7)


# Val.sum and Val.dot have no torch counterpart of that name: they are checked against the
# chains of `+` and `*` they stand for (test_fused_nodes_equal_the_chains_they_stand_for_bit_for_bit).
TORCH_OPS = sorted(set(OPS) - {'sum', 'dot'})


@pytest.mark.parametrize('name', TORCH_OPS)
def test_op_value_and_gradient_match_torch(name):
    torch = pytest.importorskip('torch')
    op = OPS[name]
    rng = random.Random(name)
    for _ in range(5):
        xs = [rng.uniform(0.3, 2.0), rng.uniform(0.3, 2.0)]
        value, grads = autograd_grad(lambda v: op(*v), xs)
        tensors = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in xs]
        out = op(*tensors)
        out.backward()
        assert value == pytest.approx(out.item(), rel=1e-13)
        assert grads == pytest.approx([t.grad.item() for t in tensors], rel=1e-12, abs=1e-15)


def test_tanh_saturates_without_overflow():
    for x, expected in ((0.0, 0.0), (800.0, 1.0), (-800.0, -1.0)):
        v = Val(x)
        y = v.tanh()
        y.backward()
        assert y.data == expected and v.grad == (1.0 if x == 0.0 else 0.0)


def test_a_number_to_a_vals_power_needs_a_positive_base():
    x = Val(3.0)
    y = 2 ** x
    y.backward()
    assert y.data == 8.0 and x.grad == 8.0 * math.log(2)
    for base in (0, -2.0):
        with pytest.raises(AssertionError, match='positive number as base'):
            base ** x


def test_relu_gradient_is_zero_below_zero():
    x = Val(-1.5)
    y = x.relu()
    y.backward()
    assert y.data == 0.0 and x.grad == 0.0


def test_operators_are_symmetric():
    a = Val(3.0)
    for left, right in [(a + 1.0, 1.0 + a), (a * 2.0, 2.0 * a)]:
        assert left.data == right.data
    assert (a - 1.0).data == -(1.0 - a).data
    assert (a / 2.0).data == 1.5 and (6.0 / a).data == 2.0


def test_reflected_operators_take_the_gradient_of_their_right_operand():
    a = Val(2.0)
    for build, expected in [(lambda: 3.0 + a, 1.0), (lambda: 3.0 - a, -1.0),
                            (lambda: 3.0 * a, 3.0), (lambda: 3.0 / a, -0.75)]:
        a.grad = 0.0
        build().backward()
        assert a.grad == expected


def test_subtraction_and_division_are_composed_like_the_original():
    # a / b rounds twice, as a * b**-1; these operands are ones where that differs from a / b
    a, b = 0.528419214991082, 1.7406373527932955
    assert a / b != a * b ** -1
    assert (Val(a) / Val(b)).data == a * b ** -1
    assert (Val(a) / 3).data == a * 3 ** -1 and (a / Val(b)).data == a * b ** -1
    assert (Val(a) - Val(b)).data == a + (-b) and (a - Val(b)).data == (-b) + a


def test_reused_node_accumulates_gradient():
    a = Val(2.0)
    y = a * a + a  # dy/da = 2a + 1
    y.backward()
    assert a.grad == 5.0


def random_program(seed, length=60):
    """Steps (op, i, j) over a growing pool of nodes; later steps reuse earlier nodes often,
    so many nodes have several consumers and the order their gradients add up in matters."""
    rng = random.Random(seed)
    return [(rng.choice(sorted(PROGRAM_OPS)), rng.randrange(3 + k), rng.randrange(3 + k))
            for k in range(length)]


PROGRAM_OPS = {  # each keeps values in a safe range, for any inputs
    'add': lambda a, b: a + b, 'sub': lambda a, b: a - b, 'mul': lambda a, b: a * b * 0.5,
    'div': lambda a, b: a / (b * b + 1.0), 'pow': lambda a, b: (a * a + 0.5) ** -0.5,
    'exp': lambda a, b: (a * 0.1).exp(), 'log': lambda a, b: (b * b + 1.0).log(),
    'relu': lambda a, b: (a - b).relu(), 'neg': lambda a, b: -a, 'radd': lambda a, b: 0.3 + a,
    'rsub': lambda a, b: 0.3 - b, 'rmul': lambda a, b: 0.7 * a, 'rdiv': lambda a, b: 1.0 / (a * a + 2.0),
    'rpow': lambda a, b: 1.5 ** (a * 0.1), 'tanh': lambda a, b: (a - b).tanh(),
}


def recursive_post_order(root):
    """Post-order of the nodes below root, children left to right, by plain recursion: the
    order backward() promises (it keeps its own stack, so deep graphs need no recursion)."""
    seen, order = set(), []

    def visit(node):
        if node in seen or not node._children:
            return
        seen.add(node)
        for child in node._children:
            visit(child)
        order.append(node)

    visit(root)
    return order


@pytest.mark.parametrize('seed', range(20))
def test_backward_walks_the_graph_in_recursive_post_order(seed):
    nodes = [Val(x) for x in (0.5, -1.25, 2.0)]
    for op, i, j in random_program(seed):
        nodes.append(PROGRAM_OPS[op](nodes[i], nodes[j]))
    out = Val.sum(nodes[-10:])
    assert out._topological_order() == recursive_post_order(out)


@pytest.mark.parametrize('seed', range(5))
def test_random_programs_gradients_match_finite_differences(seed):
    program = random_program(seed, length=25)

    def value(xs):
        nodes = [Val(x) for x in xs]
        for op, i, j in program:
            nodes.append(PROGRAM_OPS[op](nodes[i], nodes[j]))
        return Val.sum(nodes[-10:]), nodes[:3]

    xs = [0.5, -1.25, 2.0]
    out, leaves = value(xs)
    out.backward()
    expected = numeric_grad(lambda p: value(p)[0].data, xs)
    assert [v.grad for v in leaves] == pytest.approx(expected, rel=1e-5, abs=1e-6)


def fused_or_chain(dot, total, ws, xs, shared):
    """Dots and sums of inputs that share a leaf, so the order in which the inputs hand back
    their gradients shows in that leaf's gradient's last bits."""
    ws, xs, s = [Val(w) for w in ws], [Val(x) for x in xs], Val(shared)
    scaled_ws, scaled_xs = [w * s for w in ws], [s * x for x in xs]
    # x * x is a dot too, as in rmsnorm: an input that is both factors
    out = (dot(scaled_ws, scaled_xs) * dot(xs, xs)).exp() + total(scaled_ws).exp()
    out.backward()
    return out.data, [v.grad for v in ws + xs + [s]]


def test_fused_nodes_equal_the_chains_they_stand_for_bit_for_bit():
    """Val.sum and Val.dot are one node each for the chain 0 + a + b + ... of Val's own `+`
    and `*` nodes (what Python's sum() builds over Vals): the same value and the same
    gradients, to the last bit."""
    rng = random.Random(0)
    for n in (1, 2, 7, 16):
        for _ in range(5):
            args = [rng.gauss(0, 1) for _ in range(n)], [rng.gauss(0, 1) for _ in range(n)], rng.gauss(0, 1)
            fused = fused_or_chain(Val.dot, Val.sum, *args)
            chain = fused_or_chain(lambda a, b: sum(x * y for x, y in zip(a, b)), sum, *args)
            assert fused == chain


def test_deep_graph_backward_has_no_recursion_limit():
    x = Val(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_log_of_exp_round_trips():
    x = Val(0.7)
    assert math.isclose(x.exp().log().data, 0.7)
