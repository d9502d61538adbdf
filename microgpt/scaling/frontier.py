"""The compute-optimal frontier of a `sweep frontier` results file: its table of loss by size
and budget, two fitted laws L(N, D) with bootstrap intervals (the fresh-data law, and the
data-constrained one for the passes the runs make over the same names), the parameters the
runs leave undetermined, the compute-optimal size of each budget, IsoFLOP parabolas, a held-out
check of both laws, where more compute stops paying at each size, predictions with their range
and warnings, and the plots of all of these.

N is every parameter (embeddings included), D the tokens trained on (predicted positions),
C the exact FLOPs of training that microgpt.flops counts; the loss is the validation loss."""
import statistics
from dataclasses import dataclass, field

import numpy as np

from ..errors import MicrogptError
from ..layout import format_table
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

    def typical_spread(self):
        """The median over the points of the seeds' half-range: how far one run's loss may lie
        from another seed's; None with one seed everywhere."""
        spreads = [p.spread for p in self.points if len(p.rows) > 1]
        return statistics.median(spreads) if spreads else None

    def seeds(self):
        return sorted({r['seed'] for r in self.rows})


def one_pass_tokens(rows):
    """The tokens of one pass over the training documents, U, from the run that made the most
    passes: it trained on steps x batch_size documents, walking the shuffled list round and
    round, so its tokens over its passes leave only the last partial pass's deviation from
    the mean, shared among all of them (for the shipped runs under one token in 205,243)."""
    usable = [r for r in rows if r.get('train_docs') and r.get('steps') and r.get('tokens')]
    if not usable:
        raise MicrogptError("the results record no training documents per run (train_docs), so the "
                            "passes over the data are unknown: rerun them with this microgpt")
    longest = max(usable, key=lambda r: r['steps'] * r['batch_size'] / r['train_docs'])
    return longest['tokens'] * longest['train_docs'] / (longest['steps'] * longest['batch_size'])


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
    if not points:
        raise MicrogptError(f"{what} holds no finished frontier run at the learning rates its search chose")
    return Frontier(rows=chosen, lr=lr, lr_grid=rows[0]['lr_grid'], points=points, diverged=diverged)


def check_fittable(frontier):
    budgets = frontier.budgets
    if len(budgets) < 2:
        raise MicrogptError(f"one budget only ({budgets[0]:.3g} FLOPs): along one budget N and D move "
                            f"together, so the law cannot tell them apart; run at least two budgets")
    if len(frontier.rows) < len(fit.CONSTRAINED_PARAMS):
        raise MicrogptError(f"{len(frontier.rows)} runs cannot fit the laws' {len(fit.CONSTRAINED_PARAMS)} parameters "
                            f"(E, A, B, alpha, beta and the data-constrained R_D*); run more sizes, budgets or seeds")
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


LAW_NAMES = {'fresh': 'the fresh-data law', 'constrained': 'the data-constrained law'}


def fit_laws(frontier, rows, unique_tokens):
    """{kind: law} for both kinds, fitted to these rows of the frontier."""
    N, D, L = frontier.arrays(rows)
    return {'fresh': fit.fit_law(N, D, L)[0], 'constrained': fit.fit_law(N, D, L, unique_tokens=unique_tokens)[0]}


def holdout_check(frontier, unique_tokens):
    """Both laws fitted again without the largest budget, each predicting that budget's runs:
    its best loss over the ladder, and every size run there. The better law is the one whose
    predictions of the held-out runs err less (mean absolute relative error over the sizes);
    the two are not told apart when their mean errors differ by less than the seeds' typical
    spread there."""
    budgets = frontier.budgets
    if len(budgets) < 3:
        return None  # the fit without the largest budget would have one budget only
    top = budgets[-1]
    train = [r for r in frontier.rows if r['budget'] != top]
    if len(train) < len(fit.CONSTRAINED_PARAMS):
        return None
    at_top = [p for p in frontier.points if p.budget == top]
    measured = {p.size: p.loss for p in at_top}
    best_measured = min(measured, key=measured.get)
    check = dict(budget=top, measured=measured[best_measured], measured_size=best_measured, laws={})
    for kind, law in fit_laws(frontier, train, unique_tokens).items():
        predicted = {p.size: float(np.mean(law.loss(p.N, [r['tokens'] for r in p.rows]))) for p in at_top}
        best = min(predicted, key=predicted.get)
        check['laws'][kind] = dict(
            predicted=predicted[best], predicted_size=best,
            rel_error=(predicted[best] - measured[best_measured]) / measured[best_measured],
            sizes={size: (predicted[size] - measured[size]) / measured[size] for size in measured},
            mean_abs_error=statistics.fmean(abs(predicted[size] / measured[size] - 1) for size in measured))
    errors = {kind: c['mean_abs_error'] for kind, c in check['laws'].items()}
    check['better'] = min(errors, key=errors.get)
    spread = frontier.typical_spread()
    check['told_apart'] = spread is not None and abs(errors['fresh'] - errors['constrained']) * check['measured'] > spread
    return check


