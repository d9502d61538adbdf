"""The test oracle: the original microgpt.py's algorithm, restated plainly and slowly.

Every scalar is a `Value` node, exactly as the original builds them: `a - b` is `a + (-b)`,
`a / b` is `a * b**-1`, sums are the builtin `sum()` (a left fold starting at 0), and
`backward()` is a recursive post-order DFS. Nothing here is shared with the `microgpt`
package, so the two cannot agree by sharing a mistake. `train()` ends with the original's
parameters bit for bit (tests/test_bitexact.py checks it against the reference weights).
"""
import math
import random
import sys


class Value:
    __slots__ = ('data', 'grad', '_children', '_local_grads')

    def __init__(self, data, children=(), local_grads=()):
        self.data = data
        self.grad = 0
        self._children = children
        self._local_grads = local_grads

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data + other.data, (self, other), (1, 1))

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        return Value(self.data * other.data, (self, other), (other.data, self.data))

    def __pow__(self, other):
        return Value(self.data ** other, (self,), (other * self.data ** (other - 1),))

    def log(self):
        return Value(math.log(self.data), (self,), (1 / self.data,))

    def exp(self):
        return Value(math.exp(self.data), (self,), (math.exp(self.data),))

    def relu(self):
        return Value(max(0, self.data), (self,), (float(self.data > 0),))

    def __neg__(self): return self * -1
    def __radd__(self, other): return self + other
    def __sub__(self, other): return self + (-other)
    def __rsub__(self, other): return other + (-self)
    def __rmul__(self, other): return self * other
    def __truediv__(self, other): return self * other ** -1
    def __rtruediv__(self, other): return other * self ** -1

    def backward(self):
        topo, visited = [], set()

        def build_topo(v):
            if v not in visited:
                visited.add(v)
                for child in v._children:
                    build_topo(child)
                topo.append(v)

        limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(limit, 100_000))  # deep models make deep graphs
        try:
            build_topo(self)
        finally:
            sys.setrecursionlimit(limit)
        self.grad = 1
        for v in reversed(topo):
            for child, local_grad in zip(v._children, v._local_grads):
                child.grad += local_grad * v.grad


def linear(x, w):
    return [sum(wi * xi for wi, xi in zip(wo, x)) for wo in w]


def softmax(logits):
    max_val = max(val.data for val in logits)
    exps = [(val - max_val).exp() for val in logits]
    total = sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = sum(xi * xi for xi in x) / len(x)
    scale = (ms + 1e-5) ** -0.5
    return [xi * scale for xi in x]


