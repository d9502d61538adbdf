"""One self-contained HTML page about a checkpoint: what it is, its loss curve and samples, a place to
play, its pictures, its Val graph, settings and provenance. Everything is inline, so it opens offline;
without matplotlib or Graphviz it holds what it can draw."""
import base64
import html
import json
import math
import random
import re
from importlib.resources import files
from pathlib import Path

from . import text_tokens
from ..data import load_dataset
from ..errors import MicrogptError
from ..gpt.engines.numpy_engine import NumpyEngine
from ..gpt.model import init_state_dict
from ..gpt.sampling import DEFAULT_NUM_SAMPLES, DEFAULT_TEMPERATURE, generate, novelty_documents
from ..plots import PLOT_INSTALL, figure_bytes, moving_average
from ..predictions import END
from ..training.run import DEFAULT_SEED
from .figures import attention_figure, embeddings_figure
from .graph import GRAPHVIZ_INSTALL, build_graph, dot_program, render, summary, to_dot

# Where a checkpoint's training record may keep curves of losses measured while it trained
# (held-out ones above all), read in any of these shapes: rows [{'step': n, name: loss, ...}],
# columns {'step': [...], name: [...]}, pairs [[step, loss], ...], or {name: one of those}.
CURVE_KEYS = ('curve', 'curves', 'eval', 'eval_curve')
BASELINE_COLOUR = '#777777'
LOSS_COLOURS = ('#d95f02', '#1b9e77', '#7570b3', '#e7298a')  # recorded curves, in turn
# The playground embeds every weight (about 20 bytes each as JSON); past this many (about 4 MB)
# the page leaves it out rather than be slow to open.
PLAYGROUND_PARAM_LIMIT = 200_000


def package_text(name):
    """The text of a file shipped beside this module: report.css, playground.js."""
    return files(__package__).joinpath(name).read_text(encoding='utf-8')


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


def loss_figure(checkpoint, baselines=None):
    """The training loss per step and its moving average, any recorded curves over it and the
    baselines (report_baselines) as dotted levels."""
    from ..plots import training_loss_figure
    fig = training_loss_figure(checkpoint.losses, title=f"loss ({len(checkpoint.losses)} training steps)")
    ax = fig.axes[0]
    for k, (name, points) in enumerate(recorded_curves(checkpoint).items()):
        ax.plot([p[0] for p in points], [p[1] for p in points], 'o-', color=f'C{k + 1}', markersize=3,
                label=name.replace('_', ' '))
    for name, value in baseline_levels(baselines):
        ax.axhline(value, color=BASELINE_COLOUR, linestyle=':', linewidth=1)
        ax.annotate(f'{name} {value:.4f}', (1, value), xycoords=('axes fraction', 'data'), xytext=(-4, 2),
                    textcoords='offset points', ha='right', fontsize=8, color=BASELINE_COLOUR)
    ax.legend()
    return fig


def baseline_levels(baselines):
    """[(name, loss)] of the baselines drawn over the loss curve (none without them)."""
    return [] if baselines is None else [(name, getattr(baselines[0], name))
                                         for name in ('uniform', 'unigram', 'bigram')]


def loss_svg(checkpoint, baselines=None):
    """The curves of loss_figure as inline SVG drawn by hand, where matplotlib is not installed."""
    losses, width, height = checkpoint.losses, 760, 260
    lines = [('loss per step', '#9fb8da', list(enumerate(losses, 1))),
             ('moving average', '#1f4e99', list(enumerate(moving_average(losses), 1)))]
    lines += [(name.replace('_', ' '), LOSS_COLOURS[k % len(LOSS_COLOURS)], points)
              for k, (name, points) in enumerate(recorded_curves(checkpoint).items())]
    lines = [(name, colour, [p for p in points if math.isfinite(p[1])]) for name, colour, points in lines]
    levels = baseline_levels(baselines)
    values = [y for _, _, points in lines for _, y in points] + [value for _, value in levels]
    low, high = min(values), max(values)
    high = high if high > low else low + 1.0
    last_step = max(x for _, _, points in lines for x, _ in points)
    left, right, top, bottom = 48, 12, 12, 30

    def xy(step, loss):
        return (left + (width - left - right) * (step - 1) / max(last_step - 1, 1),
                top + (height - top - bottom) * (high - loss) / (high - low))
    parts = [f'<svg class="loss" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="training loss per step">',
             f'<rect x="{left}" y="{top}" width="{width - left - right}" height="{height - top - bottom}" '
             f'fill="none" stroke="#ccc"/>']
    for value in (low, (low + high) / 2, high):
        parts.append(f'<text x="{left - 4}" y="{xy(1, value)[1] + 4:.1f}" text-anchor="end">{value:.2f}</text>')
    parts.append(f'<text x="{left}" y="{height - 10}">step 1</text>'
                 f'<text x="{width - right}" y="{height - 10}" text-anchor="end">step {last_step:,}</text>')
    for name, value in levels:
        y = xy(1, value)[1]
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{BASELINE_COLOUR}" '
                     f'stroke-dasharray="2,3"/><text x="{left + 4}" y="{y - 3:.1f}" style="fill: {BASELINE_COLOUR}">'
                     f'{name} {value:.4f}</text>')
    for k, (name, colour, points) in enumerate(lines):
        path = ' '.join(f'{x:.1f},{y:.1f}' for x, y in (xy(*p) for p in points))
        parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{path}"/>'
                     f'<text x="{width - right - 6}" y="{top + 16 + 14 * k}" text-anchor="end" '
                     f'style="fill: {colour}">{html.escape(name)}</text>')
    return ''.join(parts) + '</svg>'


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


