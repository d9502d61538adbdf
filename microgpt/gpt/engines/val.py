"""The Val engine: the GPT over scalar autograd atoms, and Adam over its parameters.

It performs the original microgpt.py's floating-point operations in the original's order, so
a run ends with the original's parameters bit for bit.
"""
import gc
import math
from contextlib import contextmanager

from ...errors import MicrogptError
from ..model import GPT
from .base import Engine, clip_coef


@contextmanager
def cycle_collector_paused():
    """A step builds tens of thousands of nodes and drops them all at the end. The graph has
    no reference cycles, so reference counting frees it; the cycle collector would only
    rescan the live nodes again and again as they are made (a fifth of the step's time)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class ValEngine(Engine):
    name = 'val'

    def __init__(self, config, state_dict):
        self.config = config
        self.model = GPT(config, state_dict)
        self.params = self.model.parameters()
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def loss_and_backward(self, batch, dropout=None):
        with cycle_collector_paused():
            loss = self.model.loss(batch, dropout=dropout)
            loss.backward()
            return loss.data

    def gradients(self):
        return {name: [[p.grad for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def clip_grad_norm(self, max_norm):
        norm = math.hypot(*(p.grad for p in self.params))
        factor = clip_coef(norm, max_norm)
        if factor != 1.0:
            for p in self.params:
                p.grad *= factor
        return norm

    def adam_step(self, lr, t):
        # The original's expressions, term for term: `g ** 2`, not `g * g`; `** 0.5`, not
        # math.sqrt; divisions, not multiplications by reciprocals. Each rounds differently.
        # With the default settings these are the original's operations and no others: the
        # betas are the same numbers, and weight decay, when 0, adds no operation at all.
        beta1, beta2, eps = self.adam.beta1, self.adam.beta2, self.adam.eps
        m_corr, v_corr = 1 - beta1 ** t, 1 - beta2 ** t
        grads = [p.grad for p in self.params]
        self.m = m = [beta1 * m_i + (1 - beta1) * g for m_i, g in zip(self.m, grads)]
        self.v = v = [beta2 * v_i + (1 - beta2) * g ** 2 for v_i, g in zip(self.v, grads)]
        if self.adam.weight_decay:  # decoupled (AdamW): shrink the weights, then the Adam step
            shrink = 1 - lr * self.adam.weight_decay
            for p in self.params:
                p.data *= shrink
        for p, m_i, v_i in zip(self.params, m, v):
            p.data -= lr * (m_i / m_corr) / ((v_i / v_corr) ** 0.5 + eps)
            p.grad = 0.0

    def optimizer_state(self):
        return {'m': self._as_matrices(self.m), 'v': self._as_matrices(self.v)}

    def load_optimizer_state(self, state):
        self.m, self.v = self._flatten(state['m']), self._flatten(state['v'])

    def _as_matrices(self, flat):
        """{name: rows} of a flat list in parameter order."""
        out, offset = {}, 0
        for name, (rows, cols) in self.config.param_shapes():
            out[name] = [flat[offset + r * cols: offset + (r + 1) * cols] for r in range(rows)]
            offset += rows * cols
        return out

    def _flatten(self, matrices):
        """The flat list in parameter order of {name: rows}, which must have the model's shapes."""
        flat = []
        for name, (rows, cols) in self.config.param_shapes():
            mat = matrices.get(name)
            if mat is None or len(mat) != rows or any(len(row) != cols for row in mat):
                raise MicrogptError(f"optimizer state has no {rows}x{cols} matrix {name}")
            flat.extend(float(x) for row in mat for x in row)
        return flat

    def flat_weights(self):
        import numpy as np
        return np.array([p.data for p in self.params], dtype=np.float64)

    def state_dict(self):
        return {name: [[p.data for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def new_cache(self):
        return self.model.new_cache()

    def logits(self, token_id, pos_id, cache):
        return [l.data for l in self.model.forward(token_id, pos_id, cache)]