class Model:
    def __init__(self, vocab_size, rng, n_embd=16, n_head=4, n_layer=1, block_size=16, ff_mult=4):
        self.n_head, self.n_layer, self.head_dim = n_head, n_layer, n_embd // n_head

        def matrix(nout, nin, std=0.08):
            return [[Value(rng.gauss(0, std)) for _ in range(nin)] for _ in range(nout)]

        sd = {'wte': matrix(vocab_size, n_embd), 'wpe': matrix(block_size, n_embd),
              'lm_head': matrix(vocab_size, n_embd)}
        for i in range(n_layer):
            sd[f'layer{i}.attn_wq'] = matrix(n_embd, n_embd)
            sd[f'layer{i}.attn_wk'] = matrix(n_embd, n_embd)
            sd[f'layer{i}.attn_wv'] = matrix(n_embd, n_embd)
            sd[f'layer{i}.attn_wo'] = matrix(n_embd, n_embd)
            sd[f'layer{i}.mlp_fc1'] = matrix(ff_mult * n_embd, n_embd)
            sd[f'layer{i}.mlp_fc2'] = matrix(n_embd, ff_mult * n_embd)
        self.state_dict = sd
        self.params = [p for mat in sd.values() for row in mat for p in row]

    def gpt(self, token_id, pos_id, keys, values):
        sd, head_dim = self.state_dict, self.head_dim
        x = [t + p for t, p in zip(sd['wte'][token_id], sd['wpe'][pos_id])]
        x = rmsnorm(x)
        for li in range(self.n_layer):
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f'layer{li}.attn_wq'])
            k = linear(x, sd[f'layer{li}.attn_wk'])
            v = linear(x, sd[f'layer{li}.attn_wv'])
            keys[li].append(k)
            values[li].append(v)
            x_attn = []
            for h in range(self.n_head):
                hs = h * head_dim
                q_h = q[hs:hs + head_dim]
                k_h = [ki[hs:hs + head_dim] for ki in keys[li]]
                v_h = [vi[hs:hs + head_dim] for vi in values[li]]
                attn_logits = [sum(q_h[j] * k_h[t][j] for j in range(head_dim)) / head_dim ** 0.5
                               for t in range(len(k_h))]
                attn_weights = softmax(attn_logits)
                head_out = [sum(attn_weights[t] * v_h[t][j] for t in range(len(v_h)))
                            for j in range(head_dim)]
                x_attn.extend(head_out)
            x = linear(x_attn, sd[f'layer{li}.attn_wo'])
            x = [a + b for a, b in zip(x, x_residual)]
            x_residual = x
            x = rmsnorm(x)
            x = linear(x, sd[f'layer{li}.mlp_fc1'])
            x = [xi.relu() for xi in x]
            x = linear(x, sd[f'layer{li}.mlp_fc2'])
            x = [a + b for a, b in zip(x, x_residual)]
        return linear(x, sd['lm_head'])

    def document_losses(self, tokens, block_size):
        """The loss at each position of one document (token ids, BOS at both ends)."""
        n = min(block_size, len(tokens) - 1)
        keys, values = [[] for _ in range(self.n_layer)], [[] for _ in range(self.n_layer)]
        losses = []
        for pos_id in range(n):
            token_id, target_id = tokens[pos_id], tokens[pos_id + 1]
            probs = softmax(self.gpt(token_id, pos_id, keys, values))
            losses.append(-probs[target_id].log())
        return losses

    def document_loss(self, tokens, block_size):
        losses = self.document_losses(tokens, block_size)
        return (1 / len(losses)) * sum(losses)


def train(docs, seed=42, num_steps=50, learning_rate=0.01, n_embd=16, n_head=4, n_layer=1,
          block_size=16, ff_mult=4, beta1=0.85, beta2=0.99, eps_adam=1e-8):
    """The original's run: shuffle, init, train.

    Returns the losses, the weights ({name: rows of floats}) and Adam's m and v (flat lists
    in parameter order)."""
    rng = random.Random(seed)
    docs = list(docs)
    rng.shuffle(docs)
    uchars = sorted(set(''.join(docs)))
    bos = len(uchars)
    model = Model(len(uchars) + 1, rng, n_embd, n_head, n_layer, block_size, ff_mult)
    params = model.params
    m = [0.0] * len(params)
    v = [0.0] * len(params)
    losses = []
    for step in range(num_steps):
        doc = docs[step % len(docs)]
        tokens = [bos] + [uchars.index(ch) for ch in doc] + [bos]
        loss = model.document_loss(tokens, block_size)
        loss.backward()
        lr_t = learning_rate * (1 - step / num_steps)
        for i, p in enumerate(params):
            m[i] = beta1 * m[i] + (1 - beta1) * p.grad
            v[i] = beta2 * v[i] + (1 - beta2) * p.grad ** 2
            m_hat = m[i] / (1 - beta1 ** (step + 1))
            v_hat = v[i] / (1 - beta2 ** (step + 1))
            p.data -= lr_t * m_hat / (v_hat ** 0.5 + eps_adam)
            p.grad = 0
        losses.append(loss.data)
    weights = {name: [[p.data for p in row] for row in mat] for name, mat in model.state_dict.items()}
    return losses, weights, m, v
