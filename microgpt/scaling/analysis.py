"""Scaling analysis of sweep results: per sweep, loss against steps or parameters, the
return of each increase (validation-loss drop per 1,000 extra steps or parameters), and
a plot of loss against steps / parameters on a log axis (matplotlib, the `plot` extra)."""
from dataclasses import dataclass
from pathlib import Path

from ..errors import MicrogptError
from ..trials.runner import TRAIN_LOSS_WINDOW
from ..console import format_duration
from .sweep import X_FIELD, read_rows, run_key, sweep_key

X_UNITS = {'steps': 'steps', 'params': 'params'}


@dataclass
class Sweep:
    """The runs of one sweep (same kind and shared settings), ordered along its x axis."""
    rows: list

    @property
    def kind(self):
        return self.rows[0]['sweep']

    @property
    def x_field(self):
        return X_FIELD[self.kind]

    @property
    def xs(self):
        return [row[self.x_field] for row in self.rows]

    def title(self):
        first = self.rows[0]
        if self.kind == 'steps':
            subject = (f"{first['size']} model (n_embd {first['n_embd']}, n_head {first['n_head']}, "
                       f"n_layer {first['n_layer']}; {first['params']:,} params)")
        else:
            subject = f"{first['steps']:,} steps each"
        seconds = sum(row['seconds'] for row in self.rows)
        return (f"{self.kind} sweep: {subject}, seed {first['seed']}, lr {first['lr']}, "
                f"{first['engine']} engine; {len(self.rows)} runs, "
                f"{format_duration(seconds)} of training summed over runs")

    def label(self):
        first = self.rows[0]
        subject = first['size'] if self.kind == 'steps' else f"{first['steps']:,} steps"
        return f"{subject}, seed {first['seed']}"


def group_sweeps(rows, warn=None):
    """Rows -> sweeps, in order of first appearance. A run found more than once (the same
    settings and data in several files) counts once: its newest row, said on warn."""
    newest, order = {}, []
    for row in rows:
        key = run_key(row)
        if key not in newest:
            order.append(key)
            newest[key] = row
        elif row.get('finished_at', '') >= newest[key].get('finished_at', ''):
            if warn:
                warn(f"{row['sweep']} sweep, {row['size']}, {row['steps']:,} steps: found more than once; "
                     f"using the newest ({row.get('_file')}, finished {row.get('finished_at')})")
            newest[key] = row
    groups = {}
    for key in order:
        row = newest[key]
        groups.setdefault(sweep_key(row), []).append(row)
    return [Sweep(sorted(group, key=lambda row: row[X_FIELD[row['sweep']]])) for group in groups.values()]


def load_sweeps(paths, warn):
    """The sweeps in results files; files made from different data are refused."""
    rows, data_of = [], {}
    for path in paths:
        for row in read_rows(path, warn):
            rows.append(dict(row, _file=str(path)))
            data_of.setdefault(row['data_sha256'], str(path))
    if not rows:
        raise MicrogptError("no finished runs in " + ', '.join(str(p) for p in paths))
    if len(data_of) > 1:
        files = '; '.join(f"{path} (data SHA-256 {sha[:12]}...)" for sha, path in data_of.items())
        raise MicrogptError(f"these results were made from different data and cannot be compared: {files}")
    return group_sweeps(rows, warn)


def returns(sweep):
    """Validation-loss drop per 1,000 extra steps (or params) from the previous run; None first."""
    drops = [None]
    for prev, row in zip(sweep.rows, sweep.rows[1:]):
        extra = row[sweep.x_field] - prev[sweep.x_field]
        drops.append((prev['val_loss'] - row['val_loss']) / extra * 1000 if extra else None)
    return drops


def verdict(sweep):
    """One line on where extra steps (or parameters) stop paying."""
    unit = X_UNITS[sweep.kind]
    if len(sweep.rows) < 2:
        return "one run only: no returns to compare"
    vals = [row['val_loss'] for row in sweep.rows]
    best = min(range(len(vals)), key=vals.__getitem__)
    if best < len(vals) - 1:
        return (f"lowest validation loss {vals[best]:.4f} at {sweep.xs[best]:,} {unit}; beyond it extra "
                f"{unit} do not pay (at {sweep.xs[-1]:,}: {vals[-1]:.4f})")
    drops = returns(sweep)
    first, last = drops[1], drops[-1]
    share = f", {last / first:.0%} of the first" if first and first > 0 else ""
    return (f"validation loss still falls at {sweep.xs[-1]:,} {unit}: {last:.4f} per 1,000 extra "
            f"{unit} there (first increase: {first:.4f}{share})")


def table_rows(sweep):
    unit = X_UNITS[sweep.kind]
    size_columns = ['size', 'n_embd', 'n_head', 'n_layer'] if sweep.kind == 'params' else []
    header = size_columns + ['steps', 'params', 'time', 'train loss', 'val loss',
                             f'val drop per 1k {unit}']
    body = []
    for row, drop in zip(sweep.rows, returns(sweep)):
        body.append([str(row[f]) for f in size_columns] + [
            f"{row['steps']:,}", f"{row['params']:,}", format_duration(row['seconds']),
            f"{row['train_loss']:.4f}", f"{row['val_loss']:.4f}",
            '-' if drop is None else f"{drop:.4f}"])
    return header, body


def format_table(header, body, markdown=False):
    if markdown:
        lines = [header, ['---:'] * len(header)] + body
        return '\n'.join('| ' + ' | '.join(cells) + ' |' for cells in lines)
    widths = [max(len(cells[i]) for cells in [header] + body) for i in range(len(header))]
    return '\n'.join('  '.join(cell.rjust(w) for cell, w in zip(cells, widths)).rstrip()
                     for cells in [header] + body)


