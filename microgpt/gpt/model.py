"""The GPT: its config, its parameters (a state_dict with the original names), and its
forward pass written over `Val` atoms, one token at a time with a KV cache.

GPT-2 with small differences: RMSNorm (no gain) instead of LayerNorm, no biases, ReLU.
"""
from dataclasses import asdict

from .autograd import Val
from .settings import MODEL_SETTINGS, SettingError, configured

INIT_STD = 0.08
RMSNORM_EPS = 1e-5


@configured(MODEL_SETTINGS)
class GPTConfig:
    """The model's sizes, each declared once in microgpt/gpt/settings.py (its default, the
    original microgpt.py's: 4,192 parameters on the names, and what makes it valid). n_embd
    must be a multiple of n_head.

    :ivar vocab_size: how many tokens there are: the data's characters, plus BOS (27 for the names)
    :ivar n_embd: the width of every token's vector: its embedding and the residual stream
    :ivar n_head: attention heads per layer; each looks at n_embd / n_head of the vector (head_dim)
    :ivar n_layer: transformer blocks (attention then MLP), one after the other
    :ivar block_size: the most positions the model sees: the longest context, and the rows of wpe
    :ivar ff_mult: the MLP's hidden width, as a multiple of n_embd
    """

    def check(self):
        if self.n_embd % self.n_head:
            raise SettingError('n_head', f"must divide n_embd ({self.n_embd}), got {self.n_head}",
                               f"n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def head_dim(self):
        return self.n_embd // self.n_head

    def to_dict(self):
        return asdict(self)

    def param_shapes(self):
        """(name, (rows, cols)) of every matrix, in the order they are initialized."""
        e, f = self.n_embd, self.ff_mult * self.n_embd
        shapes = [('wte', (self.vocab_size, e)), ('wpe', (self.block_size, e)),
                  ('lm_head', (self.vocab_size, e))]
        for i in range(self.n_layer):
            shapes += [(f'layer{i}.attn_wq', (e, e)), (f'layer{i}.attn_wk', (e, e)),
                       (f'layer{i}.attn_wv', (e, e)), (f'layer{i}.attn_wo', (e, e)),
                       (f'layer{i}.mlp_fc1', (f, e)), (f'layer{i}.mlp_fc2', (e, f))]
        return shapes

    def num_params(self):
        return sum(rows * cols for _, (rows, cols) in self.param_shapes())


def layers_held(names):
    """How many layers a file's weight names hold (layer0.*, layer1.*, ...): what its config's
    n_layer is checked against before param_shapes(), whose length grows with n_layer."""
    return len({name.split('.')[0] for name in names if name.startswith('layer')})


def init_state_dict(config, rng, std=INIT_STD):
    """Gaussian init, matrix by matrix and row by row, from one `random.Random` stream.

    This draw order is what lets every engine reproduce the original run exactly.
    Returns plain floats: {name: [[float, ...], ...]}, shared by all engines.
    """
    return {name: [[rng.gauss(0, std) for _ in range(cols)] for _ in range(rows)]
            for name, (rows, cols) in config.param_shapes()}


# --- the forward pass over Val atoms -------------------------------------------------------
# Written as the original writes it (`/ n` and `/ sqrt(head_dim)` stay divisions by a number,
# which Val makes `* n**-1`), so every rounding is the original's.

def linear(x, w):
    return Val.matvec(w, x)


def softmax(logits):
    max_val = max(v.data for v in logits)
    exps = [(v - max_val).exp() for v in logits]
    total = Val.sum(exps)
    return [e / total for e in exps]


def rmsnorm(x):
    ms = Val.dot(x, x) / len(x)
    scale = (ms + RMSNORM_EPS) ** -0.5
    return [xi * scale for xi in x]


def cross_entropy(logits, target):
    """-log softmax(logits)[target]. Only the target's probability is built: the other
    probabilities are nowhere in the loss's graph, so they change no gradient."""
    max_val = max(v.data for v in logits)
    exps = [(v - max_val).exp() for v in logits]
    return -(exps[target] / Val.sum(exps)).log()


class GPT:
    """The model over Val atoms: `state_dict` maps the original names to matrices of Val."""

    def __init__(self, config, state_dict):
        self.config = config
        # rows as tuples: a linear layer's nodes take them as their children as they are
        self.state_dict = {name: [tuple(Val(float(x)) for x in row) for row in state_dict[name]]
                           for name, _ in config.param_shapes()}

    def parameters(self):
        return [p for mat in self.state_dict.values() for row in mat for p in row]

    def new_cache(self):
        return [[] for _ in range(self.config.n_layer)], [[] for _ in range(self.config.n_layer)]

    def forward(self, token_id, pos_id, cache, trace=None, dropout=None):
        """Logits (list of Val) for the next token; appends this position's k, v to cache.

        `dropout`, when training drops (see microgpt/gpt/dropout.py), is this document's masks
        (StepMasks.document): each kept value times 1 / (1 - p), each dropped one times 0.

        `trace(where, **stages)`, when given, is shown each named stage's outputs as they are
        made ('' or 'layer0' or 'layer0.head1', then stage name -> list of Val), so a viewer
        can tell which operation made each atom (microgpt/viz/graph.py). Training passes none.
        """
        cfg, sd = self.config, self.state_dict
        keys, values = cache
        hd = cfg.head_dim
        x = [t + p for t, p in zip(sd['wte'][token_id], sd['wpe'][pos_id])]
        if trace: trace('', embedding=x)
        x = rmsnorm(x)  # not redundant: the residual stream's gradient flows through it
        if trace: trace('', embedding_norm=x)
        for li in range(cfg.n_layer):
            # 1) multi-head causal self-attention over the cached positions
            x_residual = x
            x = rmsnorm(x)
            q = linear(x, sd[f'layer{li}.attn_wq'])
            keys[li].append(linear(x, sd[f'layer{li}.attn_wk']))
            values[li].append(linear(x, sd[f'layer{li}.attn_wv']))
            if trace: trace(f'layer{li}', attn_norm=x, q=q, k=keys[li][-1], v=values[li][-1])
            x_attn = []
            for h in range(cfg.n_head):
                hs = slice(h * hd, (h + 1) * hd)
                q_h = q[hs]
                attn_logits = [Val.dot(q_h, k[hs]) / hd ** 0.5 for k in keys[li]]
                attn_weights = softmax(attn_logits)
                if dropout:
                    attn_weights = [w * m for w, m in zip(attn_weights, dropout[li][0][h][pos_id])]
                v_h = [v[hs] for v in values[li]]
                x_attn.extend(Val.dot(attn_weights, [v[j] for v in v_h]) for j in range(hd))
                if trace:
                    trace(f'layer{li}.head{h}', scores=attn_logits, softmax=attn_weights, mix=x_attn[hs])
            x = linear(x_attn, sd[f'layer{li}.attn_wo'])
            if dropout:
                x = [xi * m for xi, m in zip(x, dropout[li][1][pos_id])]
            if trace: trace(f'layer{li}', attn_out=x)
            x = [a + b for a, b in zip(x, x_residual)]
            # 2) MLP: fc1, ReLU, fc2
            x_residual = x
            x = rmsnorm(x)
            if trace: trace(f'layer{li}', attn_residual=x_residual, mlp_norm=x)
            x = [xi.relu() for xi in linear(x, sd[f'layer{li}.mlp_fc1'])]
            if trace: trace(f'layer{li}', mlp_hidden=x)
            x = linear(x, sd[f'layer{li}.mlp_fc2'])
            if dropout:
                x = [xi * m for xi, m in zip(x, dropout[li][2][pos_id])]
            if trace: trace(f'layer{li}', mlp_out=x)
            x = [a + b for a, b in zip(x, x_residual)]
            if trace: trace(f'layer{li}', mlp_residual=x)
        logits = linear(x, sd['lm_head'])
        if trace: trace('', logits=logits)
        return logits

    def document_losses(self, tokens, trace=None, dropout=None):
        """The next-token cross-entropy at each position of one document (already cropped)."""
        cache = self.new_cache()
        return [cross_entropy(self.forward(tokens[pos], pos, cache, trace, dropout), tokens[pos + 1])
                for pos in range(len(tokens) - 1)]

    def loss(self, batch, trace=None, dropout=None):
        """Mean next-token cross-entropy over every token of a batch (a list of token lists,
        one per document, already cropped). For one document this is the original's
        `(1 / n) * sum(losses)`; for several, all their token losses in one such mean.
        `dropout`: the step's dropout.StepMasks, or None (nothing dropped)."""
        losses = [loss for b, tokens in enumerate(batch)
                  for loss in self.document_losses(tokens, trace, None if dropout is None else dropout.document(b))]
        return (1 / len(losses)) * Val.sum(losses)
