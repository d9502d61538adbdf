"""The compute-optimal frontier of a `sweep frontier` results file: its table of loss by size
and budget, the fitted law L(N, D) with bootstrap intervals, the compute-optimal size of each
budget, IsoFLOP parabolas, a held-out check, predictions, and the plots of all of these.

N is every parameter (embeddings included), D the tokens trained on (predicted positions),
C the exact FLOPs of training that microgpt.flops counts; the loss is the validation loss."""
import statistics
from dataclasses import dataclass, field

import numpy as np

from ..errors import MicrogptError
from ..console import format_table
from . import fit
from .plans import tuned_lrs
from .sweep import sweep_key

# An IsoFLOP parabola is fitted to the best size of a budget and up to this many on each side.
ISOFLOP_HALF_WINDOW = 2


@dataclass
class Point:
    """One size at one budget: its runs (one per seed)."""
    size: str
    budget: float
    rows: list

    @property
    def N(self):
        return self.rows[0]['params']

    @property
    def loss(self):
        return statistics.fmean(row['val_loss'] for row in self.rows)

    @property
    def spread(self):
        """Half the range of the seeds' losses (0 for one seed)."""
        losses = [row['val_loss'] for row in self.rows]
        return (max(losses) - min(losses)) / 2

    @property
    def D(self):
        return statistics.fmean(row['tokens'] for row in self.rows)


@dataclass
class IsoFLOP:
    """The sizes at one budget, and the parabola in log N through the best of them."""
    budget: float
    points: list
    parabola: object = None  # fit.Parabola, or None
    window: list = field(default_factory=list)
    note: str = ''

    @property
    def optimum(self):
        """(N, loss) at the parabola's vertex when it lies inside the ladder, else None."""
        if self.parabola is None or self.note:
            return None
        return self.parabola.vertex


@dataclass
class Frontier:
    rows: list       # the frontier's runs: each size's tuned learning rate, no diverged run
    lr: dict         # size -> tuned learning rate
    lr_grid: list
    points: list     # Point per (size, budget), by budget then size
    diverged: int = 0

    @property
    def budgets(self):
        return sorted({p.budget for p in self.points})

    @property
    def sizes(self):
        """Ladder sizes from the smallest, with their parameters."""
        return sorted({(p.N, p.size) for p in self.points})

    def arrays(self, rows=None):
        rows = self.rows if rows is None else rows
        return (np.array([r['params'] for r in rows], float), np.array([r['tokens'] for r in rows], float),
                np.array([r['val_loss'] for r in rows], float))

    def flops_per_token(self):
        """FLOPs per trained token against N, fitted as a power law over the runs (it is nearly
        6 N: forward, backward and Adam; attention adds a little with the context)."""
        return fit.fit_power_law([r['params'] for r in self.rows], [r['flops'] / r['tokens'] for r in self.rows])

    def size_flops_per_token(self, size):
        return statistics.fmean(r['flops'] / r['tokens'] for r in self.rows if r['size'] == size)


def load_frontier(rows, what):
    """The frontier in these results rows (those of `sweep frontier`), refused in one line
    when there is none, or when they mix sweeps of different settings."""
    rows = [row for row in rows if row['sweep'] == 'frontier']
    if not rows:
        raise MicrogptError(f"--fit needs the results of `microgpt sweep frontier`; {what} holds none")
    sweeps = {sweep_key(row) for row in rows}
    if len(sweeps) > 1:
        differ = sorted({f for key in sweeps for f, v in key if len({dict(k)[f] for k in sweeps}) > 1})
        raise MicrogptError(f"{what} hold frontier sweeps of different settings ({', '.join(differ)}): "
                            f"fit one at a time")
    lr = tuned_lrs(rows)
    chosen = [row for row in rows if row['size'] in lr and row['lr'] == lr[row['size']]]
    diverged = sum(1 for row in chosen if row.get('diverged'))
    # in one order whatever the files' order, so that the bootstrap draws the same resamples
    chosen = sorted((row for row in chosen if not row.get('diverged')),
                    key=lambda r: (r['budget'], r['params'], r['seed']))
    groups = {}
    for row in chosen:
        groups.setdefault((row['size'], row['budget']), []).append(row)
    points = [Point(size, budget, group) for (size, budget), group in groups.items()]
    return Frontier(rows=chosen, lr=lr, lr_grid=rows[0]['lr_grid'], points=points, diverged=diverged)


