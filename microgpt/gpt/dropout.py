"""Dropout's masks: which activations one training step drops.

Dropout (Srivastava et al., 2014, JMLR 15) where nanoGPT puts it in a block: on the attention
weights after the softmax, and on each residual branch's output (the attention's projection
wo, the MLP's second layer fc2) just before it is added back to the stream. A kept value is
scaled by 1 / (1 - p) ("inverted" dropout), so evaluation and sampling, which drop nothing,
use the weights as they are.

The masks of a step are drawn from a numpy Generator of their own, seeded by the run's seed
and the step: never from the run's `random.Random` stream, which stays the original's (the
shuffle, the init, the samples), and the same on a resumed run. They are drawn in one layout
that every engine reads, so the same step drops the same activations whichever engine
trains: per layer, the attention mask over the batch padded to its longest document
(B, H, T, T: query, then key position), then the two residual masks over the N real
positions packed document by document (N, e), as engines/numpy_engine.py lays out a batch.
"""
import random
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LayerMasks:
    """One layer's masks, each entry 0 (dropped) or 1 / (1 - p) (kept)."""
    attention: np.ndarray  # (B, H, T, T); a query reads only keys at or before it
    attn_out: np.ndarray   # (N, e): the attention branch's output, before the residual add
    mlp_out: np.ndarray    # (N, e): the MLP branch's output, before the residual add


@dataclass(frozen=True)
class StepMasks:
    """A step's masks: `layers` (one LayerMasks per layer) over documents of `lengths` positions."""
    lengths: tuple
    layers: tuple

    def document(self, index):
        """Document `index`'s masks as plain floats, for the Val engine: per layer
        (attention [head][query][key], attn_out [position][channel], mlp_out likewise)."""
        start = sum(self.lengths[:index])
        rows = slice(start, start + self.lengths[index])
        return [(m.attention[index].tolist(), m.attn_out[rows].tolist(), m.mlp_out[rows].tolist())
                for m in self.layers]


def mask_stream(seed, step):
    """The Generator of step `step`'s masks: its own stream, a function of the seed and the step."""
    return np.random.default_rng(random.Random(f"{seed} dropout {step}").getrandbits(128))


def step_masks(p, seed, step, lengths, config):
    """The masks of one step over documents with these numbers of positions (tokens - 1)."""
    lengths = tuple(lengths)
    rng, keep = mask_stream(seed, step), 1.0 / (1.0 - p)
    B, T, N = len(lengths), max(lengths), sum(lengths)

    def mask(shape):
        return (rng.random(shape) >= p) * keep

    return StepMasks(lengths, tuple(LayerMasks(mask((B, config.n_head, T, T)), mask((N, config.n_embd)),
                                               mask((N, config.n_embd)))
                                    for _ in range(config.n_layer)))
