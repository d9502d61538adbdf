"""Plots (matplotlib, the optional `plot` extra, imported only when a plot is drawn, through its
Figure class: no pyplot, so no GUI backend), written atomically in the format of the file's suffix."""
import io
from pathlib import Path

from .errors import MicrogptError
from .files.fileio import atomic_write_bytes

# not 'microgpt[plot]': PyPI's project of that name is someone else's
PLOT_INSTALL = "pip install matplotlib (from a clone of microgpt: pip install -e '.[plot]')"
PLOT_FORMATS = ('png', 'svg', 'pdf')
MOVING_AVERAGE = 50  # steps in the training-loss curve's moving average


def figure_class():
    """matplotlib's Figure, or one line on how to install it."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise MicrogptError(f"plotting needs matplotlib: {PLOT_INSTALL}") from None
    return Figure


def has_matplotlib():
    try:
        return bool(figure_class())
    except MicrogptError:
        return False


def check_plot_path(path):
    """Before any work: the file's suffix names a format and matplotlib is there."""
    fmt = Path(path).suffix.lstrip('.').lower()
    if fmt not in PLOT_FORMATS:
        raise MicrogptError(f"plot file {path} needs a suffix of {', '.join('.' + f for f in PLOT_FORMATS)}")
    figure_class()
    return fmt


def figure_bytes(fig, fmt):
    buffer = io.BytesIO()
    fig.savefig(buffer, format=fmt, dpi=120)
    return buffer.getvalue()


def save_figure(fig, out_path):
    atomic_write_bytes(out_path, figure_bytes(fig, check_plot_path(out_path)))


def moving_average(values, window=MOVING_AVERAGE):
    """Mean of each value and the window - 1 before it (fewer at the start)."""
    out, total = [], 0.0
    for i, value in enumerate(values):
        total += value
        if i >= window:
            total -= values[i - window]
        out.append(total / min(i + 1, window))
    return out


def training_loss_figure(losses, title, curve=None):
    """Loss per step (faint) and its moving average; with a curve (one {'step', 'train_loss',
    'val_loss'} per evaluation), the held-out loss and the train loss between evaluations."""
    fig = figure_class()(figsize=(7, 4.5), layout='constrained')
    ax = fig.subplots()
    steps = range(1, len(losses) + 1)
    ax.plot(steps, losses, color='C0', alpha=0.3, linewidth=0.8, label='loss per step')
    ax.plot(steps, moving_average(losses), color='C0', linewidth=2,
            label=f'moving average ({MOVING_AVERAGE} steps)')
    if curve:
        at = [point['step'] for point in curve]
        ax.plot(at, [point['train_loss'] for point in curve], 's--', color='C2', markersize=4,
                label='train loss, mean since the last evaluation')
        ax.plot(at, [point['val_loss'] for point in curve], 'o-', color='C3', linewidth=2, markersize=4,
                label='held-out loss')
        best = min(curve, key=lambda point: point['val_loss'])
        ax.annotate(f"best {best['val_loss']:.4f}", (best['step'], best['val_loss']),
                    textcoords='offset points', xytext=(0, -14), ha='center', color='C3')
    ax.set(xlabel='step', ylabel='loss (nats per token)', title=title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    return fig


def plot_training_loss(losses, out_path, title, curve=None):
    save_figure(training_loss_figure(losses, title, curve), out_path)


# how each kind of scoring is marked in the evolution plot
BIRTH_MARKERS = {'random': ('o', 'random (generation 1)'), 'immigrant': ('^', 'immigrant'),
                 'child': ('.', 'child'), 'elite': ('*', 'elite, scored again'),
                 'confirmation': ('D', 'finalist, scored again')}


def plot_evolution(log, out_path):
    """Every scoring of an evolve log (as evolve.lineage reads it) at its generation, marked by how
    the organism was born; the best, mean, worst and baselines; below, the distinct architectures."""
    fig = figure_class()(figsize=(8, 6.5), layout='constrained')
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    generations, own = log.generations, 'val_loss' if log.fitness == 'loss' else 'score'
    xs = [g['generation'] for g in generations]
    for origin, (marker, label) in BIRTH_MARKERS.items():
        points = [(r.get('scored_in', r['generation']), r['components'].get(own)) for r in log.organisms
                  if r['origin'] == origin and r.get('error') is None and r['components'].get(own) is not None]
        if points:
            top.scatter(*zip(*points), marker=marker, s=30, alpha=0.7, label=label, zorder=3)
    for key, style in (('best', 'o-'), ('mean', 's--'), ('worst', '^:')):
        points = [(x, g[key]) for x, g in zip(xs, generations) if g.get(key) is not None]
        top.plot([p[0] for p in points], [p[1] for p in points], style, color='black' if key == 'best' else 'grey',
                 alpha=1 if key == 'best' else 0.5, label=f"{key} (mean of its scorings)" if key == 'best' else key)
    for i, baseline in enumerate(log.baselines):
        if baseline.get('score') is not None:
            top.axhline(baseline['score'], color=f"C{i + 5}", linestyle='-.', linewidth=1,
                        label=f"{baseline['origin']} (mean of {len(baseline['scores'])} seeds)")
    from matplotlib.ticker import MaxNLocator
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    budget = log.run.get('budget')
    top.set(ylabel='validation loss' if log.fitness == 'loss' else 'aesthetic score',
            title=f"evolution ({log.fitness} fitness" + (f", {budget:.3g} FLOPs per organism)" if budget else ')'))
    top.grid(True, alpha=0.3)
    top.legend(fontsize=8)
    bottom.bar(xs, [g['diversity'] for g in generations], color='C2')
    bottom.set(xlabel='generation (the last + 1: finalists scored again)', ylabel='distinct architectures')
    bottom.grid(True, axis='y', alpha=0.3)
    save_figure(fig, out_path)
