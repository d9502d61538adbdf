"""The numpy engine: the same GPT, trainer and sampler as the Val engine, vectorized in float64
(or, by choice, float32: faster, and no longer the original's numbers).

It reads like llm.c's train_gpt2.c: one forward and one backward function per block
(encoder, rmsnorm, attention, mlp, cross-entropy), and the activations the backward needs
kept under their names (`LayerActivations`, `Activations`), not as positions on a tape.

Training runs a batch of B documents at once, all positions of each (a `Batch`). The N real
positions are packed one after another, document by document, as the rows of (N, C)
matrices, so every linear layer, rmsnorm and the loss is one 2-D operation on real tokens
only. Attention alone needs the documents apart: it scatters q, k, v into a zero-padded
(B, H, T, hd) layout, T the longest document, and gathers its output back to the real rows.
The causal mask keeps each document's padding (always after its real positions) out of
every real position, and padded rows are never gathered back, so they contribute nothing.
The loss is the mean over all N real tokens of the batch. Sampling runs one position at a
time against a KV cache.

Every weight, gradient and Adam moment lives in one flat buffer, with one view per matrix,
so Adam is a handful of whole-buffer operations; the moments m and v are kept in the
original's form (m = b1*m + (1-b1)*g, v = b2*v + (1-b2)*g**2), so an optimizer state moves
between engines as it is.

The arithmetic is the Val engine's, up to the order of a few float additions, so the printed
losses and samples are the same. The arrays of the default model are tiny (one 16-token
document, 16-wide embeddings), so each numpy call costs more in overhead than in
arithmetic: the code counts calls, works in place, and reuses the flat buffers.
"""
import math
from dataclasses import dataclass

import numpy as np

from ..model import RMSNORM_EPS
from .base import Engine, clip_coef


# glibc malloc's mallopt parameters
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
_malloc_tuned = False


def keep_freed_memory(trim_threshold=128 << 20, mmap_threshold=32 << 20):
    """Ask glibc's malloc to keep freed memory for reuse (up to trim_threshold) and to serve
    arrays below mmap_threshold from its heap.

    A batch's activations are arrays of a few hundred KB, allocated and freed every step. By
    default glibc gives such memory back to the OS as soon as the top of its heap is free,
    and takes it again, zeroed page by page, at the next step: a third of a batch-32 step's
    time. Process-wide, once; nothing happens where malloc is not glibc's.
    """
    global _malloc_tuned
    if _malloc_tuned:
        return
    _malloc_tuned = True
    try:
        import ctypes
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(M_TRIM_THRESHOLD, trim_threshold)
    mallopt(M_MMAP_THRESHOLD, mmap_threshold)


@dataclass
class Batch:
    """B documents, their N real positions packed row after row (document by document)."""
    B: int
    T: int                 # positions of the longest document
    inputs: np.ndarray     # (N,) token ids
    targets: np.ndarray    # (N,) the next token of each
    positions: np.ndarray  # (N,) each one's position in its document
    rows: np.ndarray       # (N,) each one's row in the padded (B*T) layout; None: no padding


def make_batch(docs, block_positions):
    """A Batch from a list of token lists (each cropped to block_size + 1 tokens)."""
    if len(docs) == 1:
        tokens = np.asarray(docs[0])
        T = len(tokens) - 1
        return Batch(1, T, tokens[:-1], tokens[1:], block_positions[:T], None)
    lengths = [len(tokens) - 1 for tokens in docs]
    T, B = max(lengths), len(docs)
    if min(lengths) == T:  # no padding: the packed rows are the padded layout
        tokens = np.array(docs)
        return Batch(B, T, tokens[:, :-1].reshape(-1), tokens[:, 1:].reshape(-1),
                     np.tile(block_positions[:T], B), None)
    flat = np.array([t for tokens in docs for t in tokens])
    ends = np.cumsum([n + 1 for n in lengths])  # each document's end in flat
    real = np.ones(len(flat), dtype=bool)
    real[ends - 1] = False                      # a document's last token is no input
    inputs = flat[real]
    real[ends - 1] = True
    real[ends - lengths - 1] = False            # nor is its first a target
    targets = flat[real]
    positions = np.concatenate([block_positions[:n] for n in lengths])
    rows = np.repeat(np.arange(B) * T, lengths) + positions
    return Batch(B, T, inputs, targets, positions, rows)


# --- the blocks: a forward and a backward each ------------------------------------------------

