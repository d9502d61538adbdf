"""The numpy engine: the same GPT, trainer and sampler as the Val engine, vectorized in float64.

Training runs all positions of a document at once (a causal mask stands in for the KV cache)
and back-propagates with a hand-written backward. Every weight, gradient and Adam moment lives
in one flat buffer, with one view per matrix, so Adam is a handful of whole-buffer operations.
Sampling runs one position at a time against a KV cache.

The arithmetic is the Val engine's, up to the order of a few float additions, so the printed
losses and samples are the same. The arrays are tiny (a 16-token document, 16-wide
embeddings), so each numpy call costs more in overhead than in arithmetic: the code counts
calls, works in place, and reuses the flat buffers.
"""
import math

import numpy as np

from ..model import RMSNORM_EPS
from ..optim import BETA1, BETA2, EPS
from .base import Engine


def rmsnorm(x, mean_col):
    """(x / d, d), d = sqrt(mean(x**2) + eps) over the last axis; mean_col is a column of 1/n.

    (A matmul with a column of 1/n is the cheapest row mean numpy has at this size.)
    """
    d = np.dot(x * x, mean_col)
    d += RMSNORM_EPS
    np.sqrt(d, out=d)
    return x / d, d


def rmsnorm_backward(dy, y, d, mean_col, out=None):
    """Gradient through y = rmsnorm(x), from y and d: (dy - y * mean(dy * y)) / d."""
    dx = y * np.dot(dy * y, mean_col)
    np.subtract(dy, dx, out=dx)
    return np.divide(dx, d, out=out if out is not None else dx)


QKV_AXES = {0: (1, 2, 0, 3), 1: (2, 0, 3, 1, 4)}  # see forward: without and with a batch axis


class Layer:
    """Views of one transformer layer's matrices, into the weights or into the gradients.

    wq, wk, wv lie one after another in the flat buffer, so `wqkv` is a (3e, e) view of
    all three: q, k and v come out of one matmul.
    """

    def __init__(self, flat, offsets, views, prefix, e):
        start = offsets[f'{prefix}attn_wq']
        self.wqkv = flat[start:start + 3 * e * e].reshape(3 * e, e)
        self.wo = views[f'{prefix}attn_wo']
        self.fc1, self.fc2 = views[f'{prefix}mlp_fc1'], views[f'{prefix}mlp_fc2']


def flat_views(flat, config):
    """{name: (rows, cols) view into flat} in init order, and one Layer per layer."""
    views, offsets, offset = {}, {}, 0
    for name, (rows, cols) in config.param_shapes():
        views[name] = flat[offset:offset + rows * cols].reshape(rows, cols)
        offsets[name] = offset
        offset += rows * cols
    layers = [Layer(flat, offsets, views, f'layer{i}.', config.n_embd) for i in range(config.n_layer)]
    return views, layers