def returns_of_compute(frontier):
    """Per size, along its budgets: where more compute stops paying. A step from one budget to
    the next pays when the loss falls by more than the noise of the two points (the larger of
    their seeds' half-ranges and the frontier's typical one); returns per size a dict of the
    lowest point, the last budget that paid and the changes."""
    typical = frontier.typical_spread()
    out = []
    for n, size in frontier.sizes:
        points = sorted((p for p in frontier.points if p.size == size), key=lambda p: p.budget)
        steps = []
        for a, b in zip(points, points[1:]):
            noise = None if typical is None else max(a.spread, b.spread, typical)
            steps.append(dict(budget=b.budget, change=b.loss - a.loss, noise=noise,
                              pays=noise is not None and a.loss - b.loss > noise))
        paid = [i for i, step in enumerate(steps) if step['pays']]
        lowest = min(points, key=lambda p: p.loss)
        last_paid = points[paid[-1] + 1] if paid else points[0]
        out.append(dict(size=size, N=n, lowest=lowest, last_paid=last_paid, steps=steps,
                        beyond=[step for step in steps if step['budget'] > last_paid.budget]))
    return out


@dataclass
class FitResult:
    frontier: Frontier
    law: fit.Law                  # the fresh-data law
    intervals: dict
    resamples: int
    optimal: list     # per budget: dict(budget, N, D, loss), by the fresh-data law
    curves: list
    iso_law: object
    iso_interval: object
    holdout: object
    unique_tokens: float = None
    constrained: fit.DataConstrainedLaw = None
    constrained_intervals: dict = None
    constrained_optimal: list = None
    bootstrap: dict = None        # kind -> the bootstrapped laws
    undetermined: dict = None     # kind -> the parameters the runs leave open

    def law_of(self, kind):
        return self.law if kind == 'fresh' else self.constrained

    @property
    def better(self):
        """The law that predicted the held-out budget better (the data-constrained one when
        there is no held-out check: it is the fresh-data law when R_D* is large)."""
        return self.holdout['better'] if self.holdout else 'constrained'


def fit_frontier(frontier, resamples=fit.BOOTSTRAP_RESAMPLES):
    check_fittable(frontier)
    unique_tokens = one_pass_tokens(frontier.rows)
    N, D, L = frontier.arrays()
    laws = fit_laws(frontier, frontier.rows, unique_tokens)
    bootstrap = {kind: fit.bootstrap_laws(N, D, L, law, resamples=resamples, seed=0) for kind, law in laws.items()}
    intervals = {kind: fit.law_intervals(found, like=laws[kind]) for kind, found in bootstrap.items()}
    cost = frontier.flops_per_token()
    optimal = {}
    for kind, law in laws.items():
        optimal[kind] = []
        for budget in frontier.budgets:
            n, d = fit.compute_optimal(law, budget, cost)
            optimal[kind].append(dict(budget=budget, N=n, D=d, loss=float(law.loss(n, d)), epochs=d / unique_tokens))
    curves = isoflops(frontier)
    iso_law = isoflop_power_law(curves)
    iso_interval = isoflop_exponent_interval(frontier, resamples) if iso_law else None
    return FitResult(frontier, laws['fresh'], intervals['fresh'], len(bootstrap['fresh']), optimal['fresh'], curves,
                     iso_law, iso_interval, holdout_check(frontier, unique_tokens), unique_tokens=unique_tokens,
                     constrained=laws['constrained'], constrained_intervals=intervals['constrained'],
                     constrained_optimal=optimal['constrained'], bootstrap=bootstrap,
                     undetermined={kind: fit.undetermined(iv) for kind, iv in intervals.items()})


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


