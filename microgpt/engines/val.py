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

    def loss_and_backward(self, tokens):
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

    def state_dict(self):
        return {name: [[p.data for p in row] for row in mat]
                for name, mat in self.model.state_dict.items()}

    def new_cache(self):
        return self.model.new_cache()

    def logits(self, token_id, pos_id, cache):
        return [l.data for l in self.model.forward(token_id, pos_id, cache)]