def check_fittable(frontier):
    budgets = frontier.budgets
    if len(budgets) < 2:
        raise MicrogptError(f"one budget only ({budgets[0]:.3g} FLOPs): along one budget N and D move "
                            f"together, so the law cannot tell them apart; run at least two budgets")
    if len(frontier.rows) < len(fit.PARAMS):
        raise MicrogptError(f"{len(frontier.rows)} runs cannot fit the law's {len(fit.PARAMS)} parameters "
                            f"(E, A, B, alpha, beta); run more sizes, budgets or seeds")
    if len({p.N for p in frontier.points}) < 2:
        raise MicrogptError("one size only: the law needs runs of at least two sizes")


# --- the analyses ---------------------------------------------------------------------------------

def isoflops(frontier):
    """Per budget: a parabola in log N through the best size and its neighbours."""
    curves = []
    for budget in frontier.budgets:
        points = sorted((p for p in frontier.points if p.budget == budget), key=lambda p: p.N)
        curve = IsoFLOP(budget, points)
        curves.append(curve)
        if len(points) < 3:
            curve.note = "fewer than 3 sizes"
            continue
        best = min(range(len(points)), key=lambda i: points[i].loss)
        curve.window = points[max(best - ISOFLOP_HALF_WINDOW, 0):best + ISOFLOP_HALF_WINDOW + 1]
        rows = [row for p in curve.window for row in p.rows]
        curve.parabola = fit.fit_parabola([r['params'] for r in rows], [r['val_loss'] for r in rows])
        if best in (0, len(points) - 1):
            curve.note = f"the best size is the ladder's {'smallest' if best == 0 else 'largest'}"
        elif curve.parabola is None:
            curve.note = "no minimum"
        elif not curve.window[0].N <= curve.parabola.vertex[0] <= curve.window[-1].N:
            curve.note = "vertex outside the sizes"
    return curves


def isoflop_power_law(curves):
    optima = [(c.budget, c.optimum[0]) for c in curves if c.optimum]
    if len(optima) < 2:
        return None
    return fit.fit_power_law([b for b, _ in optima], [n for _, n in optima])


def isoflop_exponent_interval(frontier, resamples, seed=0):
    """Percentile interval of the IsoFLOP optima's exponent over bootstrap resamples of the
    runs (the parabolas refitted each time), or None when too few resamples give one."""
    rng = np.random.default_rng(seed)
    exponents = []
    for _ in range(resamples):
        picked = [frontier.rows[i] for i in rng.integers(0, len(frontier.rows), len(frontier.rows))]
        groups = {}
        for row in picked:
            groups.setdefault((row['size'], row['budget']), []).append(row)
        resampled = Frontier(picked, frontier.lr, frontier.lr_grid,
                             [Point(size, budget, rows) for (size, budget), rows in groups.items()])
        law = isoflop_power_law(isoflops(resampled))
        if law is not None:
            exponents.append(law.exponent)
    return fit.percentile_interval(exponents) if len(exponents) >= resamples / 2 else None


def predict_ladder(frontier, law, budget):
    """The ladder size whose law-predicted loss at `budget` FLOPs is lowest: (size, N, D, loss)."""
    best = None
    for n, size in frontier.sizes:
        d = budget / frontier.size_flops_per_token(size)
        loss = float(law.loss(n, d))
        if best is None or loss < best[3]:
            best = (size, n, d, loss)
    return best


def holdout_check(frontier):
    """Fit without the largest budget and predict its best loss over the ladder."""
    budgets = frontier.budgets
    if len(budgets) < 3:
        return None  # the fit without the largest budget would have one budget only
    top = budgets[-1]
    train = [r for r in frontier.rows if r['budget'] != top]
    if len(train) < len(fit.PARAMS):
        return None
    law, _ = fit.fit_law(*frontier.arrays(train))
    at_top = [p for p in frontier.points if p.budget == top]
    predicted = {p.size: float(np.mean(law.loss(p.N, [r['tokens'] for r in p.rows]))) for p in at_top}
    measured = {p.size: p.loss for p in at_top}
    best_predicted, best_measured = min(predicted, key=predicted.get), min(measured, key=measured.get)
    return dict(budget=top, predicted=predicted[best_predicted], measured=measured[best_measured],
                rel_error=(predicted[best_predicted] - measured[best_measured]) / measured[best_measured],
                predicted_size=best_predicted, measured_size=best_measured, law=law.to_dict())