def encoder_forward(wte, wpe, batch):
    """Token plus position embedding of the batch's real positions: (N, e)."""
    x = wte.take(batch.inputs, axis=0)
    x += wpe[:batch.T] if batch.B == 1 else wpe.take(batch.positions, axis=0)
    return x


def encoder_backward(dwte, dwpe, dx, batch, eye_vocab, eye_block):
    """Write the embeddings' gradients from dx (N, e): one-hot rows of the token ids (and of
    the positions), transposed, times dx sums each id's rows. (One document writes
    dwpe[:T] itself: see rmsnorm_backward's out in NumpyEngine.backward.)"""
    if batch.B == 1:
        dwpe[batch.T:] = 0.0
    else:
        np.dot(eye_block.take(batch.positions, axis=0).T, dx, out=dwpe)
    np.dot(eye_vocab.take(batch.inputs, axis=0).T, dx, out=dwte)


def rmsnorm_forward(x, mean_col):
    """(x / rms, rms), rms = sqrt(mean(x**2) + eps) over each row; mean_col is a column of 1/n.

    (A product with a column of 1/n is the cheapest row mean numpy has at this size.)
    """
    rms = np.dot(x * x, mean_col)
    rms += RMSNORM_EPS
    np.sqrt(rms, out=rms)
    return x / rms, rms


def rmsnorm_backward(dy, y, rms, mean_col, out=None):
    """Gradient through y = rmsnorm(x), from y and rms: (dy - y * mean(dy * y)) / rms."""
    dx = y * np.dot(dy * y, mean_col)
    np.subtract(dy, dx, out=dx)
    return np.divide(dx, rms, out=out if out is not None else dx)


def to_padded(x, batch):
    """Rows (N, C) of real positions -> (B*T, C), zeros at padded positions."""
    if batch.rows is None:
        return x
    padded = np.zeros((batch.B * batch.T, x.shape[1]), dtype=x.dtype)
    padded[batch.rows] = x
    return padded


def from_padded(x, batch):
    """(B*T, C) -> the rows (N, C) of real positions."""
    return x if batch.rows is None else x.take(batch.rows, axis=0)


def attention_forward(qkv, batch, n_head, head_dim, scale, mask, ones_t, dropout=None):
    """Causal self-attention of qkv (N, 3e) laid out [q | k | v], heads side by side in each.

    Returns q, k, v (B, H, T, hd) views of the padded layout, the attention weights
    att = softmax(q k^T * scale + mask) (B, H, T, T), the weights that mix the values
    (att times the dropout mask (B, H, T, T), if any; else att itself), and y = those v (N, e),
    heads side by side.
    """
    B, T = batch.B, batch.T
    qkv = to_padded(qkv, batch)
    q, k, v = qkv.reshape(B, T, 3, n_head, head_dim).transpose(2, 0, 3, 1, 4)
    att = np.matmul(q, k.swapaxes(-1, -2))
    att *= scale
    att += mask
    att -= np.maximum.reduce(att, axis=-1, keepdims=True)
    np.exp(att, out=att)
    att /= np.matmul(att, ones_t)
    mixing = att if dropout is None else att * dropout
    y = np.empty((B, T, n_head, head_dim), dtype=qkv.dtype)
    np.matmul(mixing, v, out=y.swapaxes(1, 2))
    return q, k, v, att, mixing, from_padded(y.reshape(B * T, n_head * head_dim), batch)


def attention_backward(dy, q, k, v, att, mixing, batch, scale, ones_t, dropout=None):
    """d qkv (N, 3e), laid out as qkv, from dy (N, e); mixing and dropout as attention_forward's."""
    B, n_head, T, head_dim = q.shape
    dqkv = np.empty((B * T, 3 * n_head * head_dim), dtype=q.dtype)
    dq, dk, dv = dqkv.reshape(B, T, 3, n_head, head_dim).transpose(2, 0, 3, 1, 4)
    dy = to_padded(dy, batch).reshape(B, T, n_head, head_dim).swapaxes(1, 2)  # (B, H, T, hd)
    datt = np.matmul(dy, v.swapaxes(-1, -2))
    np.matmul(mixing.swapaxes(-1, -2), dy, out=dv)
    if dropout is not None:
        datt *= dropout
    # softmax backward: datt = att * (datt - rowsum(datt * att))
    datt -= np.matmul(datt * att, ones_t)
    datt *= att
    datt *= scale
    np.matmul(datt, k, out=dq)
    np.matmul(datt.swapaxes(-1, -2), q, out=dk)
    return from_padded(dqkv, batch)


