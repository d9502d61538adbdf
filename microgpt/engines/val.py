"""The Val engine: the GPT over scalar autograd atoms, and Adam over its parameters."""
import math

from ..autograd import Val
from ..model import GPT, cross_entropy
from ..optim import BETA1, BETA2, EPS
from .base import Engine, clip_coef


class ValEngine(Engine):
    name = 'val'

    def __init__(self, config, state_dict):
        self.config = config
        self.model = GPT(config, state_dict)
        self.params = self.model.parameters()
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def loss_and_backward(self, batch):
        """(1/N) * the sum of the N token losses of the batch's documents, in order."""
        model, losses = self.model, []
        for tokens in batch:
            cache = model.new_cache()
            losses += [cross_entropy(model.forward(tokens[pos], pos, cache), tokens[pos + 1])
                       for pos in range(len(tokens) - 1)]
        loss = (1.0 / len(losses)) * Val.sum(losses)
        loss.backward()
        return loss.data

    def clip_grad_norm(self, max_norm):
        norm = math.sqrt(sum(p.grad * p.grad for p in self.params))
        coef = clip_coef(norm, max_norm)
        if coef < 1.0:
            for p in self.params:
                p.grad *= coef
        return norm

    def gradients(self):
        return {name: [[p.grad for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def adam_step(self, lr, t):
        m, v = self.m, self.v
        m_corr, v_corr = 1 - BETA1 ** t, 1 - BETA2 ** t
        for i, p in enumerate(self.params):
            g = p.grad
            m[i] = BETA1 * m[i] + (1 - BETA1) * g
            v[i] = BETA2 * v[i] + (1 - BETA2) * g ** 2
            m_hat = m[i] / m_corr
            v_hat = v[i] / v_corr
            p.data -= lr * m_hat / (v_hat ** 0.5 + EPS)
            p.grad = 0.0

    def optimizer_state(self):
        return {key: self._unflatten(moments) for key, moments in (('m', self.m), ('v', self.v))}

    def load_optimizer_state(self, state):
        self.m = [x for name, _ in self.config.param_shapes() for row in state['m'][name] for x in row]
        self.v = [x for name, _ in self.config.param_shapes() for row in state['v'][name] for x in row]

    def _unflatten(self, flat):
        out, i = {}, 0
        for name, (rows, cols) in self.config.param_shapes():
            out[name] = [flat[i + r * cols:i + (r + 1) * cols] for r in range(rows)]
            i += rows * cols
        return out

    def state_dict(self):
        return {name: [[p.data for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def new_cache(self):
        return self.model.new_cache()

    def logits(self, token_id, pos_id, cache):
        return [l.data for l in self.model.forward(token_id, pos_id, cache)]