def _covered_passes(frontier, n):
    """The most passes over the data that runs of a size near N made: of the ladder size N is,
    else the smaller of the maxima of the two ladder sizes around it."""
    sizes = frontier.sizes
    near = [size for params, size in sizes if params == n]
    if not near:
        below = [size for params, size in sizes if params < n][-1:]
        above = [size for params, size in sizes if params > n][:1]
        near = below + above
    return min(max(r['tokens'] for r in frontier.rows if r['size'] == size) for size in near)


def predict(result, values, kind=None):
    """The loss at the budget values['C'] for the ladder's best size, or for size values['N'],
    by the law `kind` (default: the better on the held-out budget): a dict of size, N, D,
    passes, loss, its range, the law, and warnings where the prediction leaves the runs'
    budgets, sizes or passes, or depends on a parameter the runs do not determine."""
    frontier, budget = result.frontier, values['C']
    kind = kind or result.better
    law = result.law_of(kind)
    if 'N' not in values:
        size, n, d, loss = predict_ladder(frontier, law, budget)
    else:
        n = values['N']
        named = [size for params, size in frontier.sizes if params == n]
        size = named[0] if named else None
        d = budget / (frontier.size_flops_per_token(size) if named else float(frontier.flops_per_token()(n)))
        loss = float(law.loss(n, d))
    passes = d / result.unique_tokens
    spread = frontier.typical_spread()
    fitted = fit.percentile_interval([float(b.loss(n, d)) for b in result.bootstrap[kind]])
    widen = spread or 0.0
    warnings = []
    budgets, params = frontier.budgets, [p for p, _ in frontier.sizes]
    if not budgets[0] <= budget <= budgets[-1]:
        warnings.append(f"the budget {budget:.3g} FLOPs is outside the runs' {budgets[0]:.3g} to {budgets[-1]:.3g}")
    if not params[0] <= n <= params[-1]:
        warnings.append(f"N {n:,.0f} is outside the ladder's {params[0]:,} to {params[-1]:,} parameters")
    covered = _covered_passes(frontier, n) / result.unique_tokens
    if passes > covered:
        warnings.append(f"{_passes(passes)} passes over the names are more than runs of this size made "
                        f"({_passes(covered)})")
    open_terms = [key for key in result.undetermined[kind] if key != 'R_star' or passes > 1]
    if open_terms:
        warnings.append(f"it depends on {', '.join(open_terms)}, which these runs do not determine")
    if spread is None:
        warnings.append("one seed only: how far a single run scatters is unknown, so the range is the fits' alone")
    return dict(size=size, N=n, D=d, passes=passes, loss=loss, law=kind,
                range=[fitted[0] - widen, fitted[1] + widen], fit_range=fitted, seed_spread=spread,
                warnings=warnings)


# --- text and JSON -----------------------------------------------------------------------------

def _interval(values, digits):
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def spread_text(frontier):
    """What a ± of the frontier spans."""
    seeds = frontier.seeds()
    if max(len(p.rows) for p in frontier.points) < 2:
        return "one seed, so the spread between seeds is unknown"
    return (f"± half the range of seeds {', '.join(map(str, seeds))} on one validation split "
            f"(the seeds draw the initialization and the batches, not the split)")


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
    title = (f"frontier sweep: {len(frontier.sizes)} sizes x {len(budgets)} budgets{run} x up to {seeds} seeds, "
             f"{len(frontier.rows)} runs; validation loss, mean {spread_text(frontier)}")
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


UNDETERMINED_MARK = "not determined by these runs"


def _parameter_lines(law, intervals, open_keys, keys):
    lines = []
    for key, digits in keys:
        mark = f"  {UNDETERMINED_MARK}" if key in open_keys else ''
        lines.append(f"  {key:<5} = {getattr(law, key):.{digits}f}  {_interval(intervals[key], digits)}{mark}")
    return lines


