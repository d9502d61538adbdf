"""One self-contained HTML page about a checkpoint: its config and provenance, its loss
curves, samples and whether they are new, the attention on one name, the embeddings and
the ops-level Val graph. Images are inline (data: URIs, and the graph as inline SVG), so
the page opens offline and names no other file or address.
"""
import base64
import html
import random
import re
from pathlib import Path

from ..checkpoint import load_checkpoint
from ..data import load_dataset
from ..engines.numpy_engine import NumpyEngine
from ..errors import MicrogptError
from ..fileio import atomic_write_bytes, check_output_path
from ..plots import figure_bytes, figure_class, training_loss_figure
from ..sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, generate
from ..training import DEFAULT_SEED
from . import dot
from .figures import attention_figure, embeddings_figure
from .graph import build_graph, summary, to_dot
from .text import text_tokens

REPORT_SUFFIXES = ('.html', '.htm')
# Where a checkpoint's training record may keep curves of losses measured while it trained
# (held-out ones above all), read in any of these shapes: rows [{'step': n, name: loss, ...}],
# columns {'step': [...], name: [...]}, pairs [[step, loss], ...], or {name: one of those}.
CURVE_KEYS = ('curve', 'curves', 'eval', 'eval_curve')

STYLE = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { border-bottom: 1px solid #ddd; padding-bottom: 0.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; } td, th { border: 1px solid #ddd; padding: 0.2em 0.6em;
       text-align: left; vertical-align: top; } th { background: #f4f4f4; }
code { background: #f4f4f4; padding: 0 0.2em; } img, svg { max-width: 100%; height: auto; }
.samples { columns: 4 12em; } .new { color: #11772d; } .seen { color: #888; }
.note { color: #666; font-style: italic; }
.cols { display: flex; flex-wrap: wrap; gap: 2em; align-items: flex-start; }
"""


def recorded_curves(checkpoint):
    """{series name: [(step, loss), ...]} of every curve the checkpoint's training record holds
    (none for a checkpoint that records only the loss per step)."""
    series = {}
    for key in CURVE_KEYS:
        _read_curve(checkpoint.training.get(key), '' if key == 'curve' else key, series)
    return series


def _read_curve(value, name, series):
    if isinstance(value, dict) and isinstance(value.get('step'), list):  # columns: make rows
        value = [dict(zip(value, row)) for row in zip(*value.values())]
    if isinstance(value, dict):
        for sub, curve in value.items():
            _read_curve(curve, f'{name} {sub}'.strip(), series)
    elif isinstance(value, list):
        for row in value:
            if isinstance(row, dict) and _is_number(row.get('step')):
                for sub, loss in row.items():
                    if sub != 'step' and _is_number(loss):
                        series.setdefault(f'{name} {sub}'.strip(), []).append((row['step'], loss))
            elif isinstance(row, (list, tuple)) and len(row) == 2 and all(map(_is_number, row)) and name:
                series.setdefault(name, []).append(tuple(row))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def loss_figure(checkpoint):
    """The training loss per step and its moving average, with any recorded curves over it."""
    fig = training_loss_figure(checkpoint.losses, title=f"loss ({len(checkpoint.losses)} training steps)")
    ax = fig.axes[0]
    for k, (name, points) in enumerate(recorded_curves(checkpoint).items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], 'o-', color=f'C{k + 1}', markersize=3,
                label=name.replace('_', ' '))
    ax.legend()
    return fig


def inline_svg(svg_bytes):
    """Graphviz's SVG as an element to put in HTML: no XML prolog, doctype or comments (the
    doctype names an address), no namespace declarations (HTML knows <svg> without them)."""
    text = svg_bytes.decode('utf-8')
    text = re.sub(r'<\?xml.*?\?>|<!DOCTYPE.*?>|<!--.*?-->', '', text, flags=re.S)
    text = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', '', text)
    return text.strip()


def png_tag(fig, alt):
    data = base64.b64encode(figure_bytes(fig, 'png')).decode('ascii')
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def table(rows, header=None):
    head = f"<tr>{''.join(f'<th>{html.escape(str(h))}</th>' for h in header)}</tr>" if header else ''
    body = ''.join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>" for k, v in rows)
    return f'<table>{head}{body}</table>'


def _text(value):
    if isinstance(value, dict):
        return '; '.join(f'{k} {_text(v)}' for k, v in value.items() if v is not None)
    if isinstance(value, float):
        return f'{value:.6g}'
    if isinstance(value, (list, tuple)):
        return ' '.join(map(str, value))
    return '—' if value is None else str(value)


def novelty_data(checkpoint, data, echo=None):
    """The documents to judge samples against, and a note when they are not the training data."""
    recorded = checkpoint.training.get('data_path')
    if data is None and recorded and Path(recorded).is_file():
        data = recorded
    dataset = load_dataset(data, echo=echo)
    expected = checkpoint.training.get('data_sha256')
    note = None
    if expected and dataset.sha256 != expected:
        note = (f"{dataset.path} is not the file this model was trained on (SHA-256 {dataset.sha256[:12]}..., "
                f"the checkpoint's {expected[:12]}...): 'new' means new to that file")
    return dataset, note


def graph_section(checkpoint, tokens, text):
    """The ops-level graph of the text's loss: inline SVG when Graphviz is installed; its counts."""
    graph = build_graph(checkpoint, tokens, text)
    counts = summary(graph)
    ops = ', '.join(f"{entry['nodes']:,} {op}" for op, entry in counts['ops'].items())
    intro = (f"<p>The Val graph of the mean loss of <code>{html.escape(text)}</code> "
             f"({graph.value:.4f}): {counts['atoms']:,} atoms ({ops}) joined by {counts['edges']:,} edges, "
             f"one box per named operation with its atom count; arrows count the atom edges between "
             f"them. <code>microgpt graph --level atoms</code> draws every atom.</p>")
    if dot.dot_program() is None:
        return intro + (f'<p class="note">Graphviz is not installed, so the graph is not drawn here: '
                        f'{html.escape(dot.GRAPHVIZ_INSTALL)}.</p>')
    try:
        svg = dot.render(to_dot(graph, 'ops'), 'svg')
    except MicrogptError as e:
        return intro + f'<p class="note">{html.escape(str(e))}</p>'
    return intro + inline_svg(svg)


def pick_text(checkpoint, text, samples):
    """The text given, checked; else the first sample that the model's context holds."""
    if text is not None:
        return text, text_tokens(checkpoint, text)
    for name in samples:
        try:
            return name, text_tokens(checkpoint, name)
        except MicrogptError:
            continue
    raise MicrogptError("no sample fits the model's context to show its attention: give --text NAME")


def build_report(checkpoint, checkpoint_path, text=None, data=None, num_samples=DEFAULT_NUM_SAMPLES,
                 seed=DEFAULT_SEED, temperature=DEFAULT_TEMPERATURE, echo=None):
    """The report's HTML text."""
    if text is not None:
        text_tokens(checkpoint, text)  # a bad --text is told before any work
    dataset, data_note = novelty_data(checkpoint, data, echo)
    engine = NumpyEngine(checkpoint.config, checkpoint.state_dict)
    rng = random.Random(seed)
    samples = list(generate(engine, checkpoint.tokenizer, rng, num_samples, temperature=temperature))
    text, tokens = pick_text(checkpoint, text, samples)
    config, training = checkpoint.config, checkpoint.training
    known = set(dataset.docs)
    new = sum(name not in known for name in samples)
    title = f"microgpt report: {Path(checkpoint_path).name}"
    parts = [f'<h1>{html.escape(title)}</h1>',
             f"<p>A GPT of {config.num_params():,} parameters trained {training.get('steps_done', '?')} "
             f"steps; final training loss {_text(training.get('final_loss'))}.</p>"]

    parts.append('<h2>Model and training</h2><div class="cols">')
    parts.append(table([(k, v) for k, v in config.to_dict().items()] + [('parameters', config.num_params())]))
    parts.append(table([(k, v) for k, v in training.items() if k not in CURVE_KEYS]))
    parts.append('</div><h2>Provenance</h2>')
    parts.append(table(list(checkpoint.provenance.items())) if checkpoint.provenance
                 else '<p class="note">This checkpoint records no provenance.</p>')

    parts.append('<h2>Loss</h2>')
    if checkpoint.losses:
        parts.append(png_tag(loss_figure(checkpoint), 'training loss per step'))
    else:
        parts.append('<p class="note">This checkpoint records no training losses.</p>')
    if not recorded_curves(checkpoint):
        parts.append('<p class="note">No held-out loss is recorded in this checkpoint: only the training '
                     'loss per step is drawn.</p>')

    parts.append(f'<h2>Samples</h2><p>{len(samples)} samples (seed {seed}, temperature {temperature}): '
                 f'{new} new, {len(samples) - new} in the training data ({html.escape(str(dataset.path))}).</p>')
    if data_note:
        parts.append(f'<p class="note">{html.escape(data_note)}</p>')
    parts.append('<ol class="samples">' + ''.join(
        f'<li><code>{html.escape(name)}</code> <span class="{"seen" if name in known else "new"}">'
        f'{"in training data" if name in known else "new"}</span></li>' for name in samples) + '</ol>')

    parts.append(f'<h2>Attention on <code>{html.escape(text)}</code></h2>')
    parts.append('<p>Each row is a position reading, each column a position read (BOS first); '
                 'a row sums to 1. One heatmap per layer and head.</p>')
    parts.append(png_tag(attention_figure(checkpoint, tokens), f'attention on {text}'))
    parts.append('<h2>Embeddings</h2>')
    parts.append(png_tag(embeddings_figure(checkpoint), 'token embeddings in 2-D and position similarity'))
    parts.append('<h2>The computation graph</h2>')
    parts.append(graph_section(checkpoint, tokens, text))
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title><style>{STYLE}</style></head>'
            '<body>\n' + '\n'.join(parts) + '\n</body></html>\n')


def write_report(checkpoint_path, out, text=None, data=None, num_samples=DEFAULT_NUM_SAMPLES,
                 seed=DEFAULT_SEED, temperature=DEFAULT_TEMPERATURE, echo=None):
    """The page, written to out. echo hears which data file the samples are judged against."""
    check_output_path(out, 'report')
    if Path(out).suffix.lower() not in REPORT_SUFFIXES:
        raise MicrogptError(f"report {out} needs a suffix of {', '.join(REPORT_SUFFIXES)}")
    figure_class()  # matplotlib draws the report's pictures
    checkpoint = load_checkpoint(checkpoint_path)
    page = build_report(checkpoint, checkpoint_path, text, data, num_samples, seed, temperature, echo=echo)
    atomic_write_bytes(out, page.encode('utf-8'))
