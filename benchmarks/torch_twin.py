"""The same GPT, trainer and sampler written in PyTorch (float64 and one thread unless told
otherwise; eager mode).

Used only by the benchmark suite (bench.py here), as a yardstick: it offers the engine
interface (see microgpt/gpt/engines/__init__.py), so the suite drives it with the very loops that
drive the others.
It is written as PyTorch is usually written for speed without compiling: q, k and v from one
fused (3e, e) matrix, F.scaled_dot_product_attention with a causal mask, torch.optim.Adam
(fused when this PyTorch has it; AdamW with weight decay); and it runs a batch as the numpy
engine does, on real tokens only, padding the documents for attention alone.
Importing this module imports torch: `pip install -e '.[bench]'`.
"""
import torch
import torch.nn.functional as F

from microgpt.gpt.engines.base import Engine, clip_coef
from microgpt.gpt.model import RMSNORM_EPS

torch.set_num_threads(1)


def rmsnorm(x):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + RMSNORM_EPS)


def set_threads(n):
    """PyTorch's intra-op threads, for the whole process."""
    torch.set_num_threads(n)


def make_adam(params, settings):
    """torch.optim.Adam with these constants, or AdamW when they decay the weights (PyTorch's
    AdamW decouples the decay as the other engines do: p *= 1 - lr * weight_decay first)."""
    kind = torch.optim.AdamW if settings.weight_decay else torch.optim.Adam
    options = dict(betas=(settings.beta1, settings.beta2), eps=settings.eps)
    if settings.weight_decay:
        options['weight_decay'] = settings.weight_decay
    try:
        return kind(params, fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return kind(params, **options)


class TorchEngine(Engine):
    name = 'torch'

    def __init__(self, config, state_dict, dtype='float64'):
        self.config = config
        self.dtype = getattr(torch, dtype)
        self.params = {}
        for name, _ in config.param_shapes():
            layer, _, kind = name.partition('.')
            if kind in ('attn_wk', 'attn_wv'):
                continue
            if kind == 'attn_wq':  # wq, wk, wv stacked: one (3e, e) matrix
                rows = [row for n in 'qkv' for row in state_dict[f'{layer}.attn_w{n}']]
                name = f'{layer}.attn_wqkv'
            else:
                rows = state_dict[name]
            self.params[name] = torch.tensor(rows, dtype=self.dtype, requires_grad=True)
        self.optimizer = make_adam(list(self.params.values()), self.adam)

    def set_adam(self, settings):
        """A new optimizer with these constants (its moments start again: set it before training)."""
        if settings != self.adam:
            self.adam = settings
            self.optimizer = make_adam(list(self.params.values()), settings)

    def _layer(self, i, name):
        return self.params[f'layer{i}.{name}']

    def forward(self, inputs, positions, rows, B, T, dropout=None):
        """Logits (N, vocab) at the N real positions of B documents, packed row after row
        (inputs, positions: (N,)); attention scatters them to a zero-padded (B, T) layout at
        `rows` (None: no padding), as the numpy engine does. `dropout` (a dropout.StepMasks)
        multiplies in its masks, as the other engines do: PyTorch's own dropout draws masks
        of its own."""
        cfg, p = self.config, self.params
        H, hd, e = cfg.n_head, cfg.head_dim, cfg.n_embd
        x = rmsnorm(p['wte'][inputs] + p['wpe'][positions])
        for i in range(cfg.n_layer):
            drop = None if dropout is None else [torch.from_numpy(m).to(self.dtype) for m in (
                dropout.layers[i].attention, dropout.layers[i].attn_out, dropout.layers[i].mlp_out)]
            qkv = F.linear(rmsnorm(x), self._layer(i, 'attn_wqkv'))
            if rows is not None:
                qkv = qkv.new_zeros(B * T, 3 * e).index_copy(0, rows, qkv)
            q, k, v = (t.view(B, T, H, hd).transpose(1, 2) for t in qkv.split(e, dim=-1))
            if drop is None:
                y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            else:
                causal = torch.ones(T, T, dtype=torch.bool).tril()
                att = (q @ k.transpose(-1, -2) / hd ** 0.5).masked_fill(~causal, float('-inf')).softmax(dim=-1)
                y = (att * drop[0]) @ v
            y = y.transpose(1, 2).reshape(B * T, e)
            if rows is not None:
                y = y.index_select(0, rows)
            branch = F.linear(y, self._layer(i, 'attn_wo'))
            x = (branch if drop is None else branch * drop[1]) + x
            hidden = torch.relu(F.linear(rmsnorm(x), self._layer(i, 'mlp_fc1')))
            branch = F.linear(hidden, self._layer(i, 'mlp_fc2'))
            x = (branch if drop is None else branch * drop[2]) + x
        return F.linear(x, p['lm_head'])

    def loss_and_backward(self, batch, dropout=None):
        lengths = [len(tokens) - 1 for tokens in batch]
        B, T = len(batch), max(lengths)
        inputs = torch.tensor([t for tokens in batch for t in tokens[:-1]])
        targets = torch.tensor([t for tokens in batch for t in tokens[1:]])
        positions = torch.tensor([pos for n in lengths for pos in range(n)])
        rows = None if min(lengths) == T else torch.tensor(
            [b * T + pos for b, n in enumerate(lengths) for pos in range(n)])
        loss = F.cross_entropy(self.forward(inputs, positions, rows, B, T, dropout), targets)
        loss.backward()
        return loss.item()

    def _split(self, tensors):
        """{original name: rows} from {twin name: tensor}: the fused qkv back into three."""
        e, out = self.config.n_embd, {}
        for name, _ in self.config.param_shapes():
            layer, _, kind = name.partition('.')
            if kind in ('attn_wq', 'attn_wk', 'attn_wv'):
                i = 'qkv'.index(kind[-1])
                out[name] = tensors[f'{layer}.attn_wqkv'][i * e:(i + 1) * e].tolist()
            else:
                out[name] = tensors[name].tolist()
        return out

    def gradients(self):
        return self._split({name: (p.grad if p.grad is not None else torch.zeros_like(p))
                            for name, p in self.params.items()})

    def clip_grad_norm(self, max_norm):
        grads = [p.grad for p in self.params.values() if p.grad is not None]
        norm = float(torch.sqrt(sum((g * g).sum() for g in grads))) if grads else 0.0
        coef = clip_coef(norm, max_norm)
        if coef < 1.0:
            for g in grads:
                g.mul_(coef)
        return norm

    def adam_step(self, lr, t):
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        self.optimizer.step()
        self.optimizer.zero_grad()

    def optimizer_state(self):
        state = self.optimizer.state
        moments = {key: {name: state[p][slot] if p in state else torch.zeros_like(p)
                         for name, p in self.params.items()}
                   for key, slot in (('m', 'exp_avg'), ('v', 'exp_avg_sq'))}
        return {key: self._split(tensors) for key, tensors in moments.items()}

    def state_dict(self):
        return self._split({name: p.detach() for name, p in self.params.items()})

    def new_cache(self):
        return [[] for _ in range(self.config.n_layer)], [[] for _ in range(self.config.n_layer)]

    @torch.no_grad()
    def logits(self, token_id, pos_id, cache):
        """One decoding step against a KV cache, like the other engines."""
        cfg, p = self.config, self.params
        H, hd, e = cfg.n_head, cfg.head_dim, cfg.n_embd
        keys, values = cache
        x = rmsnorm(p['wte'][token_id] + p['wpe'][pos_id])
        for i in range(cfg.n_layer):
            q, k, v = (self._layer(i, 'attn_wqkv') @ rmsnorm(x)).split(e)
            keys[i].append(k.view(H, hd))
            values[i].append(v.view(H, hd))
            ks, vs = torch.stack(keys[i], dim=1), torch.stack(values[i], dim=1)   # (H, t, hd)
            att = ((ks @ q.view(H, hd, 1)).squeeze(-1) / hd ** 0.5).softmax(dim=-1)  # (H, t)
            y = (att.unsqueeze(1) @ vs).reshape(e)
            x = self._layer(i, 'attn_wo') @ y + x
            x = self._layer(i, 'mlp_fc2') @ torch.relu(self._layer(i, 'mlp_fc1') @ rmsnorm(x)) + x
        return (p['lm_head'] @ x).tolist()