def table(rows):
    """A table of (name, value) rows: the name as its row's header."""
    return '<table>' + ''.join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(_text(v))}</td></tr>"
                               for k, v in rows) + '</table>'


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


def report_baselines(checkpoint, dataset):
    """(Baselines, which documents scored them, how many, how many counted them) that the loss is read
    against: scored on the documents held out, else trained on; None when those are not at hand."""
    from ..training.baselines import baseline_losses, checkpoint_documents
    split = checkpoint_documents(checkpoint, dataset)
    if split is None:
        return None
    trained_on, held_out = split
    scored = held_out or trained_on
    baselines = baseline_losses(checkpoint.tokenizer, trained_on, scored, checkpoint.config.block_size)
    return baselines, 'held-out' if held_out else 'training', len(scored), len(trained_on)


def baselines_paragraph(baselines):
    """What the loss is read against, in words, below the curve."""
    if baselines is None:
        return ('<p class="note">The baselines (guessing uniformly, by letter frequency, by the previous letter) '
                'are counted on the documents this model trained on, and its data file is not at hand.</p>')
    losses, scored, scored_count, trained_count = baselines
    return (f"<p class=\"baselines\">What the loss is read against, on the {scored_count:,} {scored} documents "
            f"(counted on the {trained_count:,} it trained on, add-one smoothed): guessing every token "
            f"equally likely scores <b>uniform {losses.uniform:.4f}</b> (ln {round(math.exp(losses.uniform))}), "
            f"guessing by how often each token comes <b>unigram {losses.unigram:.4f}</b>, and by the token before "
            f"it (makemore's first model, a table of counts) <b>bigram {losses.bigram:.4f}</b>. A loss below the "
            f"bigram's is what attention over the whole context adds to counting pairs.</p>")


def graph_section(checkpoint, tokens, text):
    """The ops-level graph of the text's loss: inline SVG when Graphviz is installed; its counts."""
    graph = build_graph(checkpoint, tokens, text)
    counts = summary(graph)
    ops = ', '.join(f"{entry['nodes']:,} {op}" for op, entry in counts['ops'].items())
    intro = (f"<p>The Val graph of the mean loss of <code>{html.escape(text)}</code> "
             f"({graph.value:.4f}): {counts['atoms']:,} atoms ({ops}) joined by {counts['edges']:,} edges, "
             f"one box per named operation with its atom count; arrows count the atom edges between "
             f"them. <code>microgpt graph --level atoms</code> draws every atom.</p>")
    if dot_program() is None:
        return intro + (f'<p class="note">Graphviz is not installed, so the graph is not drawn here: '
                        f'{html.escape(GRAPHVIZ_INSTALL)}.</p>')
    try:
        svg = render(to_dot(graph, 'ops'), 'svg')
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


def train_stream(checkpoint, dataset, seed):
    """random.Random(seed) where `train --seed seed` left it to sample (after its shuffle and init), so the
    report draws the names train printed; None when the data is not the file the model trained on."""
    if dataset.sha256 != checkpoint.training.get('data_sha256'):
        return None
    train_docs, _ = novelty_documents(checkpoint, dataset)
    rng = random.Random(seed)
    rng.shuffle(list(train_docs))  # its draws depend on the length alone
    init_state_dict(checkpoint.config, rng)
    return rng


