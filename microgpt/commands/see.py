"""`microgpt graph`, `attention`, `embeddings` and `report`: seeing inside a trained model,
and the line each prints of what it drew (stderr)."""
from pathlib import Path

import click

from ..console import json_text
from ..errors import MicrogptError
from ..files.checkpoint import load_checkpoint
from ..files.fileio import atomic_write_bytes
from ..files.outputs import Output, check_outputs
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE
from ..training.run import DEFAULT_SEED
from ..viz import text_tokens
from .options import POSITIVE, checkpoint_option, console, text_option

REPORT_SUFFIXES = ('.html', '.htm')
GRAPH_SUFFIXES = ('.dot', '.gv', '.svg', '.png')
picture_option = click.option('--out', type=click.Path(dir_okay=False), required=True,
                              help="The picture (.png, .svg, .pdf; needs matplotlib: pip install matplotlib).")


@click.command()
@checkpoint_option
@text_option()
@click.option('--position', type=click.IntRange(min=0), default=None,
              help="Only the loss at this position (0 predicts the first character from BOS); "
                   "default: the mean loss over the whole text.")
@click.option('--level', type=click.Choice(('atoms', 'ops', 'blocks')), default='ops', show_default=True,
              help="atoms: every Val with its op, data and grad; ops: one box per named operation "
                   "(rmsnorm, q, k, v, each head's scores, softmax and mix, MLP, lm_head, loss) with its "
                   "atom count; blocks: the embeddings, each layer, the head.")
@click.option('--json', 'as_json', is_flag=True,
              help="Print the graph's counts as one JSON object: atoms and edges per op, atoms per operation.")
@click.option('--out', type=click.Path(dir_okay=False), default=None,
              help="Where to draw it: .dot (always), .svg or .png (with Graphviz's dot installed).")
def graph(checkpoint_path, text, position, level, as_json, out):
    """Build the Val graph of a text's loss, run backward, and draw it.

    Every atom (--level atoms) of the primordial model's loss at one position is about
    4,000 boxes: Graphviz takes some 20 s to lay them out. A PNG is scaled down to at most
    9,600 pixels a side; SVG keeps every detail.

    \b
    Examples:
      microgpt graph --text emma --out graph.svg
      microgpt graph --text emma --position 0 --level atoms --out atoms.svg
      microgpt graph --text emma --json
    """
    from ..viz.graph import build_graph, dot_program, render, summary, to_dot
    if out is None and not as_json:
        raise MicrogptError("say where the graph goes: --out FILE (.dot, .svg, .png), or --json for its counts")
    check_outputs([Output('--out', out, 'graph file')], [('--checkpoint', checkpoint_path)])
    suffix = Path(out).suffix.lower() if out is not None else None
    if out is not None and suffix not in GRAPH_SUFFIXES:
        raise MicrogptError(f"graph file {out} needs a suffix of {', '.join(GRAPH_SUFFIXES)}")
    rendered = suffix in ('.svg', '.png')  # laid out by Graphviz; .dot and .gv are its input text
    if rendered:
        dot_program(f"writing {out}")
    checkpoint = load_checkpoint(checkpoint_path)
    tokens = text_tokens(checkpoint, text)
    last = len(tokens) - 2  # text_tokens held the text to the model's block_size
    if position is not None and not 0 <= position <= last:
        raise MicrogptError(f"--position {position} is beyond {text!r}: its positions are 0 to {last} "
                            f"(position p predicts the token after p; {last} predicts the end)")
    drawn = build_graph(checkpoint, tokens, text, position)
    shown = console()
    if out is not None:
        dot_text = to_dot(drawn, level)
        atomic_write_bytes(out, render(dot_text, suffix[1:]) if rendered else dot_text.encode())
        shown.info(f"graph of {len(drawn.nodes):,} atoms drawn at level {level} to {out}")
    if as_json:
        shown.out(json_text(summary(drawn)))


@click.command()
@checkpoint_option
@text_option()
@picture_option
def attention(checkpoint_path, text, out):
    """Draw the attention weights of every layer and head on a text, as a grid of heatmaps.

    \b
    Example:
      microgpt attention --text emma --out att.png
    """
    from ..viz.figures import attention_figure
    config = save_picture(checkpoint_path, out, attention_figure, text).config
    console().info(f"attention of {config.n_layer} layer(s) x {config.n_head} head(s) on {text!r} drawn to {out}")


