"""The numpy engine: the same GPT, trainer and sampler as the Val engine, vectorized in float64.

Training runs all positions of a document at once (a causal mask stands in for the KV cache)
and back-propagates with a hand-written backward. Every weight, gradient and Adam moment lives
in one flat buffer, with one view per matrix, so Adam is a handful of whole-buffer operations.
Sampling runs one position at a time against a KV cache.

The arithmetic is the Val engine's, up to the order of a few float additions, so the printed
losses and samples are the same.
"""
import numpy as np

from ..model import RMSNORM_EPS
from ..optim import BETA1, BETA2, EPS


def rmsnorm(x):
    """(x * scale, scale) with scale = (mean(x**2) + eps) ** -0.5 over the last axis."""
    scale = np.einsum('...i,...i->...', x, x)[..., None]
    scale *= 1.0 / x.shape[-1]
    scale += RMSNORM_EPS
    np.sqrt(scale, out=scale)
    np.divide(1.0, scale, out=scale)
    return x * scale, scale


def rmsnorm_backward(dy, y, scale):
    """Gradient through y = rmsnorm(x), from y and scale: scale * (dy - y * mean(dy * y))."""
    dot = np.einsum('...i,...i->...', dy, y)[..., None]
    dot *= 1.0 / y.shape[-1]
    dx = y * dot
    np.subtract(dy, dx, out=dx)
    dx *= scale
    return dx


class Layer:
    """Views of one transformer layer's matrices, into the weights or into the gradients."""

    def __init__(self, views, prefix):
        self.wq, self.wk, self.wv, self.wo = (views[f'{prefix}attn_w{n}'] for n in 'qkvo')
        self.fc1, self.fc2 = views[f'{prefix}mlp_fc1'], views[f'{prefix}mlp_fc2']


def flat_views(flat, config):
    """{name: (rows, cols) view into flat} in init order, and one Layer per layer.

    wq, wk, wv lie one after another in flat, so each Layer also gets `wqkv`, a (3e, e)
    view of all three: q, k and v come out of one matmul.
    """
    views, offsets, offset = {}, {}, 0
    for name, (rows, cols) in config.param_shapes():
        views[name] = flat[offset:offset + rows * cols].reshape(rows, cols)
        offsets[name] = offset
        offset += rows * cols
    e = config.n_embd
    layers = []
    for i in range(config.n_layer):
        layer = Layer(views, f'layer{i}.')
        start = offsets[f'layer{i}.attn_wq']
        layer.wqkv = flat[start:start + 3 * e * e].reshape(3 * e, e)
        layers.append(layer)
    return views, layers