def samples_note(checkpoint, seed, temperature, same_stream):
    """Whether the samples are those `train` printed, and why not when they are not."""
    t = checkpoint.training
    trained_seed, trained_temperature = t.get('seed'), t.get('temperature', DEFAULT_TEMPERATURE)
    if not same_stream:
        return ("These are drawn from a fresh random stream of the seed, not the one train sampled from "
                "(its data file is not at hand), so they differ from the names train printed.")
    if seed == trained_seed and temperature == trained_temperature:
        return (f"The same names train printed after training (seed {seed}, temperature {temperature:g}): "
                f"the page draws them from the run's random stream where training left it.")
    return (f"train printed its names with seed {trained_seed} at temperature {trained_temperature:g}; "
            f"these use seed {seed} at temperature {temperature:g}, so they differ.")


def _intro(checkpoint, dataset):
    config, training, vocab = checkpoint.config, checkpoint.training, checkpoint.config.vocab_size
    first_loss = f"{checkpoint.losses[0]:.4f}" if checkpoint.losses else '?'
    if checkpoint.weights_only:  # an exported folder keeps no record of the training
        history = ("It is read from a folder that <code>microgpt export</code> wrote: its weights, without the "
                   "record of its training.")
    else:
        history = (f"It trained {training.get('steps_done', '?')} steps on "
                   f"{html.escape(Path(str(dataset.path)).name)}, from a loss of {first_loss} (guessing "
                   f"uniformly among {vocab} symbols would score ln {vocab} = {math.log(vocab):.4f}) to a "
                   f"final training loss of {_text(training.get('final_loss'))}.")
    return (f"<p>A GPT of {config.num_params():,} parameters ({config.n_layer} layer(s) of {config.n_head} "
            f"attention head(s), {config.n_embd} numbers per position, a context of {config.block_size} "
            f"positions) that reads a name one character at a time and predicts the next one: "
            f"{vocab - 1} characters and BOS, which starts a name and ends it. {history} Below: its loss "
            f"curve, names it makes, and a place to try it; its settings and provenance are folded away at "
            f"the end.</p>")


def _loss_section(checkpoint, dataset, has_matplotlib):
    parts = ['<h2>Loss</h2>']
    baselines = report_baselines(checkpoint, dataset)
    if checkpoint.losses:
        parts.append(png_tag(loss_figure(checkpoint, baselines), 'training loss per step') if has_matplotlib
                     else loss_svg(checkpoint, baselines=baselines))
    else:
        parts.append('<p class="note">This checkpoint records no training losses.</p>')
    parts.append(baselines_paragraph(baselines))
    if not recorded_curves(checkpoint):
        parts.append('<p class="note">No held-out loss is recorded in this checkpoint: only the training '
                     'loss per step is drawn.</p>')
    return parts


def _samples_section(checkpoint, samples, dataset, data_note, seed, temperature, same_stream):
    known = set(dataset.docs)
    new = sum(name not in known for name in samples)
    parts = [f'<h2>Samples</h2><p>{len(samples)} samples (seed {seed}, temperature {temperature}): '
             f'{new} new, {len(samples) - new} in the training data ({html.escape(str(dataset.path))}). '
             f'{html.escape(samples_note(checkpoint, seed, temperature, same_stream))}</p>']
    if data_note:
        parts.append(f'<p class="note">{html.escape(data_note)}</p>')
    parts.append('<ol class="samples">' + ''.join(
        f'<li><code>{html.escape(name)}</code> <span class="{"seen" if name in known else "new"}">'
        f'{"in training data" if name in known else "new"}</span></li>' for name in samples) + '</ol>')
    return parts