def mlp_forward(x_norm2, fc1, fc2):
    """(hidden, out): hidden = relu(x_norm2 fc1^T), out = hidden fc2^T."""
    hidden = np.dot(x_norm2, fc1.T)
    np.maximum(hidden, 0.0, out=hidden)
    return hidden, np.dot(hidden, fc2.T)


def mlp_backward(dout, x_norm2, hidden, fc1, fc2, dfc1, dfc2):
    """Write dfc1, dfc2; return d x_norm2."""
    np.dot(dout.T, hidden, out=dfc2)
    dhidden = np.dot(dout, fc2)
    dhidden *= np.sign(hidden)  # relu's gradient: hidden is 0 or positive
    np.dot(dhidden.T, x_norm2, out=dfc1)
    return np.dot(dhidden, fc1)


def softmax_forward(logits, ones_vocab):
    """Softmax over each row, in place."""
    logits -= np.maximum.reduce(logits, axis=1, keepdims=True)
    probs = np.exp(logits, out=logits)
    probs /= np.dot(probs, ones_vocab)
    return probs


def crossentropy_forward(probs, targets):
    """Sum of -log(probs[i, targets[i]]) over the rows, in order, as the Val engine sums it."""
    return -sum(map(math.log, probs[np.arange(len(targets)), targets].tolist()))


def crossentropy_backward(probs, targets, eye_vocab):
    """d loss / d logits, in place of probs, for the mean over the rows: (probs - onehot) / N."""
    probs -= eye_vocab.take(targets, axis=0)
    probs *= 1.0 / len(targets)
    return probs


def as_dtype(masks, dtype):
    """A dropout.StepMasks in this engine's dtype (they are drawn in float64)."""
    from ..dropout import LayerMasks, StepMasks
    return StepMasks(masks.lengths, tuple(LayerMasks(*(getattr(m, f).astype(dtype) for f in
                                                       ('attention', 'attn_out', 'mlp_out')))
                                          for m in masks.layers))


# --- the activations the backward reads ------------------------------------------------------

@dataclass
class LayerActivations:
    x_norm: np.ndarray   # rmsnorm of the layer's input: the attention's input (N, e)
    rms: np.ndarray      # its divisor (N, 1)
    q: np.ndarray        # (B, H, T, hd), padded
    k: np.ndarray
    v: np.ndarray
    att: np.ndarray      # attention weights (B, H, T, T)
    mixing: np.ndarray   # the weights that mix the values: att, or att times the dropout mask
    y: np.ndarray        # att v, heads side by side: wo's input (N, e)
    x_norm2: np.ndarray  # rmsnorm of the residual after attention: the MLP's input (N, e)
    rms2: np.ndarray
    hidden: np.ndarray   # relu(x_norm2 fc1^T) (N, f)
    dropout: object = None  # this layer's dropout.LayerMasks, if the step drops


@dataclass
class Activations:
    batch: Batch
    x_emb: np.ndarray = None  # rmsnorm(wte[inputs] + wpe[positions]): the first layer's input (N, e)
    rms_emb: np.ndarray = None
    layers: list = None       # LayerActivations per layer
    x_out: np.ndarray = None  # the last residual: lm_head's input (N, e)


# --- the engine --------------------------------------------------------------------------------

