"""The tables and plot of sweep results: per sweep, loss against steps or parameters (mean over
its seeds), each change and its return, told apart from noise only beyond the tolerance (the
spread between seeds, or the typical one of runs that long)."""
import statistics
from dataclasses import dataclass

from ..errors import MicrogptError
from ..layout import format_duration, format_table
from ..trials.runner import TRAIN_LOSS_WINDOW
from .sweep import X_FIELD, half_range, read_rows, run_key, sweep_key

# The typical spread between seeds by run length (shortest, longest run in steps, spread): the median half-range
# of the final validation loss over seeds 42 to 45 (each its own held-out split) among the shipped steps and
# params sweeps' runs of those lengths (experiments/sweep-*); runs outside them have no measured spread.
TYPICAL_SEED_SPREAD = (
    (1_000, 1_000, 0.0111),
    (1_001, 21_000, 0.0062),
)
TYPICAL_SPREAD_SEEDS = 4


def typical_seed_spread(steps):
    """The typical half-range between seeds of runs `steps` long, or None where unmeasured."""
    return next((spread for shortest, longest, spread in TYPICAL_SEED_SPREAD if shortest <= steps <= longest), None)


@dataclass
class Sweep:
    """The runs of one sweep (same kind and shared settings, any seeds), along its x axis."""
    rows: list

    @property
    def kind(self):
        return self.rows[0]['sweep']

    @property
    def x_field(self):
        return X_FIELD[self.kind]

    @property
    def seeds(self):
        return sorted({row['seed'] for row in self.rows})

    @property
    def xs(self):
        return sorted({row[self.x_field] for row in self.rows})

    def at(self, x):
        return [row for row in self.rows if row[self.x_field] == x]

    def val_loss(self, x):
        """Mean validation loss over the seeds run at x."""
        return statistics.fmean(row['val_loss'] for row in self.at(x))

    def spread(self, x):
        """Half the range of the seeds' validation losses at x (None for one seed)."""
        rows = self.at(x)
        return half_range(rows) if len(rows) > 1 else None

    def seed_spread(self):
        """The largest half-range between seeds at any x, or None with one seed everywhere."""
        spreads = [s for s in map(self.spread, self.xs) if s is not None]
        return max(spreads) if spreads else None

    def title(self):
        first = self.rows[0]
        if self.kind == 'steps':
            subject = (f"{first['size']} model (n_embd {first['n_embd']}, n_head {first['n_head']}, "
                       f"n_layer {first['n_layer']}; {first['params']:,} params)")
        else:
            subject = f"{first['steps']:,} steps each"
        seeds = self.seeds
        seed_text = f"seed {seeds[0]}" if len(seeds) == 1 else f"seeds {', '.join(map(str, seeds))}"
        return (f"{self.kind} sweep: {subject}, {seed_text}, lr {first['lr']}, {first['engine']} engine; "
                f"{len(self.rows)} runs, {format_duration(sum(row['seconds'] for row in self.rows))} of training "
                f"summed over runs")

    def label(self):
        first = self.rows[0]
        subject = first['size'] if self.kind == 'steps' else f"{first['steps']:,} steps"
        seeds = self.seeds
        return f"{subject}, {'seed ' + str(seeds[0]) if len(seeds) == 1 else f'mean of {len(seeds)} seeds'}"


def group_sweeps(rows, warn=None):
    """Rows -> sweeps, in order of first appearance, the seeds of one sweep together; a run found
    more than once counts once: its newest row, said on warn."""
    newest = {}  # in order of first appearance
    for row in rows:
        key = run_key(row)
        if key not in newest:
            newest[key] = row
        elif row.get('finished_at', '') >= newest[key].get('finished_at', ''):
            if warn:
                warn(f"{row['sweep']} sweep, {row['size']}, {row['steps']:,} steps: found more than once; "
                     f"using the newest ({row.get('_file')}, finished {row.get('finished_at')})")
            newest[key] = row
    groups = {}
    for row in newest.values():
        seedless = tuple(item for item in sweep_key(row) if item[0] not in ('seed', 'split_seed'))
        groups.setdefault(seedless, []).append(row)
    return [Sweep(sorted(group, key=lambda row: (row[X_FIELD[row['sweep']]], row['seed'])))
            for group in groups.values()]


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