def _passes(value):
    return f"{value:.2g}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def fit_lines(result):
    law, ci, frontier = result.law, result.intervals, result.frontier
    U = result.unique_tokens
    lines = [f"fit of L(N, D) = E + A/N^alpha + B/D^beta to {len(frontier.rows)} runs (Huber loss, delta "
             f"{fit.HUBER_DELTA:g}, on log loss); 95% intervals from {result.resamples} bootstrap resamples of the runs:"]
    lines += _parameter_lines(law, ci, result.undetermined['fresh'],
                              (('E', 4), ('A', 3), ('B', 3), ('alpha', 4), ('beta', 4)))
    mark = f"  {UNDETERMINED_MARK}" if 'a' in result.undetermined['fresh'] else ''
    lines.append(f"  a     = {law.a:.4f}  {_interval(ci['a'], 4)}   (N_opt ~ C^a, a = beta/(alpha+beta); "
                 f"Chinchilla 0.46, Epoch's refit about 0.51){mark}")
    lines.append("compute-optimal size and tokens by the fitted law:")
    for opt in result.optimal:
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens "
                     f"({opt['D'] / opt['N']:.1f} per parameter), loss {opt['loss']:.4f}")
    dc, dci = result.constrained, result.constrained_intervals
    lines.append(f"data-constrained fit (Muennighoff et al. 2023): D replaced by D' = U + U R_D* (1 - exp(-R/R_D*)), "
                 f"U one pass over the training names (about {U:,.0f} tokens, from the runs), R = D/U - 1 the passes "
                 f"beyond the first; the same fit and resamples, all six parameters together:")
    lines += _parameter_lines(dc, dci, result.undetermined['constrained'],
                              (('E', 4), ('A', 3), ('B', 3), ('alpha', 4), ('beta', 4)))
    mark = f"  {UNDETERMINED_MARK}" if 'R_star' in result.undetermined['constrained'] else ''
    lines.append(f"  R_D*  = {dc.R_star:.2f}  {_interval(dci['R_star'], 2)}   (passes; the paper's fit 15.4){mark}")
    half = dc.R_star * np.log(2) + 1
    lines.append(f"what passes over the same names are worth by the data-constrained law (in passes of fresh names): "
                 f"a token of pass {half:.1f} is worth half a fresh one; "
                 + ', '.join(f"{k} passes are worth {float(dc.effective_tokens(k * U)) / U:.2f}" for k in (2, 4, 8, 16, 64))
                 + f"; no number of passes is worth more than {1 + dc.R_star:.2f}")
    lines.append("compute-optimal size and tokens by the data-constrained law:")
    for opt in result.constrained_optimal:
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens "
                     f"({_passes(opt['epochs'])} passes), loss {opt['loss']:.4f}")
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
        parts = [f"{LAW_NAMES[kind]} {c['predicted']:.4f} ({c['predicted_size']}, {c['rel_error']:+.2%})"
                 for kind, c in h['laws'].items()]
        lines.append(f"held-out check: fitted without the {h['budget']:.3g} FLOPs runs, the laws predict that "
                     f"budget's best loss as {'; '.join(parts)}; measured {h['measured']:.4f} ({h['measured_size']})")
        sizes = list(h['laws']['fresh']['sizes'])
        for kind, c in h['laws'].items():
            lines.append(f"  {LAW_NAMES[kind]} on each size run there: "
                         + ', '.join(f"{size} {c['sizes'][size]:+.2%}" for size in sizes)
                         + f"; mean absolute error {c['mean_abs_error']:.2%}")
        if h['told_apart']:
            lines.append(f"  the better on the held-out budget: {LAW_NAMES[h['better']]}")
        else:
            lines.append(f"  the better on the held-out budget: {LAW_NAMES[h['better']]}, by less than the seeds' "
                         f"typical spread, so the check does not tell the two apart")
    else:
        lines.append("held-out check: needs at least three budgets")
    typical = frontier.typical_spread()
    if typical is None:
        lines.append("returns of compute per size: one seed, so the spread between seeds is unknown and no change "
                     "between budgets is interpreted")
    else:
        lines.append(f"returns of compute per size (a step to the next budget pays when the loss falls by more than "
                     f"the larger of the two points' seed half-ranges and their typical {typical:.4f}):")
        for r in returns_of_compute(frontier):
            lowest, paid = r['lowest'], r['last_paid']
            text = (f"  {r['size']}: lowest {lowest.loss:.4f} at {lowest.budget:.3g} FLOPs "
                    f"({_passes(lowest.D / U)} passes); ")
            if not r['beyond']:
                text += f"still paying at its largest budget, {paid.budget:.3g} FLOPs"
            else:
                text += (f"more compute stops paying after {paid.budget:.3g} FLOPs ({_passes(paid.D / U)} passes): "
                         + ', '.join(f"{s['budget']:.3g} changes it by {s['change']:+.4f}" for s in r['beyond']))
            lines.append(text)
    for kind, keys in result.undetermined.items():
        if keys:
            lines.append(f"not determined by these runs ({LAW_NAMES[kind]}): {', '.join(keys)}: their 95% interval "
                         f"spans more than a factor of {fit.UNDETERMINED_FACTOR:g} or reaches a bound; "
                         f"--predict warns when a prediction depends on them")
    return '\n'.join(lines)


