"""What a trained model learned, as pictures (matplotlib, imported when a figure is drawn): the
attention weights of every layer and head on one text, and the token and position embeddings."""
import numpy as np

from . import text_tokens
from ..gpt.engines.numpy_engine import Activations, NumpyEngine
from ..plots import figure_class
from ..predictions import END, token_labels


def attention_weights(checkpoint, tokens):
    """(n_layer, n_head, T, T): how much each of the T positions attends to each earlier one (rows sum to 1)."""
    engine = NumpyEngine(checkpoint.config, checkpoint.state_dict)
    batch = engine.batch([tokens])
    acts = Activations(batch)
    engine.forward(batch, acts)
    return np.stack([layer.att[0] for layer in acts.layers])


def pca_2d(matrix):
    """The rows of matrix on its two principal axes (SVD of the centred rows), and each axis's share of variance."""
    centred = matrix - matrix.mean(axis=0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    share = s ** 2 / max(float(np.sum(s ** 2)), np.finfo(float).tiny)
    coords = centred @ vt[:2].T
    if coords.shape[1] < 2:  # a one-wide embedding has one axis
        coords = np.hstack([coords, np.zeros((len(coords), 2 - coords.shape[1]))])
        share = np.append(share, [0.0] * (2 - len(share)))
    return coords, share[:2]


def cosine_similarity(matrix):
    """(rows, rows): the cosine of the angle between every two rows."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    unit = matrix / np.where(norms == 0, 1.0, norms)
    return unit @ unit.T


def attention_figure(checkpoint, text):
    """A grid of heatmaps, one per layer (rows) and head (columns), labelled with the text."""
    tokens = text_tokens(checkpoint, text)
    weights = attention_weights(checkpoint, tokens)
    n_layer, n_head, T, _ = weights.shape
    labels = [token_labels(checkpoint.tokenizer)[t] for t in tokens[:T]]
    side = 1.2 + 0.28 * T
    fig = figure_class()(figsize=(side * n_head + 1.2, side * n_layer + 0.6), layout='constrained')
    axes = fig.subplots(n_layer, n_head, squeeze=False)
    for li in range(n_layer):
        for h in range(n_head):
            ax = axes[li][h]
            image = ax.imshow(weights[li, h], vmin=0.0, vmax=1.0, cmap='viridis')
            ax.set_title(f'layer {li} head {h}', fontsize=9)
            ax.set_xticks(range(T), labels, fontsize=7)  # upright: a rotated 'm' reads as 'E'
            ax.set_yticks(range(T), labels, fontsize=7)
            if h == 0:
                ax.set_ylabel('query (position reading)', fontsize=8)
            if li == n_layer - 1:
                ax.set_xlabel('key (position read)', fontsize=8)
    fig.colorbar(image, ax=axes, shrink=0.8, label='attention weight')
    fig.suptitle(f'attention of every layer and head on {text!r}', fontsize=10)
    return fig


def embeddings_figure(checkpoint):
    """wte's rows on their two principal axes, one point per token; beside it the cosine similarity of the
    position embeddings (wpe)."""
    wte = np.array(checkpoint.state_dict['wte'])
    wpe = np.array(checkpoint.state_dict['wpe'])
    coords, share = pca_2d(wte)
    labels = token_labels(checkpoint.tokenizer)
    fig = figure_class()(figsize=(11, 5), layout='constrained')
    left, right = fig.subplots(1, 2, width_ratios=[1.2, 1])
    left.scatter(coords[:, 0], coords[:, 1], s=12, color='C0', alpha=0.5)
    for (x, y), label in zip(coords, labels):
        left.annotate(label, (x, y), fontsize=9, ha='center', va='bottom',
                      color='C3' if label == END else 'black')
    left.set(xlabel=f'principal axis 1 ({share[0]:.0%} of the variance)',
             ylabel=f'principal axis 2 ({share[1]:.0%} of the variance)',
             title=f'token embeddings (wte, {wte.shape[0]} x {wte.shape[1]}), PCA to 2-D')
    left.grid(True, alpha=0.3)
    similarity = cosine_similarity(wpe)
    image = right.imshow(similarity, vmin=-1.0, vmax=1.0, cmap='RdBu_r')
    right.set(xlabel='position', ylabel='position',
              title=f'position embeddings (wpe, {wpe.shape[0]} x {wpe.shape[1]}): cosine similarity')
    fig.colorbar(image, ax=right, shrink=0.8)
    return fig
