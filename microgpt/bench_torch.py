"""The same GPT, trainer and sampler written in PyTorch (float64, one thread, eager mode).

Used only by `microgpt bench`, as a yardstick: it offers the engine interface (see
engines/__init__.py), so the benchmark drives it with the very loop that drives the others.
Importing this module imports torch: `pip install 'microgpt[bench]'`.
"""
import torch
import torch.nn.functional as F

from .model import RMSNORM_EPS
from .optim import BETA1, BETA2, EPS
from .engines.base import Engine

torch.set_num_threads(1)


def rmsnorm(x):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + RMSNORM_EPS)


class TorchEngine(Engine):
    name = 'torch'

    def __init__(self, config, state_dict):
        self.config = config
        self.params = {name: torch.tensor(state_dict[name], dtype=torch.float64, requires_grad=True)
                       for name, _ in config.param_shapes()}
        self.optimizer = torch.optim.Adam(self.params.values(), betas=(BETA1, BETA2), eps=EPS)
        t = torch.arange(config.block_size)
        self.future = t[None, :] > t[:, None]

    def _layer(self, i, name):
        return self.params[f'layer{i}.{name}']

    def forward(self, idx):
        """Logits at every position of the token ids idx (T,): whole sequence, causal mask."""
        cfg, p = self.config, self.params
        T, H, hd = idx.shape[0], cfg.n_head, cfg.head_dim
        x = rmsnorm(p['wte'][idx] + p['wpe'][:T])
        for i in range(cfg.n_layer):
            x_norm = rmsnorm(x)
            q, k, v = (x_norm @ self._layer(i, f'attn_w{n}').T for n in 'qkv')
            q, k, v = (t.view(T, H, hd).transpose(0, 1) for t in (q, k, v))
            att = (q @ k.transpose(-1, -2)) / hd ** 0.5
            att = att.masked_fill(self.future[:T, :T], float('-inf')).softmax(dim=-1)
            y = (att @ v).transpose(0, 1).reshape(T, cfg.n_embd)
            x = y @ self._layer(i, 'attn_wo').T + x
            hidden = torch.relu(rmsnorm(x) @ self._layer(i, 'mlp_fc1').T)
            x = hidden @ self._layer(i, 'mlp_fc2').T + x
        return x @ p['lm_head'].T

    def loss_and_backward(self, batch):
        (tokens,) = batch  # one document at a time
        tokens = torch.tensor(tokens)
        loss = F.cross_entropy(self.forward(tokens[:-1]), tokens[1:])
        loss.backward()
        return loss.item()

    def gradients(self):
        return {name: p.grad.tolist() for name, p in self.params.items()}

    def adam_step(self, lr, t):
        for group in self.optimizer.param_groups:
            group['lr'] = lr
        self.optimizer.step()
        self.optimizer.zero_grad()

    def state_dict(self):
        return {name: p.tolist() for name, p in self.params.items()}

    def new_cache(self):
        return [[] for _ in range(self.config.n_layer)], [[] for _ in range(self.config.n_layer)]

    @torch.no_grad()
    def logits(self, token_id, pos_id, cache):
        """One decoding step against a KV cache, like the other engines."""
        cfg, p = self.config, self.params
        H, hd = cfg.n_head, cfg.head_dim
        keys, values = cache
        x = rmsnorm(p['wte'][token_id] + p['wpe'][pos_id])
        for i in range(cfg.n_layer):
            x_norm = rmsnorm(x)
            q, k, v = (self._layer(i, f'attn_w{n}') @ x_norm for n in 'qkv')
            keys[i].append(k.view(H, hd))
            values[i].append(v.view(H, hd))
            ks, vs = torch.stack(keys[i], dim=1), torch.stack(values[i], dim=1)   # (H, t, hd)
            att = ((ks @ q.view(H, hd, 1)).squeeze(-1) / hd ** 0.5).softmax(dim=-1)  # (H, t)
            y = (att.unsqueeze(1) @ vs).reshape(cfg.n_embd)
            x = self._layer(i, 'attn_wo') @ y + x
            x = self._layer(i, 'mlp_fc2') @ torch.relu(self._layer(i, 'mlp_fc1') @ rmsnorm(x)) + x
        return (p['lm_head'] @ x).tolist()