def tolerance_of(sweep, tolerance, steps):
    """(tolerance, its source) for runs of up to `steps` steps: the given one, else the larger of the seeds'
    spread (with one seed, the typical one) and the cross-machine drift; (None, why) when the spread is unknown."""
    from ..reproducibility import cross_machine_tolerance
    if tolerance is not None:
        return tolerance, "the given tolerance"
    spread = sweep.seed_spread()
    drift = cross_machine_tolerance(steps)
    parts = []
    if spread is not None:
        parts.append((spread, f"the {len(sweep.seeds)} seeds' spread"))
    else:
        typical = typical_seed_spread(steps)
        if typical is None:
            lengths = f"{TYPICAL_SEED_SPREAD[0][0]:,} to {TYPICAL_SEED_SPREAD[-1][1]:,}"
            return None, (f"one seed only, so the spread between seeds is unknown, and runs of "
                          f"{steps:,} steps are outside the lengths whose typical spread was measured ({lengths})")
        parts.append((typical, f"the typical spread of {TYPICAL_SPREAD_SEEDS} seeds at {steps:,} steps in the "
                               f"shipped sweeps, this sweep having one seed"))
    if drift is not None:
        parts.append((drift, f"the cross-machine drift at {steps:,} steps"))
    tol, source = max(parts)
    return tol, (source if len(parts) == 1 else f"{source}, the larger of it and {min(parts)[1]}")


def plus_minus(tolerance):
    """±0.0020, or ±2e-05 where four decimals would show 0."""
    return f"±{tolerance:.4f}" if tolerance >= 1e-4 else f"±{tolerance:.0e}"


def _steps_of(sweep, *xs):
    return max(row['steps'] for x in xs for row in sweep.at(x))


def changes(sweep):
    """Validation-loss change from the previous x (mean over seeds); None first."""
    losses = [sweep.val_loss(x) for x in sweep.xs]
    return [None] + [b - a for a, b in zip(losses, losses[1:])]


def returns(sweep):
    """The loss drop per 1,000 more steps or parameters from the previous x; None first."""
    xs = sweep.xs
    return [None] + [-change / ((b - a) / 1000) for change, a, b in zip(changes(sweep)[1:], xs, xs[1:])]


def verdict(sweep, tolerance=None):
    """One line on where extra steps (or parameters) stop paying, beyond the tolerance only."""
    unit = sweep.kind
    xs = sweep.xs
    if len(xs) < 2:
        return "one run only: no returns to compare"
    losses = [sweep.val_loss(x) for x in xs]
    best = min(range(len(xs)), key=losses.__getitem__)

    def tol(i, j):
        return tolerance_of(sweep, tolerance, _steps_of(sweep, xs[i], xs[j]))

    to_best = [tol(i, best) for i in range(len(xs))]  # each run's (tolerance, source) against the best
    if all(t is None for t, _ in to_best):
        return (f"validation loss {losses[0]:.4f} at {xs[0]:,} {unit}, {losses[-1]:.4f} at {xs[-1]:,}; "
                f"differences between runs are not interpreted ({to_best[0][1]}: run more seeds or "
                f"give --tolerance)")
    level = next(i for i, (t, _) in enumerate(to_best) if t is not None and losses[i] <= losses[best] + t)
    if level == len(xs) - 1:
        t, source = tol(len(xs) - 2, len(xs) - 1)
        return (f"validation loss still falls beyond the tolerance ({plus_minus(t)}, {source}) at the last run: "
                f"{losses[-2]:.4f} at {xs[-2]:,} {unit}, {losses[-1]:.4f} at {xs[-1]:,}")
    t, source = to_best[level]
    if level == best:
        text = f"lowest validation loss {losses[best]:.4f} at {xs[best]:,} {unit}"
    else:
        text = (f"validation loss comes within the tolerance of its lowest ({losses[best]:.4f} at "
                f"{xs[best]:,} {unit}) already at {xs[level]:,}")
    text += (f" (tolerance {plus_minus(t)}, {source}): more {unit} beyond {xs[level]:,} are not "
             f"shown to pay")
    worse = [i for i in range(best + 1, len(xs)) if to_best[i][0] is not None
             and losses[i] > losses[best] + to_best[i][0]]
    if worse:
        i = worse[-1]
        text += (f"; at {xs[i]:,} it is worse by {losses[i] - losses[best]:.4f}, beyond its tolerance "
                 f"({plus_minus(to_best[i][0])})")
    return text


