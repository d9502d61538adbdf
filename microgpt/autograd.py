"""Val: a scalar that remembers how it was made, so gradients can flow back through it.

Each op is one line of forward (the new value) and its local gradients (d out / d child).
`backward()` then applies the chain rule in reverse topological order, without recursion.
"""
import math
from operator import mul


class Val:
    __slots__ = ('data', 'grad', '_children', '_local_grads')

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0.0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data + other.data, (self, other), (1.0, 1.0))

    def __sub__(self, other):
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data - other.data, (self, other), (1.0, -1.0))

    def __mul__(self, other):
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data * other.data, (self, other), (other.data, self.data))

    def __truediv__(self, other):
        other = other if isinstance(other, Val) else Val(other)
        return Val(self.data / other.data, (self, other),
                   (1.0 / other.data, -self.data / other.data ** 2))

    def __pow__(self, k):
        assert isinstance(k, (int, float)), "only a number as exponent"
        return Val(self.data ** k, (self,), (k * self.data ** (k - 1),))

    def exp(self):
        e = math.exp(self.data)
        return Val(e, (self,), (e,))

    def log(self):
        return Val(math.log(self.data), (self,), (1.0 / self.data,))

    def relu(self):
        return Val(self.data if self.data > 0 else 0.0, (self,), (1.0 if self.data > 0 else 0.0,))

    def __neg__(self): return self * -1.0
    def __radd__(self, other): return Val(other) + self
    def __rsub__(self, other): return Val(other) - self
    def __rmul__(self, other): return Val(other) * self
    def __rtruediv__(self, other): return Val(other) / self

    # Fused nodes: one node for a whole sum or dot product. The forward value is the same
    # left-to-right sum the plain operators would build; the graph is just much smaller.
    @staticmethod
    def sum(vals):
        vals = tuple(vals)
        return Val(sum([v.data for v in vals]), vals, (1.0,) * len(vals))

    @staticmethod
    def dot(ws, xs):
        wd = [w.data for w in ws]
        xd = [x.data for x in xs]
        return Val(sum(map(mul, wd, xd)), (*ws, *xs), (*xd, *wd))

    def backward(self):
        # Iterative post-order DFS: deep graphs never meet Python's recursion limit.
        # Leaves (no children) are left out of the order: they only receive gradient.
        topo, visited = [], set()
        stack = [(self, False)]
        while stack:
            v, expanded = stack.pop()
            if expanded:
                topo.append(v)
            elif v not in visited:
                visited.add(v)
                stack.append((v, True))
                for c in v._children:
                    if c._children and c not in visited:
                        stack.append((c, False))
        self.grad = 1.0
        for v in reversed(topo):
            g = v.grad
            for c, local in zip(v._children, v._local_grads):
                c.grad += local * g

    def zero_grad(self):
        """Zero the gradient of this node and everything it was built from."""
        seen, stack = {self}, [self]
        while stack:
            v = stack.pop()
            v.grad = 0.0
            for c in v._children:
                if c not in seen:
                    seen.add(c)
                    stack.append(c)

    def __repr__(self):
        return f"Val(data={self.data}, grad={self.grad})"