class Layer:
    """Views of one transformer layer's matrices, into the weights or into the gradients.

    wq, wk, wv lie one after another in the flat buffer, so `wqkv` is a (3e, e) view of
    all three: q, k and v come out of one product.
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

    def __init__(self, config, state_dict, dtype='float64'):
        keep_freed_memory()
        self.config = config
        self.dtype = dtype = np.dtype(dtype)
        size = config.num_params()
        self.weights = np.empty(size, dtype=dtype)
        # The gradient and its square side by side, and Adam's m and v side by side: the
        # moments' update is three operations on (2, size) arrays (see adam_step).
        self._grad_sq = np.zeros((2, size), dtype=dtype)
        self._moments = np.zeros((2, size), dtype=dtype)
        self.grad, self.m, self.v = self._grad_sq[0], self._moments[0], self._moments[1]
        self._scratch = np.empty(size, dtype=dtype)
        self.set_adam(self.adam)
        self.weight_views, self.layers = flat_views(self.weights, config)
        self.grad_views, self.grad_layers = flat_views(self.grad, config)
        for name, view in self.weight_views.items():
            view[...] = state_dict[name]
        # Each backward overwrites the gradients; this says whether they hold one not yet used.
        self._has_grad = False
        t = np.arange(config.block_size)
        self._causal_mask = np.where(t[None, :] > t[:, None], -np.inf, 0.0).astype(dtype)
        self._eye_vocab = np.eye(config.vocab_size, dtype=dtype)
        self._attn_scale = 1.0 / config.head_dim ** 0.5
        self._mean_embd = np.full((config.n_embd, 1), 1.0 / config.n_embd, dtype=dtype)
        self._ones_block = np.ones((config.block_size, 1), dtype=dtype)
        self._ones_vocab = np.ones((config.vocab_size, 1), dtype=dtype)
        self._positions = np.arange(config.block_size)
        self._eye_block = np.eye(config.block_size, dtype=dtype)

    def set_adam(self, settings):
        self.adam = settings
        self._betas = np.array([[settings.beta1], [settings.beta2]], dtype=self.dtype)
        self._one_minus_betas = np.array([[1 - settings.beta1], [1 - settings.beta2]], dtype=self.dtype)

    # --- whole-sequence forward and its backward ---------------------------------------------

    def batch(self, docs):
        """A Batch of token lists (each cropped to block_size + 1 tokens)."""
        return make_batch(docs, self._positions)

    def forward(self, batch, acts=None, dropout=None):
        """Logits (N, vocab) at the batch's N real positions; fills `acts` (an Activations)
        with what the backward needs when given one. `dropout` (a dropout.StepMasks) drops
        what its masks say; None drops nothing (evaluation)."""
        cfg, w = self.config, self.weight_views
        mean_embd, scale = self._mean_embd, self._attn_scale
        mask, ones_t = self._causal_mask[:batch.T, :batch.T], self._ones_block[:batch.T]
        x, rms = rmsnorm_forward(encoder_forward(w['wte'], w['wpe'], batch), mean_embd)
        if acts is not None:
            acts.x_emb, acts.rms_emb, acts.layers = x, rms, []
        for li, layer in enumerate(self.layers):
            drop = None if dropout is None else dropout.layers[li]
            x_norm, rms = rmsnorm_forward(x, mean_embd)
            q, k, v, att, mixing, y = attention_forward(np.dot(x_norm, layer.wqkv.T), batch, cfg.n_head,
                                                        cfg.head_dim, scale, mask, ones_t,
                                                        None if drop is None else drop.attention)
            x_attn = np.dot(y, layer.wo.T)
            if drop is not None:
                x_attn *= drop.attn_out
            x_attn += x                                                       # residual
            x_norm2, rms2 = rmsnorm_forward(x_attn, mean_embd)
            hidden, x = mlp_forward(x_norm2, layer.fc1, layer.fc2)
            if drop is not None:
                x *= drop.mlp_out
            x += x_attn                                                       # residual
            if acts is not None:
                acts.layers.append(LayerActivations(x_norm, rms, q, k, v, att, mixing, y, x_norm2, rms2, hidden,
                                                    drop))
        if acts is not None:
            acts.x_out = x
        return np.dot(x, w['lm_head'].T)

    def backward(self, dlogits, acts):
        """Write d loss / d weights into the gradient buffer, from d loss / d logits."""
        w, g = self.weight_views, self.grad_views
        mean_embd, scale = self._mean_embd, self._attn_scale
        batch = acts.batch
        ones_t = self._ones_block[:batch.T]
        np.dot(dlogits.T, acts.x_out, out=g['lm_head'])
        dx = np.dot(dlogits, w['lm_head'])
        for layer, glayer, a in zip(reversed(self.layers), reversed(self.grad_layers), reversed(acts.layers)):
            drop = a.dropout
            # x_out = x_attn + mlp(rmsnorm(x_attn)) (* its dropout mask)
            dbranch = dx if drop is None else dx * drop.mlp_out
            dx_norm2 = mlp_backward(dbranch, a.x_norm2, a.hidden, layer.fc1, layer.fc2, glayer.fc1, glayer.fc2)
            dx += rmsnorm_backward(dx_norm2, a.x_norm2, a.rms2, mean_embd)
            # x_attn = x + attention(rmsnorm(x) wqkv^T) wo^T (* its dropout mask)
            dbranch = dx if drop is None else dx * drop.attn_out
            np.dot(dbranch.T, a.y, out=glayer.wo)
            dqkv = attention_backward(np.dot(dbranch, layer.wo), a.q, a.k, a.v, a.att, a.mixing, batch, scale,
                                      ones_t, None if drop is None else drop.attention)
            np.dot(dqkv.T, a.x_norm, out=glayer.wqkv)
            dx += rmsnorm_backward(np.dot(dqkv, layer.wqkv), a.x_norm, a.rms, mean_embd)
        # one document: the embedding rmsnorm's backward is wpe's gradient itself
        dx_emb = rmsnorm_backward(dx, acts.x_emb, acts.rms_emb, mean_embd,
                                  out=g['wpe'][:batch.T] if batch.B == 1 else None)
        encoder_backward(g['wte'], g['wpe'], dx_emb, batch, self._eye_vocab, self._eye_block)

    def loss_and_backward(self, batch, dropout=None):
        batch = make_batch(batch, self._positions)
        acts = Activations(batch)
        if dropout is not None and self.dtype != dropout.layers[0].attn_out.dtype:
            dropout = as_dtype(dropout, self.dtype)
        probs = softmax_forward(self.forward(batch, acts, dropout), self._ones_vocab)
        loss = (1.0 / len(batch.targets)) * crossentropy_forward(probs, batch.targets)
        dlogits = crossentropy_backward(probs, batch.targets, self._eye_vocab)
        if self._has_grad:  # accumulate, as repeated Val backward passes do
            saved = self.grad.copy()
            self.backward(dlogits, acts)
            self.grad += saved
        else:
            self.backward(dlogits, acts)
        self._has_grad = True
        return loss

    def gradients(self):
        if not self._has_grad:
            self.grad.fill(0.0)
        return {name: view.tolist() for name, view in self.grad_views.items()}

    def clip_grad_norm(self, max_norm):
        if not self._has_grad:
            return 0.0
        norm = math.sqrt(np.dot(self.grad, self.grad))
        coef = clip_coef(norm, max_norm)
        if coef < 1.0:
            self.grad *= coef
        return norm

    def adam_step(self, lr, t):
        if not self._has_grad:
            self.grad.fill(0.0)
        g, m, v, denom = self.grad, self.m, self.v, self._scratch
        # the original's moments: m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g**2; the
        # gradient buffer is spent (the next backward overwrites it)
        np.multiply(g, g, out=self._grad_sq[1])
        self._grad_sq *= self._one_minus_betas
        self._moments *= self._betas
        self._moments += self._grad_sq
        # p -= lr * (m / m_corr) / (sqrt(v / v_corr) + eps), with the bias corrections as
        # Python floats: with s = sqrt(v_corr), = (lr * s / m_corr) * m / (sqrt(v) + eps * s)
        adam = self.adam
        s = (1 - adam.beta2 ** t) ** 0.5
        np.sqrt(v, out=denom)
        denom += adam.eps * s
        np.divide(m, denom, out=denom)
        denom *= lr * s / (1 - adam.beta1 ** t)
        if adam.weight_decay:  # decoupled (AdamW): shrink the weights, then the Adam step
            self.weights *= 1 - lr * adam.weight_decay
        self.weights -= denom
        self._has_grad = False

    def optimizer_state(self):
        m_views, _ = flat_views(self.m, self.config)
        v_views, _ = flat_views(self.v, self.config)
        return {'m': {name: view.tolist() for name, view in m_views.items()},
                'v': {name: view.tolist() for name, view in v_views.items()}}

    def load_optimizer_state(self, state):
        for key, flat in (('m', self.m), ('v', self.v)):
            views, _ = flat_views(flat, self.config)
            for name, view in views.items():
                view[...] = state[key][name]

    def state_dict(self):
        return {name: view.tolist() for name, view in self.weight_views.items()}

    def flat_weights(self):
        return self.weights  # already one buffer in the parameters' order

    # --- one position at a time, with a KV cache (sampling) ------------------------------------

    def new_cache(self):
        """Keys and values of the positions seen so far, per layer: (layers, block, H, hd)."""
        cfg = self.config
        shape = (cfg.n_layer, cfg.block_size, cfg.n_head, cfg.head_dim)
        return {'k': np.empty(shape, dtype=self.dtype), 'v': np.empty(shape, dtype=self.dtype)}

    def logits(self, token_id, pos_id, cache):
        cfg = self.config
        w = self.weight_views
        mean_embd = self._mean_embd
        x, _ = rmsnorm_forward(w['wte'][token_id] + w['wpe'][pos_id], mean_embd)
        for li, layer in enumerate(self.layers):
            x_norm, _ = rmsnorm_forward(x, mean_embd)
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
            hidden = np.dot(layer.fc1, rmsnorm_forward(x, mean_embd)[0])
            np.maximum(hidden, 0.0, out=hidden)
            x = np.dot(layer.fc2, hidden) + x
        return np.dot(w['lm_head'], x).tolist()