@dataclass
class FitResult:
    frontier: Frontier
    law: fit.Law
    intervals: dict
    resamples: int
    optimal: list     # per budget: dict(budget, N, D, loss)
    curves: list
    iso_law: object
    iso_interval: object
    holdout: object


def fit_frontier(frontier, resamples=fit.BOOTSTRAP_RESAMPLES):
    check_fittable(frontier)
    N, D, L = frontier.arrays()
    law, _ = fit.fit_law(N, D, L)
    laws = fit.bootstrap_laws(N, D, L, law, resamples=resamples, seed=0)
    cost = frontier.flops_per_token()
    optimal = []
    for budget in frontier.budgets:
        n, d = fit.compute_optimal(law, budget, cost)
        optimal.append(dict(budget=budget, N=n, D=d, loss=float(law.loss(n, d))))
    curves = isoflops(frontier)
    iso_law = isoflop_power_law(curves)
    iso_interval = isoflop_exponent_interval(frontier, resamples) if iso_law else None
    return FitResult(frontier, law, fit.law_intervals(laws), len(laws), optimal, curves, iso_law, iso_interval,
                     holdout_check(frontier))


def parse_prediction(text):
    """'C=1e12' or 'N=5e4,C=1e12' -> {'C': 1e12, 'N': 5e4}."""
    values = {}
    for part in (p.strip() for p in text.split(',') if p.strip()):
        key, sep, number = part.partition('=')
        key = key.strip().upper()
        try:
            value = float(number)
        except ValueError:
            value = float('nan')
        if not sep or key not in ('N', 'C') or key in values or not (0 < value < float('inf')):
            raise MicrogptError(f"--predict takes C=FLOPS or N=PARAMS,C=FLOPS (numbers > 0), got {text!r}")
        values[key] = value
    if 'C' not in values:
        raise MicrogptError(f"--predict needs a budget: C=FLOPS (with N=PARAMS for a given size), got {text!r}")
    return values


def predict(result, values):
    """{size, N, D, loss} at the budget values['C']: the best ladder size, or size N."""
    frontier, law, budget = result.frontier, result.law, values['C']
    if 'N' not in values:
        size, n, d, loss = predict_ladder(frontier, law, budget)
        return dict(size=size, N=n, D=d, loss=loss)
    n = values['N']
    named = [size for params, size in frontier.sizes if params == n]
    cost = frontier.size_flops_per_token(named[0]) if named else float(frontier.flops_per_token()(n))
    d = budget / cost
    return dict(size=named[0] if named else None, N=n, D=d, loss=float(law.loss(n, d)))


# --- text and JSON -----------------------------------------------------------------------------

def _interval(values, digits):
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


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
    title = (f"frontier sweep: {len(frontier.sizes)} sizes x {len(budgets)} budgets x up to {seeds} seeds, "
             f"{len(frontier.rows)} runs; validation loss, mean ± half the seeds' range")
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