def table_rows(sweep, tolerance=None):
    several = len(sweep.seeds) > 1
    size_columns = ['size', 'n_embd', 'n_head', 'n_layer'] if sweep.kind == 'params' else []
    header = size_columns + ['steps', 'params', 'time', 'train loss', 'val loss'] + (
        [f"± seeds ({'one split' if 'split_seed' in sweep.rows[0] else 'own splits'})"] if several else []) + [
        'change', f"ROI (drop per 1,000 {sweep.kind})", 'tolerance']
    body = []
    xs = sweep.xs
    for i, (x, change, roi) in enumerate(zip(xs, changes(sweep), returns(sweep))):
        rows = sweep.at(x)
        first = rows[0]
        tol = None if i == 0 else tolerance_of(sweep, tolerance, _steps_of(sweep, xs[i - 1], x))[0]
        change_text = roi_text = '-'
        if change is not None:  # (noise) within the tolerance, (spread unknown) without one
            mark = " (spread unknown)" if tol is None else " (noise)" if abs(change) <= tol else ''
            change_text, roi_text = f"{change:+.4f}{mark}", f"{roi:+.4f}{mark}"
        spread = sweep.spread(x)
        body.append([str(first[f]) for f in size_columns] + [
            f"{first['steps']:,}", f"{first['params']:,}",
            format_duration(statistics.fmean(r['seconds'] for r in rows)),
            f"{statistics.fmean(r['train_loss'] for r in rows):.4f}", f"{sweep.val_loss(x):.4f}"] + (
            ['-' if spread is None else f"{spread:.4f}"] if several else []) + [
            change_text, roi_text, '-' if tol is None else plus_minus(tol)])
    return header, body


def legend(sweep):
    """What the columns of a sweep's table mean: what its ± spans, what ROI divides by."""
    if len(sweep.seeds) > 1:
        split = ("all scored on one validation split" if 'split_seed' in sweep.rows[0] else
                 "each seed scored on the validation split it draws, so it spans the splits too")
        spread = f"±: half the range of the {len(sweep.seeds)} seeds' validation losses ({split})"
    else:
        spread = "one seed: the spread between seeds is unknown"
    return (f"{spread}; change: from the row above; ROI (return on investment): that change as a loss drop per "
            f"1,000 more {sweep.kind}; (noise): within the tolerance")


def report(sweeps, markdown=False, tolerance=None):
    """Per sweep: its title, the table of loss and changes, and the verdict line."""
    parts = []
    for sweep in sweeps:
        if sweep.kind == 'frontier':
            from .frontier import load_frontier
            parts.append(loss_table(load_frontier(sweep.rows, 'the results'), markdown))
            continue
        header, body = table_rows(sweep, tolerance)
        title = f"**{sweep.title()}**" if markdown else sweep.title()
        parts.append(f"{title}\n\n{format_table(header, body, markdown)}\n\n{legend(sweep)}\n\n"
                     f"{verdict(sweep, tolerance)}")
    return '\n\n'.join(parts)