def fit_json(result):
    law = result.law
    out = dict(law.to_dict(), ci=result.intervals, holdout=None, runs=len(result.frontier.rows),
               resamples=result.resamples, lr=result.frontier.lr, compute_optimal=result.optimal,
               isoflop=dict(vertices=[dict(budget=c.budget, N=c.optimum[0], loss=c.optimum[1])
                                      for c in result.curves if c.optimum],
                            a=result.iso_law.exponent if result.iso_law else None,
                            a_ci=result.iso_interval,
                            k=result.iso_law.k if result.iso_law else None),
               unique_tokens=result.unique_tokens, undetermined=result.undetermined,
               data_constrained=dict(result.constrained.to_dict(), ci=result.constrained_intervals,
                                     compute_optimal=result.constrained_optimal),
               better=result.better)
    if result.holdout:
        out['holdout'] = {k: result.holdout[k] for k in ('budget', 'measured', 'measured_size', 'laws', 'better',
                                                           'told_apart')}
    return out


def prediction_lines(values, prediction):
    which = ("the ladder's best size, " if 'N' not in values else "") + (prediction['size'] or "a model")
    low, high = prediction['range']
    spread = prediction['seed_spread']
    widened = f", widened by the seeds' typical half-range {spread:.4f}" if spread else ''
    if np.isnan(low):
        span = "no range: no bootstrap resample of the runs could be fitted"
    else:
        span = f"range [{low:.4f}, {high:.4f}] (the bootstrap fits' 95% interval{widened})"
    lines = [f"predicted loss at C {values['C']:.3g} FLOPs for {which} (N {prediction['N']:,.0f}, D "
             f"{prediction['D']:,.0f} tokens, {_passes(prediction['passes'])} passes over the training names) by "
             f"{LAW_NAMES[prediction['law']]}: {prediction['loss']:.4f}, {span}"]
    lines += [f"warning: {w}" for w in prediction['warnings']]
    return '\n'.join(lines)


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
    constrained = result.constrained
    for n, size in sizes:
        rows = [r for r in frontier.rows if r['size'] == size]
        law_ax.scatter([r['tokens'] for r in rows], [r['val_loss'] for r in rows], s=14, color=colors[size])
        law_ax.plot(ds, law.loss(n, ds), ':', color=colors[size], alpha=0.8,
                    label=f"{size}: fresh-data law at N = {n:,}")
        law_ax.plot(ds, constrained.loss(n, ds), '-', color=colors[size], alpha=0.8)
    law_ax.plot([], [], '-', color='gray', label='solid: the data-constrained law at the same N')
    for passes in (1, 10, 100):
        law_ax.axvline(passes * result.unique_tokens, color='gray', linewidth=0.6, alpha=0.6)
        law_ax.annotate(f"{passes} pass{'es' if passes > 1 else ''}", (passes * result.unique_tokens, 1.0),
                        xycoords=('data', 'axes fraction'), xytext=(3, -12), textcoords='offset points', fontsize=7)
    law_ax.set_xscale('log')
    law_ax.set_xlabel('tokens trained D (gray: passes over the training names)')
    law_ax.set_ylabel('validation loss (nats per token)')
    law_ax.set_title(f"the laws over the runs (dots): data-constrained (solid, R_D* = {constrained.R_star:.1f} passes) "
                     f"and fresh-data (dotted)", fontsize=10)
    law_ax.legend(fontsize=7)

    cs = np.geomspace(frontier.budgets[0] / 2, frontier.budgets[-1] * 2, 50)
    opt_ax.plot([o['budget'] for o in result.optimal], [o['N'] for o in result.optimal], 's', color='C1',
                label=f"fitted law's optimum (a = {law.a:.3f})")
    cost = frontier.flops_per_token()
    opt_ax.plot(cs, [fit.compute_optimal(law, c, cost)[0] for c in cs], '-', color='C1', alpha=0.7)
    opt_ax.plot(cs, [fit.compute_optimal(constrained, c, cost)[0] for c in cs], '-', color='C2', alpha=0.7,
                label="the data-constrained law's optimum")
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