def fit_lines(result):
    law, ci, frontier = result.law, result.intervals, result.frontier
    lines = [f"fit of L(N, D) = E + A/N^alpha + B/D^beta to {len(frontier.rows)} runs (Huber loss, delta "
             f"{fit.HUBER_DELTA:g}, on log loss); 95% intervals from {result.resamples} bootstrap resamples of the runs:"]
    for key, digits in (('E', 4), ('A', 3), ('B', 3), ('alpha', 4), ('beta', 4)):
        lines.append(f"  {key:<5} = {getattr(law, key):.{digits}f}  {_interval(ci[key], digits)}")
    lines.append(f"  a     = {law.a:.4f}  {_interval(ci['a'], 4)}   (N_opt ~ C^a, a = beta/(alpha+beta); "
                 f"Chinchilla 0.46, Epoch's refit about 0.51)")
    lines.append("compute-optimal size and tokens by the fitted law:")
    for opt in result.optimal:
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens "
                     f"({opt['D'] / opt['N']:.1f} per parameter), loss {opt['loss']:.4f}")
    lines.append(f"IsoFLOP parabolas in log N (the best size and up to {ISOFLOP_HALF_WINDOW} neighbours each side):")
    for curve in result.curves:
        if curve.optimum:
            n, loss = curve.optimum
            lines.append(f"  C {curve.budget:.3g}: vertex N {n:,.0f}, loss {loss:.4f}")
        else:
            lines.append(f"  C {curve.budget:.3g}: no optimum inside the ladder ({curve.note})")
    if result.iso_law:
        interval = f"  {_interval(result.iso_interval, 3)}" if result.iso_interval else ''
        lines.append(f"  IsoFLOP optima: N_opt = {result.iso_law.k:.3g} C^{result.iso_law.exponent:.3f}{interval} "
                     f"(the exponent fitted to the vertices, Chinchilla's approach 2)")
    else:
        lines.append("  IsoFLOP optima: fewer than two inside the ladder, no power law")
    h = result.holdout
    if h:
        lines.append(f"held-out check: fitted without the {h['budget']:.3g} FLOPs runs, the law predicts that "
                     f"budget's best loss {h['predicted']:.4f} ({h['predicted_size']}); measured "
                     f"{h['measured']:.4f} ({h['measured_size']}); relative error {h['rel_error']:+.2%}")
    else:
        lines.append("held-out check: needs at least three budgets")
    return '\n'.join(lines)


def fit_json(result):
    law = result.law
    out = dict(law.to_dict(), ci=result.intervals, holdout=None, runs=len(result.frontier.rows),
               resamples=result.resamples, lr=result.frontier.lr, compute_optimal=result.optimal,
               isoflop=dict(vertices=[dict(budget=c.budget, N=c.optimum[0], loss=c.optimum[1])
                                      for c in result.curves if c.optimum],
                            a=result.iso_law.exponent if result.iso_law else None,
                            a_ci=result.iso_interval,
                            k=result.iso_law.k if result.iso_law else None))
    if result.holdout:
        out['holdout'] = {k: result.holdout[k] for k in ('budget', 'predicted', 'measured', 'rel_error',
                                                           'predicted_size', 'measured_size')}
    return out


def prediction_line(values, prediction):
    which = ("the ladder's best size, " if 'N' not in values else "") + (prediction['size'] or "a model")
    return (f"predicted loss at C {values['C']:.3g} FLOPs for {which} (N {prediction['N']:,.0f}, D "
            f"{prediction['D']:,.0f} tokens): {prediction['loss']:.4f}")


# --- the plots -----------------------------------------------------------------------------------