class NumpyEngine:
    name = 'numpy'

    def __init__(self, config, state_dict):
        self.config = config
        size = config.num_params()
        self.weights = np.empty(size)
        self.grad = np.zeros(size)
        self.m = np.zeros(size)
        self.v = np.zeros(size)
        self._scratch = np.empty(size)
        self._scratch2 = np.empty(size)
        self.weight_views, self.layers = flat_views(self.weights, config)
        self.grad_views, self.grad_layers = flat_views(self.grad, config)
        for name, view in self.weight_views.items():
            view[...] = state_dict[name]
        # Gradients are overwritten by each backward; this says whether they hold any yet.
        self._has_grad = False
        t = np.arange(config.block_size)
        self._causal_mask = np.where(t[None, :] > t[:, None], -np.inf, 0.0)
        self._eye_vocab = np.eye(config.vocab_size)
        self._attn_scale = 1.0 / config.head_dim ** 0.5

    # --- whole-sequence forward and its backward ---------------------------------------------

    def forward(self, inputs):
        """Logits for every position of token ids `inputs` (..., T), and what backward needs."""
        cfg = self.config
        w = self.weight_views
        n_head, head_dim, e = cfg.n_head, cfg.head_dim, cfg.n_embd
        T = inputs.shape[-1]
        lead = inputs.shape[:-1]
        x = w['wte'][inputs]
        x += w['wpe'][:T]
        x, scale0 = rmsnorm(x)
        tape = [x, scale0]
        mask = self._causal_mask[:T, :T]
        for layer in self.layers:
            x_norm, scale1 = rmsnorm(x)
            qkv = x_norm @ layer.wqkv.T                                      # (..., T, 3e)
            heads = qkv.reshape(*lead, T, 3, n_head, head_dim)
            heads = np.moveaxis(heads, -4, -2)                               # (..., 3, H, T, hd)
            q, k, v = heads[..., 0, :, :, :], heads[..., 1, :, :, :], heads[..., 2, :, :, :]
            att = q @ k.swapaxes(-1, -2)                                     # (..., H, T, T)
            att *= self._attn_scale
            att += mask
            att -= att.max(axis=-1, keepdims=True)
            np.exp(att, out=att)
            att /= att.sum(axis=-1, keepdims=True)
            y = att @ v                                                      # (..., H, T, hd)
            y = np.moveaxis(y, -3, -2).reshape(*lead, T, e)
            x_attn = y @ layer.wo.T
            x_attn += x
            x_norm2, scale2 = rmsnorm(x_attn)
            hidden = x_norm2 @ layer.fc1.T
            np.maximum(hidden, 0.0, out=hidden)
            x = hidden @ layer.fc2.T
            x += x_attn
            tape.append((x_norm, scale1, q, k, v, att, y, x_norm2, scale2, hidden))
        tape.append(x)
        return x @ w['lm_head'].T, tape

    def loss_and_backward(self, tokens):
        tokens = np.asarray(tokens)
        inputs, targets = tokens[:-1], tokens[1:]
        n = len(inputs)
        logits, tape = self.forward(inputs)
        # Cross-entropy as the Val engine builds it: -log(exp(l_t - max) / sum(exp(l - max))).
        probs = logits - logits.max(axis=1, keepdims=True)
        np.exp(probs, out=probs)
        probs /= probs.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        loss = -np.log(probs[rows, targets]).sum() / n
        probs[rows, targets] -= 1.0
        probs *= 1.0 / n
        if self._has_grad:  # accumulate, as repeated Val backward passes do
            saved = self.grad.copy()
            self._backward(probs, inputs, tape)
            self.grad += saved
        else:
            self._backward(probs, inputs, tape)
        self._has_grad = True
        return float(loss)

    def _backward(self, dlogits, inputs, tape):
        """Write d loss / d weights into the gradient buffer, from d loss / d logits."""
        cfg = self.config
        w, g = self.weight_views, self.grad_views
        T, e = len(inputs), cfg.n_embd
        x0, scale0 = tape[0], tape[1]
        x = tape[-1]
        np.matmul(dlogits.T, x, out=g['lm_head'])
        dx = dlogits @ w['lm_head']
        for li in reversed(range(cfg.n_layer)):
            layer, glayer = self.layers[li], self.grad_layers[li]
            x_norm, scale1, q, k, v, att, y, x_norm2, scale2, hidden = tape[2 + li]
            # MLP: x = relu(rmsnorm(x_attn) @ fc1.T) @ fc2.T + x_attn
            np.matmul(dx.T, hidden, out=glayer.fc2)
            dhidden = dx @ layer.fc2
            dhidden *= hidden > 0
            np.matmul(dhidden.T, x_norm2, out=glayer.fc1)
            dx += rmsnorm_backward(dhidden @ layer.fc1, x_norm2, scale2)
            # attention: x_attn = heads(rmsnorm(x)) @ wo.T + x
            np.matmul(dx.T, y, out=glayer.wo)
            dy = (dx @ layer.wo).reshape(T, cfg.n_head, cfg.head_dim).swapaxes(0, 1)
            datt = dy @ v.swapaxes(-1, -2)                                   # (H, T, T)
            dqkv = np.empty((3, cfg.n_head, T, cfg.head_dim))
            np.matmul(att.swapaxes(-1, -2), dy, out=dqkv[2])                 # dv
            datt -= np.einsum('htj,htj->ht', datt, att)[..., None]
            datt *= att
            datt *= self._attn_scale
            np.matmul(datt, k, out=dqkv[0])                                  # dq
            np.matmul(datt.swapaxes(-1, -2), q, out=dqkv[1])                 # dk
            dqkv = dqkv.transpose(2, 0, 1, 3).reshape(T, 3 * e)
            np.matmul(dqkv.T, x_norm, out=glayer.wqkv)
            dx += rmsnorm_backward(dqkv @ layer.wqkv, x_norm, scale1)
        dx0 = rmsnorm_backward(dx, x0, scale0)
        gwpe = g['wpe']
        gwpe[:T] = dx0
        gwpe[T:] = 0.0
        np.matmul(self._eye_vocab[inputs].T, dx0, out=g['wte'])

    def gradients(self):
        if not self._has_grad:
            return {name: np.zeros_like(view).tolist() for name, view in self.grad_views.items()}
        return {name: view.tolist() for name, view in self.grad_views.items()}

    def adam_step(self, lr, t):
        if not self._has_grad:
            self.grad.fill(0.0)
        g, m, v = self.grad, self.m, self.v
        step, denom = self._scratch, self._scratch2
        m *= BETA1
        np.multiply(g, 1 - BETA1, out=step)
        m += step
        v *= BETA2
        np.multiply(g, g, out=denom)
        denom *= 1 - BETA2
        v += denom
        # p -= lr * (m / m_corr) / (sqrt(v / v_corr) + eps)
        np.multiply(v, 1.0 / (1 - BETA2 ** t), out=denom)
        np.sqrt(denom, out=denom)
        denom += EPS
        np.multiply(m, lr / (1 - BETA1 ** t), out=step)
        step /= denom
        self.weights -= step
        self._has_grad = False

    def train_step(self, tokens, lr, t):
        loss = self.loss_and_backward(tokens)
        self.adam_step(lr, t)
        return loss

    def state_dict(self):
        return {name: view.tolist() for name, view in self.weight_views.items()}

    # --- one position at a time, with a KV cache (sampling) ------------------------------------

    def new_cache(self):
        cfg = self.config
        shape = (cfg.n_layer, cfg.block_size, cfg.n_head, cfg.head_dim)
        return {'k': np.empty(shape), 'v': np.empty(shape)}

    def logits(self, token_id, pos_id, cache):
        cfg = self.config
        w = self.weight_views
        n_head, head_dim = cfg.n_head, cfg.head_dim
        x, _ = rmsnorm(w['wte'][token_id] + w['wpe'][pos_id])
        for li, layer in enumerate(self.layers):
            x_norm, _ = rmsnorm(x)
            q, k, v = (layer.wqkv @ x_norm).reshape(3, n_head, head_dim)
            keys, values = cache['k'][li], cache['v'][li]
            keys[pos_id], values[pos_id] = k, v
            att = np.einsum('hd,thd->th', q, keys[:pos_id + 1])
            att *= self._attn_scale
            att -= att.max(axis=0)
            np.exp(att, out=att)
            att /= att.sum(axis=0)
            y = np.einsum('th,thd->hd', att, values[:pos_id + 1]).reshape(-1)
            x = layer.wo @ y + x
            hidden = layer.fc1 @ rmsnorm(x)[0]
            np.maximum(hidden, 0.0, out=hidden)
            x = layer.fc2 @ hidden + x
        return (w['lm_head'] @ x).tolist()