def report(sweeps, markdown=False):
    """Per sweep: its title, the table of loss and returns, and the verdict line."""
    parts = []
    for sweep in sweeps:
        header, body = table_rows(sweep)
        title = f"**{sweep.title()}**" if markdown else sweep.title()
        parts.append(f"{title}\n\n{format_table(header, body, markdown)}\n\n{verdict(sweep)}")
    return '\n\n'.join(parts)


# --- the plot -------------------------------------------------------------------------------------

SWEEP_AXIS_LABELS = {'steps': 'training steps', 'params': 'parameters'}


def plot_sweeps(sweeps, out_path):
    """Validation (solid) and training (dashed) loss against steps / params, log x axis,
    one panel per kind of sweep; written atomically in the format of out_path's suffix."""
    from ..plots import figure_class, save_figure
    Figure = figure_class()
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    kinds = [kind for kind in X_FIELD if any(s.kind == kind for s in sweeps)]
    fig = Figure(figsize=(6 * len(kinds), 4.5), layout='constrained')
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds):
        for i, sweep in enumerate(s for s in sweeps if s.kind == kind):
            color = f"C{i}"
            ax.plot(sweep.xs, [r['val_loss'] for r in sweep.rows], 'o-', color=color,
                    label=f"validation ({sweep.label()})")
            ax.plot(sweep.xs, [r['train_loss'] for r in sweep.rows], 's--', color=color, alpha=0.6,
                    label=f"training, mean of last {TRAIN_LOSS_WINDOW} steps")
            if kind == 'params':
                for x, row in zip(sweep.xs, sweep.rows):
                    ax.annotate(row['size'], (x, row['val_loss']), textcoords='offset points',
                                xytext=(4, 6), fontsize=8)
        ax.set_xscale('log')
        ax.margins(x=0.08)  # room for the size labels at the ends
        # Plain numbers at 1, 2 and 5 times each power of ten, instead of 2x10^3 style labels.
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.set_xlabel(SWEEP_AXIS_LABELS[kind])
        ax.set_ylabel('loss (nats per token)')
        ax.set_title(f"loss against {SWEEP_AXIS_LABELS[kind]}")
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, out_path)


# --- evolve logs ---------------------------------------------------------------------------------

def is_evolve_log(path):
    """Whether a file is an evolve log (its first line is the run record) rather than sweep results."""
    import json
    try:
        with open(path, encoding='utf-8') as f:
            first = json.loads(f.readline() or 'null')
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(first, dict) and first.get('kind') == 'run' and 'fitness' in first


def evolution_report(path, log, markdown=False):
    """Per generation: best (its mean and spread), mean and worst fitness, failures and
    distinct architectures; the baselines and finalists, each as mean ± spread; the winner's
    ancestry."""
    from ..evolve.lineage import ancestry_lines
    run = log.run
    header = ['generation', 'best', 'best spread', 'mean', 'worst', 'failed', 'distinct architectures']
    body = [[str(g['generation'])] + [_number(g.get(k)) for k in ('best', 'best_spread', 'mean', 'worst')]
            + [str(g['failed']), str(g['diversity'])] for g in log.generations]
    budget = f", {run['budget']:.3g} FLOPs each" if run.get('budget') else ''
    title = (f"evolution ({path}): {run['fitness']} fitness, {run['population']} organisms x {run['generations']} "
             f"generations, {run.get('space', 'seed')} space{budget}, seed {run['seed']}")
    parts = [f"**{title}**" if markdown else title, format_table(header, body, markdown)]
    stands = [(b['origin'], b) for b in log.baselines]
    stands += [(f"finalist {f['generation']}.{f['index']}", f) for f in (log.confirmation or {}).get('organisms', [])]
    if stands:
        rows = [[name, _number(s['score']), _number(s.get('spread')), str(len(s.get('scores', [])))]
                for name, s in stands]
        parts.append(format_table(['scored on several seeds', 'mean', 'spread', 'scorings'], rows, markdown))
    lines = ancestry_lines(log)
    parts.append("the winner's ancestry (generation.index, birth, mean score):\n" + '\n'.join(
        ('    ' if markdown else '  ') + line for line in lines))
    return '\n\n'.join(parts)


def _number(value):
    return '-' if value is None else f"{value:.4f}"


def analyze_job(console, files, plot_path=None, markdown=False):
    """`microgpt analyze`: tables (and a plot) of sweep results files and evolve logs."""
    from ..plots import check_plot_path, plot_evolution
    if plot_path:
        check_plot_path(plot_path)  # without matplotlib, say so before any work
    for path in files:
        if not Path(path).is_file():
            raise MicrogptError(f"results file not found: {path}")
    logs = [path for path in files if is_evolve_log(path)]
    results = [path for path in files if path not in logs]
    if plot_path and logs and (results or len(logs) > 1):
        raise MicrogptError("--plot draws one evolve log, or sweep results files: give one kind")
    parts, found = [], None
    if results:
        found = load_sweeps(results, warn=console.info)
        parts.append(report(found, markdown=markdown))
    from ..evolve.lineage import load_evolve_log
    evolutions = [(path, load_evolve_log(path)) for path in logs]
    parts += [evolution_report(path, log, markdown) for path, log in evolutions]
    console.out('\n\n'.join(parts))
    if plot_path:
        if evolutions:
            _, log = evolutions[0]
            plot_evolution(log, plot_path)
        else:
            plot_sweeps(found, plot_path)
        console.info(f"plot saved to {plot_path}")