def plot_frontier(result, out_path):
    """Four panels, each titled to read alone: loss against FLOPs per size with the lower
    envelope; IsoFLOP curves with their parabolas and optima; the fitted law over the data;
    N_opt against C with the fitted power laws."""
    from ..plots import figure_class, save_figure
    Figure = figure_class()
    frontier, law = result.frontier, result.law
    fig = Figure(figsize=(13, 10), layout='constrained')
    (flops_ax, iso_ax), (law_ax, opt_ax) = fig.subplots(2, 2)
    sizes = frontier.sizes
    colors = {size: f"C{i}" for i, (_, size) in enumerate(sizes)}
    budget_colors = {b: f"C{i}" for i, b in enumerate(frontier.budgets)}

    for n, size in sizes:
        rows = sorted((r for r in frontier.rows if r['size'] == size), key=lambda r: r['flops'])
        flops_ax.scatter([r['flops'] for r in rows], [r['val_loss'] for r in rows], s=12, color=colors[size], alpha=0.6)
        points = [p for p in frontier.points if p.size == size]
        flops_ax.plot([statistics.fmean(r['flops'] for r in p.rows) for p in points], [p.loss for p in points],
                      '-', color=colors[size], label=f"{size} ({n:,} params)")
    envelope = [min((p for p in frontier.points if p.budget == b), key=lambda p: p.loss) for b in frontier.budgets]
    flops_ax.plot([statistics.fmean(r['flops'] for r in p.rows) for p in envelope], [p.loss for p in envelope],
                  'k--', linewidth=2, label='lower envelope (best size per budget)')
    flops_ax.set_xscale('log')
    flops_ax.set_xlabel('training compute C (FLOPs, exact count)')
    flops_ax.set_ylabel('validation loss (nats per token)')
    flops_ax.set_title('loss against compute, one line per model size (dots: seeds)')
    flops_ax.legend(fontsize=7)

    for curve in result.curves:
        color = budget_colors[curve.budget]
        iso_ax.plot([p.N for p in curve.points], [p.loss for p in curve.points], 'o', color=color,
                    label=f"C = {curve.budget:.3g} FLOPs")
        if curve.parabola is not None and curve.window:
            xs = np.geomspace(curve.window[0].N, curve.window[-1].N, 100)
            iso_ax.plot(xs, curve.parabola(xs), '-', color=color, alpha=0.7)
        if curve.optimum:
            iso_ax.plot(*curve.optimum, '*', color=color, markersize=14, markeredgecolor='k')
    iso_ax.set_xscale('log')
    iso_ax.set_xlabel('parameters N (all, embeddings included)')
    iso_ax.set_ylabel('validation loss, mean over seeds')
    iso_ax.set_title('IsoFLOP curves: parabola in log N near the best size; star = optimum')
    iso_ax.legend(fontsize=7)

    tokens = [r['tokens'] for r in frontier.rows]
    ds = np.geomspace(min(tokens) / 1.5, max(tokens) * 1.5, 200)
    for n, size in sizes:
        rows = [r for r in frontier.rows if r['size'] == size]
        law_ax.scatter([r['tokens'] for r in rows], [r['val_loss'] for r in rows], s=14, color=colors[size])
        law_ax.plot(ds, law.loss(n, ds), '-', color=colors[size], alpha=0.8, label=f"{size}: law at N = {n:,}")
    law_ax.axhline(law.E, color='gray', linestyle=':', label=f"E = {law.E:.3f} (loss of an infinite model)")
    law_ax.set_xscale('log')
    law_ax.set_xlabel('tokens trained D')
    law_ax.set_ylabel('validation loss (nats per token)')
    law_ax.set_title(f"fitted L(N,D) = {law.E:.3f} + {law.A:.3g}/N^{law.alpha:.3f} + {law.B:.3g}/D^{law.beta:.3f}"
                     f" (lines) over the runs (dots)", fontsize=10)
    law_ax.legend(fontsize=7)

    cs = np.geomspace(frontier.budgets[0] / 2, frontier.budgets[-1] * 2, 50)
    opt_ax.plot([o['budget'] for o in result.optimal], [o['N'] for o in result.optimal], 's', color='C1',
                label=f"fitted law's optimum (a = {law.a:.3f})")
    cost = frontier.flops_per_token()
    opt_ax.plot(cs, [fit.compute_optimal(law, c, cost)[0] for c in cs], '-', color='C1', alpha=0.7)
    vertices = [(c.budget, c.optimum[0]) for c in result.curves if c.optimum]
    if vertices:
        opt_ax.plot(*zip(*vertices), 'o', color='C0', markersize=8, label='IsoFLOP vertices')
    if result.iso_law:
        opt_ax.plot(cs, result.iso_law(cs), '--', color='C0',
                    label=f"power law of the vertices: N_opt ~ C^{result.iso_law.exponent:.3f}")
    for n, size in sizes:
        opt_ax.axhline(n, color='gray', linewidth=0.5, alpha=0.5)
    opt_ax.set_xscale('log')
    opt_ax.set_yscale('log')
    opt_ax.set_xlabel('training compute C (FLOPs)')
    opt_ax.set_ylabel('compute-optimal parameters N_opt')
    opt_ax.set_title('compute-optimal size against compute (gray: the ladder\'s sizes)')
    opt_ax.legend(fontsize=7)
    fig.suptitle("microgpt on the names data: compute-optimal scaling (validation loss; N counts all "
                 "parameters, C the exact FLOPs of training)")
    save_figure(fig, out_path)