@click.command()
@checkpoint_option
@picture_option
def embeddings(checkpoint_path, out):
    """Draw the token embeddings (wte) in 2-D by PCA, one point per character, and the
    cosine similarity of the position embeddings (wpe).

    \b
    Example:
      microgpt embeddings --out emb.png
    """
    from ..viz.figures import embeddings_figure
    config = save_picture(checkpoint_path, out, embeddings_figure).config
    console().info(f"embeddings of {config.vocab_size} tokens and {config.block_size} positions drawn to {out}")


def save_picture(checkpoint_path, out, figure, *args):
    """figure(checkpoint, *args) drawn to out (refused before any work without matplotlib); the checkpoint."""
    from ..plots import check_plot_path, save_figure
    check_outputs([Output('--out', out, 'picture')], [('--checkpoint', checkpoint_path)])
    check_plot_path(out)
    checkpoint = load_checkpoint(checkpoint_path)
    save_figure(figure(checkpoint, *args), out)
    return checkpoint


@click.command()
@checkpoint_option
@text_option(required=False, help_text="The name whose attention and graph the page shows "
                                       "(default: the first sample that fits the model's context).")
@click.option('--samples', 'num_samples', type=click.IntRange(min=0), default=DEFAULT_NUM_SAMPLES,
              show_default=True, help="Samples shown, each marked new or in the training data.")
@click.option('--seed', type=int, default=DEFAULT_SEED, show_default=True, help="Seed of the samples.")
@click.option('--temperature', type=POSITIVE, default=DEFAULT_TEMPERATURE, show_default=True,
              help="Sampling temperature (> 0).")
@click.option('--data', type=click.Path(), default=None,
              help="The training data the samples are judged new against. Default: the file the "
                   "checkpoint was trained on, else as for `train`.")
@click.option('--out', type=click.Path(dir_okay=False), required=True, help="The page (.html).")
def report(checkpoint_path, text, num_samples, seed, temperature, data, out):
    """Write one self-contained HTML page about a checkpoint: its loss curve, samples and
    their novelty, a place to play (type a prefix: the next character's probabilities, names
    at a temperature, every head's attention, computed in the page), the attention and
    embeddings pictures (with matplotlib), the ops-level graph (with Graphviz), and its
    settings and provenance. It opens offline: everything is inside it.

    \b
    Example:
      microgpt report --text emma --out report.html
    """
    from ..plots import PLOT_INSTALL, has_matplotlib
    from ..viz.graph import GRAPHVIZ_INSTALL, dot_program
    from ..viz.report import build_report
    check_outputs([Output('--out', out, 'report')], [('--checkpoint', checkpoint_path), ('--data', data)])
    if Path(out).suffix.lower() not in REPORT_SUFFIXES:
        raise MicrogptError(f"report {out} needs a suffix of {', '.join(REPORT_SUFFIXES)}")
    checkpoint = load_checkpoint(checkpoint_path)
    if checkpoint.text_mode:
        raise MicrogptError(f"report shows a names model (samples, their novelty, a name's attention); checkpoint "
                            f"{checkpoint_path} was trained on text (train --text): continue a text with "
                            f"`microgpt sample --prompt`, score one with `microgpt eval`")
    shown, with_matplotlib = console(), has_matplotlib()
    page = build_report(checkpoint, checkpoint_path, text, data, num_samples, seed, temperature, echo=shown.info,
                        has_matplotlib=with_matplotlib)
    atomic_write_bytes(out, page.encode('utf-8'))
    left_out = []  # what the page leaves out for want of a tool, and how to install it
    if not with_matplotlib:
        left_out.append(f"matplotlib (the attention and embeddings pictures: {PLOT_INSTALL})")
    if dot_program() is None:
        left_out.append(f"Graphviz (the computation graph: {GRAPHVIZ_INSTALL})")
    if left_out:
        shown.info(f"the report leaves out what needs {' and '.join(left_out)}")
    shown.info(f"report of {checkpoint_path} written to {out}")
