"""The Val engine: the GPT over scalar autograd atoms, and Adam over its parameters."""
from ..model import GPT
from ..optim import BETA1, BETA2, EPS
from .base import Engine


class ValEngine(Engine):
    name = 'val'

    def __init__(self, config, state_dict):
        self.config = config
        self.model = GPT(config, state_dict)
        self.params = self.model.parameters()
        self.m = [0.0] * len(self.params)
        self.v = [0.0] * len(self.params)

    def loss_and_backward(self, batch):
        (tokens,) = batch
        loss = self.model.loss(tokens)
        loss.backward()
        return loss.data

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

    def clip_grad_norm(self, max_norm):
        norm = sum(p.grad * p.grad for p in self.params) ** 0.5
        if norm > max_norm:
            scale = max_norm / norm
            for p in self.params:
                p.grad *= scale
        return norm

    def _rows(self, flat):
        rows, i = {}, 0
        for name, mat in self.model.state_dict.items():
            rows[name] = []
            for row in mat:
                rows[name].append(list(flat[i:i + len(row)]))
                i += len(row)
        return rows

    def optimizer_state(self):
        return {'m': self._rows(self.m), 'v': self._rows(self.v)}

    def load_optimizer_state(self, state):
        names = list(self.model.state_dict)
        self.m = [x for name in names for row in state['m'][name] for x in row]
        self.v = [x for name in names for row in state['v'][name] for x in row]

    def state_dict(self):
        return {name: [[p.data for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def new_cache(self):
        return self.model.new_cache()

    def logits(self, token_id, pos_id, cache):
        return [l.data for l in self.model.forward(token_id, pos_id, cache)]
