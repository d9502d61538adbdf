import math
import random

import pytest

from microgpt.autograd import Val

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


def test_reused_node_accumulates_gradient():
    a = Val(2.0)
    y = a * a + a  # dy/da = 2a + 1
    y.backward()
    assert a.grad == 5.0


def test_fused_nodes_equal_plain_operators():
    rng = random.Random(0)
    ws = [Val(rng.gauss(0, 1)) for _ in range(7)]
    xs = [Val(rng.gauss(0, 1)) for _ in range(7)]
    plain = sum(w * x for w, x in zip(ws, xs))
    fused = Val.dot(ws, xs)
    assert fused.data == plain.data  # same left-to-right sum
    plain.backward()
    plain_grads = [v.grad for v in ws + xs]
    for v in ws + xs:
        v.grad = 0.0
    fused.backward()
    assert [v.grad for v in ws + xs] == pytest.approx(plain_grads, rel=1e-12)
    assert Val.sum(xs).data == sum(x for x in xs).data


def test_deep_graph_backward_has_no_recursion_limit():
    x = Val(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0 + 0.0
    y.backward()
    assert x.grad == 1.0


def test_zero_grad_clears_the_whole_graph():
    a, b = Val(2.0), Val(3.0)
    c = a * b + a
    c.backward()
    assert a.grad == 4.0
    c.zero_grad()
    assert a.grad == b.grad == c.grad == 0.0


def test_log_of_exp_round_trips():
    x = Val(0.7)
    assert math.isclose(x.exp().log().data, 0.7)