def playground_section(checkpoint, text, temperature):
    """The place to play, computed by playground.js from the weights the page embeds as JSON (as
    Python writes each float, so JavaScript parses the very same float64); past the limit, a note."""
    config = checkpoint.config
    if config.num_params() > PLAYGROUND_PARAM_LIMIT:
        return (f'<p class="note">This model has {config.num_params():,} parameters: the page would '
                f'embed every one of them (about 20 bytes each) to compute in the browser, so it '
                f'leaves the playground out past {PLAYGROUND_PARAM_LIMIT:,}. '
                f'The pictures below are drawn from it.</p>')
    model = json.dumps({
        'n_layer': config.n_layer, 'n_head': config.n_head, 'n_embd': config.n_embd,
        'block_size': config.block_size, 'chars': list(checkpoint.chars), 'end_key': END,
        'weights': {name: checkpoint.inference_state_dict[name] for name, _ in config.param_shapes()},
    }, separators=(',', ':')).replace('<', '\\u003c')  # inside <script>: no '</script>' can close it early
    prefix = html.escape(text or '', quote=True)
    return f"""
<div id="playground">
<p>Type the start of a name: the bars are the model's probabilities for the next character
(<code>{END}</code>: the name ends here), computed in this page from the checkpoint's own weights.</p>
<p><label for="prefix">prefix</label> <input id="prefix" type="text" value="{prefix}" autocomplete="off"
 spellcheck="false" maxlength="{config.block_size - 1}"> <span id="prefix-note" class="note"></span></p>
<div class="cols"><div><h3>Next character</h3><div id="bars"></div></div>
<div class="grow"><h3>Names it makes</h3>
<p><label for="temperature">temperature</label> <input id="temperature" type="range" min="0.1" max="2"
 step="0.05" value="{temperature:g}"> <output id="temperature-value">{temperature:g}</output>
 <button id="resample" type="button">sample again</button></p>
<p><label><input id="from-prefix" type="checkbox"> start each name with the prefix</label></p>
<p class="note">Low temperatures pick the likeliest characters; high ones take chances.</p><ol id="playground-samples" class="samples"></ol></div></div>
<h3>Attention on the prefix</h3>
<p>One heatmap per layer and head: row t is position t reading, the columns the positions it
reads (BOS first, none later than t); each row sums to 1. Hover a cell for its weight.</p>
<div id="heatmaps" class="cols"></div>
</div>
<script type="application/json" id="microgpt-model">{model}</script>
<script>
{package_text("playground.js")}</script>
"""


def _pictures_section(checkpoint, text, has_matplotlib):
    if not has_matplotlib:
        return [f'<h2>Attention and embeddings</h2><p class="note">matplotlib is not installed, so '
                f'these pictures are not drawn here: {html.escape(PLOT_INSTALL)}.</p>']
    return [f'<h2>Attention on <code>{html.escape(text)}</code></h2>',
            '<p>Each row is a position reading, each column a position read (BOS first); '
            'a row sums to 1. One heatmap per layer and head.</p>',
            png_tag(attention_figure(checkpoint, text), f'attention on {text}'),
            '<h2>Embeddings</h2>',
            png_tag(embeddings_figure(checkpoint), 'token embeddings in 2-D and position similarity')]


def _settings_section(checkpoint):
    config = checkpoint.config
    return ['<details><summary>Model and training settings</summary><div class="cols">',
            table([(k, v) for k, v in config.to_dict().items()] + [('parameters', config.num_params())]),
            table([(k, v) for k, v in checkpoint.training.items() if k not in CURVE_KEYS]),
            '</div></details><details><summary>Provenance</summary>',
            table(list(checkpoint.provenance.items())) if checkpoint.provenance
            else '<p class="note">This checkpoint records no provenance.</p>',
            '</details>']


def build_report(checkpoint, checkpoint_path, text=None, data=None, num_samples=DEFAULT_NUM_SAMPLES,
                 seed=DEFAULT_SEED, temperature=DEFAULT_TEMPERATURE, echo=None, has_matplotlib=True):
    """The report's HTML text."""
    if text is not None:
        text_tokens(checkpoint, text)  # a bad --text is told before any work
    dataset, data_note = novelty_data(checkpoint, data, echo)
    engine = NumpyEngine(checkpoint.config, checkpoint.inference_state_dict)
    rng = train_stream(checkpoint, dataset, seed)
    samples = list(generate(engine, checkpoint.tokenizer, rng or random.Random(seed), num_samples,
                            temperature=temperature))
    text, tokens = pick_text(checkpoint, text, samples)
    title = f"microgpt report: {Path(checkpoint_path).name}"
    parts = [f'<h1>{html.escape(title)}</h1>', _intro(checkpoint, dataset),
             *_loss_section(checkpoint, dataset, has_matplotlib),
             *_samples_section(checkpoint, samples, dataset, data_note, seed, temperature, rng is not None),
             '<h2>Try it</h2>', playground_section(checkpoint, text, temperature),
             *_pictures_section(checkpoint, text, has_matplotlib),
             '<h2>The computation graph</h2>', graph_section(checkpoint, tokens, text),
             *_settings_section(checkpoint)]
    return ('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f'<link rel="icon" href="data:,"><title>{html.escape(title)}</title>'
            f'<style>\n{package_text("report.css")}</style></head>'
            '<body>\n' + '\n'.join(parts) + '\n</body></html>\n')