def loss_table(frontier, markdown=False):
    """Validation loss by size (rows) and budget (columns): mean over seeds, ± half their range."""
    budgets = frontier.budgets
    seeds = max(len(p.rows) for p in frontier.points)
    header = ['size', 'params', 'lr'] + [f"{b:.3g} FLOPs" for b in budgets]
    body = []
    for n, size in frontier.sizes:
        cells = [size, f"{n:,}", f"{frontier.lr[size]:g}"]
        for budget in budgets:
            point = next((p for p in frontier.points if p.size == size and p.budget == budget), None)
            cells.append('-' if point is None else
                         f"{point.loss:.4f}" + (f" ± {point.spread:.4f}" if len(point.rows) > 1 else ''))
        body.append(cells)
    pairs = len(frontier.sizes) * len(budgets)
    run = '' if len(frontier.points) == pairs else f" ({len(frontier.points)} of the {pairs} pairs run)"
    if seeds < 2:
        spread = "one seed, so the spread between seeds is unknown"
    else:  # what a ± spans
        spread = (f"± half the range of seeds {', '.join(map(str, sorted({r['seed'] for r in frontier.rows})))} "
                  f"on one validation split (the seeds draw the initialization and the batches, not the split)")
    title = (f"frontier sweep: {len(frontier.sizes)} sizes x {len(budgets)} budgets{run} x up to {seeds} seeds, "
             f"{len(frontier.rows)} runs; validation loss, mean {spread}")
    title = f"**{title}**" if markdown else title
    notes = []
    edge = [size for _, size in frontier.sizes if frontier.lr[size] in (min(frontier.lr_grid), max(frontier.lr_grid))
            and len(frontier.lr_grid) > 1]
    if edge:
        notes.append(f"learning rate at the edge of the searched grid for {', '.join(edge)}: "
                     f"a wider grid may find a better one")
    if frontier.diverged:
        notes.append(f"{frontier.diverged} run{'s' if frontier.diverged > 1 else ''} diverged at their "
                     f"size's tuned learning rate and {'are' if frontier.diverged > 1 else 'is'} left out")
    return '\n\n'.join([title, format_table(header, body, markdown)] + notes)


# --- the plot -------------------------------------------------------------------------------------

SWEEP_AXIS_LABELS = {'steps': 'training steps', 'params': 'parameters'}


def plot_sweeps(sweeps, out_path):
    """Validation (solid) and training (dashed) loss against steps / params, one panel per kind."""
    from ..plots import figure_class, save_figure
    Figure = figure_class()  # before matplotlib's own imports: it says how to install matplotlib
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator
    kinds = [kind for kind in X_FIELD if any(s.kind == kind for s in sweeps)]
    fig = Figure(figsize=(6 * len(kinds), 4.5), layout='constrained')
    axes = fig.subplots(1, len(kinds), squeeze=False)[0]
    for ax, kind in zip(axes, kinds):
        for i, sweep in enumerate(s for s in sweeps if s.kind == kind):
            color = f"C{i}"
            spreads = [sweep.spread(x) or 0.0 for x in sweep.xs]
            ax.errorbar(sweep.xs, [sweep.val_loss(x) for x in sweep.xs],
                        yerr=spreads if any(spreads) else None, fmt='o-', color=color, capsize=3,
                        label=f"validation ({sweep.label()}{'; bars: half the seeds range' if any(spreads) else ''})")
            ax.plot(sweep.xs, [statistics.fmean(r['train_loss'] for r in sweep.at(x)) for x in sweep.xs], 's--',
                    color=color, alpha=0.6, label=f"training, mean of last {TRAIN_LOSS_WINDOW} steps")
            if kind == 'params':
                for x in sweep.xs:
                    ax.annotate(sweep.at(x)[0]['size'], (x, sweep.val_loss(x)), textcoords='offset points',
                                xytext=(4, 6), fontsize=8)
        ax.set(xscale='log', xlabel=SWEEP_AXIS_LABELS[kind], ylabel='loss (nats per token)',
               title=f"loss against {SWEEP_AXIS_LABELS[kind]}")
        ax.margins(x=0.08)  # room for the size labels at the ends
        # Plain numbers at 1, 2 and 5 times each power of ten, instead of 2x10^3 style labels.
        ax.xaxis.set_major_locator(LogLocator(subs=(1, 2, 5)))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
        ax.grid(True, which='both', alpha=0.3)
        ax.legend(fontsize=8)
    save_figure(fig, out_path)