class NumpyEngine(Engine):
    name = 'numpy'

    def __init__(self, config, state_dict):
        self.config = config
        size = config.num_params()
        self.weights = np.empty(size)
        self.grad = np.zeros(size)
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self._scratch = np.empty(size)
        self.weight_views, self.layers = flat_views(self.weights, config)
        self.grad_views, self.grad_layers = flat_views(self.grad, config)
        for name, view in self.weight_views.items():
            view[...] = state_dict[name]
        # Each backward overwrites the gradients; this says whether they hold one not yet used.
        self._has_grad = False
        t = np.arange(config.block_size)
        self._causal_mask = np.where(t[None, :] > t[:, None], -np.inf, 0.0)
        self._eye_vocab = np.eye(config.vocab_size)
        self._attn_scale = 1.0 / config.head_dim ** 0.5
        self._sizes = config.n_head, config.head_dim, config.n_embd
        self._mean_embd = np.full((config.n_embd, 1), 1.0 / config.n_embd)
        self._ones_block = np.ones((config.block_size, 1))
        self._positions = np.arange(config.block_size)
        self._ones_vocab = np.ones((config.vocab_size, 1))

    # --- whole-sequence forward and its backward ---------------------------------------------

    def forward(self, inputs, keep_tape=True):
        """Logits for token ids `inputs` of shape (..., T) at every position, and (if
        keep_tape) the activations backward needs. Leading axes are a batch of documents."""
        w = self.weight_views
        n_head, head_dim, e = self._sizes
        mean_embd = self._mean_embd
        lead, T = inputs.shape[:-1], inputs.shape[-1]
        nl = len(lead)
        # (..., T, 3, H, hd) -> (3, ..., H, T, hd): q, k, v unpack from the first axis
        qkv_axes = QKV_AXES[nl] if nl < 2 else (nl + 1, *range(nl), nl + 2, nl, nl + 3)
        mask, ones_t = self._causal_mask[:T, :T], self._ones_block[:T]
        # one document (2-D arrays): np.dot, whose dispatch costs less than matmul's
        mm = np.matmul if lead else np.dot
        x = w['wte'].take(inputs, axis=0)
        x += w['wpe'][:T]
        x, d0 = rmsnorm(x, mean_embd)
        tape = [x, d0] if keep_tape else None
        for layer in self.layers:
            x_norm, d1 = rmsnorm(x, mean_embd)
            q, k, v = mm(x_norm, layer.wqkv.T).reshape(*lead, T, 3, n_head, head_dim).transpose(qkv_axes)
            att = q @ k.swapaxes(-1, -2)                                     # (..., H, T, T)
            att *= self._attn_scale
            att += mask
            att -= np.maximum.reduce(att, axis=-1, keepdims=True)
            np.exp(att, out=att)
            att /= att @ ones_t
            y = np.empty((*lead, T, n_head, head_dim))
            np.matmul(att, v, out=y.swapaxes(-3, -2))                       # heads side by side
            y = y.reshape(*lead, T, e)
            x_attn = mm(y, layer.wo.T)
            x_attn += x
            x_norm2, d2 = rmsnorm(x_attn, mean_embd)
            hidden = mm(x_norm2, layer.fc1.T)
            np.maximum(hidden, 0.0, out=hidden)
            x = mm(hidden, layer.fc2.T)
            x += x_attn
            if keep_tape:
                tape.append((x_norm, d1, q, k, v, att, y, x_norm2, d2, hidden))
        if keep_tape:
            tape.append(x)
        return mm(x, w['lm_head'].T), tape

    def loss_and_backward(self, batch):
        if len(batch) != 1:
            raise NotImplementedError("the numpy engine trains on one document at a time")
        tokens = np.asarray(batch[0])
        inputs, targets = tokens[:-1], tokens[1:]
        n = len(inputs)
        logits, tape = self.forward(inputs)
        # softmax, then the loss as the Val engine sums it: -log(p[target]), in order
        logits -= np.maximum.reduce(logits, axis=1, keepdims=True)
        probs = np.exp(logits, out=logits)
        probs /= np.dot(probs, self._ones_vocab)
        loss = -sum(map(math.log, probs[self._positions[:n], targets].tolist())) / n
        probs -= self._eye_vocab.take(targets, axis=0)
        probs *= 1.0 / n
        if self._has_grad:  # accumulate, as repeated Val backward passes do
            saved = self.grad.copy()
            self._backward(probs, inputs, tape)
            self.grad += saved
        else:
            self._backward(probs, inputs, tape)
        self._has_grad = True
        return loss

    def _backward(self, dlogits, inputs, tape):
        """Write d loss / d weights into the gradient buffer, from d loss / d logits."""
        w, g = self.weight_views, self.grad_views
        n_head, head_dim, e = self._sizes
        mean_embd = self._mean_embd
        T = len(inputs)
        ones_t = self._ones_block[:T]
        np.dot(dlogits.T, tape[-1], out=g['lm_head'])
        dx = np.dot(dlogits, w['lm_head'])
        dqkv_rows = np.empty((T, 3, n_head, head_dim))  # the layout of the qkv projection's output
        dqkv = dqkv_rows.transpose(1, 2, 0, 3)           # (3, H, T, hd) view of it
        dqkv_rows = dqkv_rows.reshape(T, 3 * e)
        for li in reversed(range(len(self.layers))):
            layer, glayer = self.layers[li], self.grad_layers[li]
            x_norm, d1, q, k, v, att, y, x_norm2, d2, hidden = tape[2 + li]
            # MLP: x = relu(rmsnorm(x_attn) @ fc1.T) @ fc2.T + x_attn
            np.dot(dx.T, hidden, out=glayer.fc2)
            dhidden = np.dot(dx, layer.fc2)
            dhidden *= np.sign(hidden)  # relu's gradient: hidden is 0 or positive
            np.dot(dhidden.T, x_norm2, out=glayer.fc1)
            dx += rmsnorm_backward(np.dot(dhidden, layer.fc1), x_norm2, d2, mean_embd)
            # attention: x_attn = softmax(q k^T / sqrt(hd) + mask) v @ wo.T + x
            np.dot(dx.T, y, out=glayer.wo)
            dy = np.dot(dx, layer.wo).reshape(T, n_head, head_dim).swapaxes(0, 1)  # (H, T, hd)
            datt = dy @ v.swapaxes(-1, -2)                                   # (H, T, T)
            np.matmul(att.swapaxes(-1, -2), dy, out=dqkv[2])                 # dv
            datt -= (datt * att) @ ones_t
            datt *= att
            datt *= self._attn_scale
            np.matmul(datt, k, out=dqkv[0])                                  # dq
            np.matmul(datt.swapaxes(-1, -2), q, out=dqkv[1])                 # dk
            np.dot(dqkv_rows.T, x_norm, out=glayer.wqkv)
            dx += rmsnorm_backward(np.dot(dqkv_rows, layer.wqkv), x_norm, d1, mean_embd)
        gwpe = g['wpe']
        dx0 = rmsnorm_backward(dx, tape[0], tape[1], mean_embd, out=gwpe[:T])
        gwpe[T:] = 0.0
        np.dot(self._eye_vocab.take(inputs, axis=0).T, dx0, out=g['wte'])

    def gradients(self):
        if not self._has_grad:
            return {name: np.zeros_like(view).tolist() for name, view in self.grad_views.items()}
        return {name: view.tolist() for name, view in self.grad_views.items()}

    def adam_step(self, lr, t):
        if not self._has_grad:
            self.grad.fill(0.0)
        # The moments are kept as sums, m / (1 - BETA1) and v / (1 - BETA2), which saves two
        # whole-buffer passes a step: m = BETA1 * m + g, v = BETA2 * v + g * g.
        g, m, v, denom = self.grad, self.m, self.v, self._scratch
        m *= BETA1
        m += g
        np.multiply(g, g, out=denom)
        v *= BETA2
        v += denom
        # p -= lr * (m / m_corr) / (sqrt(v / v_corr) + eps), with the bias corrections and the
        # moments' (1 - beta) factors as Python floats: with c = sqrt((1 - BETA2) / v_corr),
        #    = (lr * (1 - BETA1) / (m_corr * c)) * m_sum / (sqrt(v_sum) + eps / c)
        c = ((1 - BETA2) / (1 - BETA2 ** t)) ** 0.5
        np.sqrt(v, out=denom)
        denom += EPS / c
        np.divide(m, denom, out=denom)
        denom *= lr * (1 - BETA1) / ((1 - BETA1 ** t) * c)
        self.weights -= denom
        self._has_grad = False

    def state_dict(self):
        return {name: view.tolist() for name, view in self.weight_views.items()}

    # --- one position at a time, with a KV cache (sampling) ------------------------------------

    def new_cache(self):
        """Keys and values of the positions seen so far, per layer: (layers, block, H, hd)."""
        cfg = self.config
        shape = (cfg.n_layer, cfg.block_size, cfg.n_head, cfg.head_dim)
        return {'k': np.empty(shape), 'v': np.empty(shape)}

    def logits(self, token_id, pos_id, cache):
        cfg = self.config
        w = self.weight_views
        mean_embd = self._mean_embd
        x, _ = rmsnorm(w['wte'][token_id] + w['wpe'][pos_id], mean_embd)
        for li, layer in enumerate(self.layers):
            x_norm, _ = rmsnorm(x, mean_embd)
            q, k, v = np.dot(layer.wqkv, x_norm).reshape(3, cfg.n_head, cfg.head_dim)
            keys, values = cache['k'][li, :pos_id + 1], cache['v'][li, :pos_id + 1]
            keys[pos_id], values[pos_id] = k, v
            att = (keys * q).sum(axis=-1)                                    # (t, H)
            att *= self._attn_scale
            att -= att.max(axis=0)
            np.exp(att, out=att)
            att /= att.sum(axis=0)
            y = (values * att[:, :, None]).sum(axis=0).reshape(-1)
            x = np.dot(layer.wo, y) + x
            hidden = np.dot(layer.fc1, rmsnorm(x, mean_embd)[0])
            np.maximum(hidden, 0.0, out=hidden)
            x = np.dot(layer.fc2, hidden) + x
        return np.dot(w['lm_head'], x).tolist()
