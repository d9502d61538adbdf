"""Val: a scalar that remembers how it was made, so gradients can flow back through it.

Each op is one line of forward (the new value) and its local gradients (d out / d child).
`backward()` applies the chain rule in reverse topological order, without recursion.

The ops are composed as in the original microgpt.py (`a - b` is `a + (-b)`, `a / b` is
`a * b**-1`, `-a` is `a * -1`) and `backward()` visits the graph in the original's order, so
every value and every gradient is the original's to the last bit. `Val.sum` and `Val.dot`
are single nodes standing for a whole chain of the original's nodes: they round exactly as
that chain does and hand each input its gradient in the same order, but cost one node.
"""
import math
import sys
from functools import reduce
from operator import add, mul

# The original's sums are plain left folds, ((0 + x0) + x1) + ..., rounding at every step.
# The builtin sum() of floats is one (and the fastest) up to Python 3.11; from 3.12 on it
# compensates the rounding, so there a fold of `+` stands in for it.
if sys.version_info < (3, 12):
    plain_sum = sum
else:
    def plain_sum(floats):
        return reduce(add, floats, 0.0)


class Val:
    """A scalar that remembers how it was made, so gradients can flow back through it.

    `data` is its value and `grad` the derivative of the last `backward()`'s root with respect
    to it (0.0 until then). Arithmetic with Vals and plain numbers makes new Vals, each holding
    its children (the Vals it was made from) and its local gradients (d self / d child):

        >>> a, b = Val(2.0), Val(-3.0)
        >>> c = a * b + 1.0
        >>> c.data
        -5.0
        >>> c.backward()
        >>> a.grad, b.grad
        (-3.0, 2.0)

    Gradients add up over every path, so reusing a Val is counted each time:

        >>> x = Val(3.0)
        >>> y = x * x + x
        >>> y.backward()
        >>> x.grad
        7.0

    In Jupyter a Val shows as the graph that made it (`microgpt.draw_dot`) where Graphviz
    is installed, and as its repr elsewhere.
    """
    __slots__ = ('data', 'grad', '_children', '_local_grads', '_op', '_walk')

    # Jupyter's picture of a Val: a function of the Val giving SVG text or None. Drawing is the
    # viewer's job (viz/graph.py), so the package's face installs it (microgpt/__init__.py)
    # and the atom imports nothing above it.
    drawer = None

    def __init__(self, data, children=(), local_grads=(), op='', walk=None):
        self.data = data
        self.grad = 0.0
        self._children = children
        self._local_grads = local_grads
        self._op = op  # what made it ('+', '*', 'exp', ...; '' for a leaf): for those who look
        # the children backward()'s walk must enter, in order: all of them, or fewer where the
        # rest are known to be leaves (a linear layer's weights), which the walk never enters
        self._walk = children if walk is None else walk

    def __add__(self, other):
        """self + other (a Val or a number): d/dself = d/dother = 1."""
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data + other.data, (self, other), (1.0, 1.0), '+')

    def __mul__(self, other):
        """self * other (a Val or a number): d/dself = other, d/dother = self."""
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data * other.data, (self, other), (other.data, self.data), '*')

    def __pow__(self, k):
        """self ** k for a number k (not a Val): d/dself = k * self ** (k - 1)."""
        assert isinstance(k, (int, float)), "only a number as exponent"
        return Val(self.data ** k, (self,), (k * self.data ** (k - 1),), '**')

    def __rpow__(self, base):
        """base ** self for a positive number base: d/dself = base ** self * log(base).

        Not on the original's path (its model raises no number to a Val's power)."""
        assert isinstance(base, (int, float)) and base > 0, "only a positive number as base"
        out = base ** self.data
        return Val(out, (self,), (out * math.log(base),), 'rpow')

    def exp(self):
        """e ** self: its own derivative."""
        e = math.exp(self.data)
        return Val(e, (self,), (e,), 'exp')

    def log(self):
        """The natural logarithm (self > 0): d/dself = 1 / self."""
        return Val(math.log(self.data), (self,), (1 / self.data,), 'log')

    def relu(self):
        """max(self, 0): d/dself = 1 above 0, else 0 (0 at 0 itself)."""
        return Val(self.data if self.data > 0 else 0.0, (self,), (float(self.data > 0),), 'relu')

    def tanh(self):
        """The hyperbolic tangent, a neuron's classic squashing: d/dself = 1 - tanh(self) ** 2.

        Not on the original's path (its model uses relu)."""
        t = math.tanh(self.data)
        return Val(t, (self,), (1.0 - t * t,), 'tanh')

    def __neg__(self):
        """-self, as self * -1."""
        return self * -1

    def __sub__(self, other):
        """self - other, as self + (-other)."""
        return self + (-other)

    def __truediv__(self, other):
        """self / other, as self * other ** -1."""
        return self * other ** -1

    def __radd__(self, other):
        """other + self for a number other (so sum() of Vals works)."""
        return self + other

    def __rmul__(self, other):
        """other * self for a number other."""
        return self * other

    def __rsub__(self, other):
        """other - self for a number other, as other + (-self)."""
        return other + (-self)

    def __rtruediv__(self, other):
        """other / self for a number other, as other * self ** -1."""
        return other * self ** -1

    # Fused nodes: one node for a chain of the original's. `sum(vals)` over Vals is the chain
    # 0 + v0 + v1 + ...: the same rounded partial sums, and each link passes its gradient on
    # times 1, exactly, so each input gets the gradient the chain would give it, as one
    # product `1 * g`. Its children are its inputs in the order the chain meets them, so
    # backward() meets the graph below in the original's order. One condition: no input may
    # be computed from an earlier one. (The chain hands an input its gradient after the later
    # inputs' graphs have passed theirs on, the fused node before; only a later input's graph
    # that uses the earlier input could tell.) Every sum and dot of the model meets it.
    @staticmethod
    def sum(vals):
        """v0 + v1 + ... of Vals as one node: the value and gradients of the chain of `+`."""
        vals = tuple(vals)
        return Val(plain_sum([v.data for v in vals]), vals, (1.0,) * len(vals), 'sum')

    @staticmethod
    def dot(xs, ys):
        """sum(x * y for x, y in zip(xs, ys)) as one node, with children x0, y0, x1, y1, ...
        (the original's products meet them in that order) and their local gradients."""
        xd = [x.data for x in xs]
        yd = [y.data for y in ys]
        children = [None] * (2 * len(xd))
        children[0::2], children[1::2] = xs, ys
        local_grads = [None] * (2 * len(xd))
        local_grads[0::2], local_grads[1::2] = yd, xd
        return Val(plain_sum(map(mul, xd, yd)), children, local_grads, 'dot')

    @staticmethod
    def matvec(rows, x):
        """[Val.dot(row, x) for row in rows], reading x's data once. Each output's children are
        x's nodes, then the row's: a reorder of dot's x0, y0, x1, y1, ... that changes no bit,
        as long as the rows hold leaves (parameters), which backward()'s walk never enters, and
        no node is in both (every gradient then gets one addition from the node, whatever the
        order). A linear layer meets both conditions."""
        xd = [v.data for v in x]
        x = tuple(x)
        return [Val(plain_sum(map(mul, wd, xd)), x + row, wd + xd, 'dot', x)
                for row, wd in ((row, [w.data for w in row]) for row in rows)]

    def backward(self):
        """Fill in `grad` of every Val below self with d self / d that Val (self's own is 1).

        Gradients are added to what is there: a Val that took part in an earlier backward()
        keeps that gradient too, so set grad to 0.0 first when reusing Vals (training builds
        its graph anew every step)."""
        self.grad = 1.0
        for v in reversed(self._topological_order()):
            g = v.grad
            for child, local in zip(v._children, v._local_grads):
                child.grad += local * g

    def _topological_order(self):
        """The nodes below self in the order of a recursive post-order DFS that visits children
        left to right (the original's `build_topo`), kept on an explicit stack: deep graphs
        never meet Python's recursion limit. Leaves are left out: they have nothing to pass on.
        """
        order, visited = [], {self}
        stack = [(self, iter(self._walk))]
        while stack:
            node, children = stack[-1]
            for child in children:
                if child._children and child not in visited:
                    visited.add(child)
                    stack.append((child, iter(child._walk)))
                    break
            else:
                stack.pop()
                order.append(node)
        return order

    def __repr__(self):
        return f"Val(data={self.data}, grad={self.grad}, op={self._op!r})"

    def _repr_mimebundle_(self, include=None, exclude=None):
        """What Jupyter shows: the graph below self as SVG where it can be drawn, and the repr."""
        bundle = {'text/plain': repr(self)}
        svg = Val.drawer(self) if Val.drawer is not None else None
        if svg is not None:
            bundle['image/svg+xml'] = svg
        return bundle
