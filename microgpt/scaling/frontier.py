"""The compute-optimal frontier of a `sweep frontier` results file: loss by size and budget, both
laws L(N, D) with bootstrap intervals, optimal sizes, IsoFLOP parabolas, a held-out check, where
more compute stops paying, and predictions (docs/pages/scaling.md tells the story)."""
import statistics
from dataclasses import dataclass, field

import numpy as np

from . import fit
from ..errors import MicrogptError
from .plans import tuned_lrs
from .sweep import half_range, sweep_key

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
        return half_range(self.rows)

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
        return None if self.parabola is None or self.note else self.parabola.vertex


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
        """FLOPs per trained token against N, a power law fitted over the runs (nearly 6 N)."""
        return fit.fit_power_law([r['params'] for r in self.rows], [r['flops'] / r['tokens'] for r in self.rows])

    def size_flops_per_token(self, size):
        return statistics.fmean(r['flops'] / r['tokens'] for r in self.rows if r['size'] == size)

    def typical_spread(self):
        """The median of the points' seed half-ranges; None with one seed everywhere."""
        spreads = [p.spread for p in self.points if len(p.rows) > 1]
        return statistics.median(spreads) if spreads else None


def points_of(rows):
    """A Point per (size, budget) of these rows, in the rows' order."""
    groups = {}
    for row in rows:
        groups.setdefault((row['size'], row['budget']), []).append(row)
    return [Point(size, budget, group) for (size, budget), group in groups.items()]


def passes_text(value):
    return f"{value:.2g}" if value < 1 else f"{value:.1f}" if value < 10 else f"{value:.0f}"


def one_pass_tokens(rows):
    """The tokens U of one pass over the training documents, from the run that made the most passes
    (only its last partial pass deviates from the mean: for the shipped runs under one token in 205,243)."""
    usable = [r for r in rows if r.get('train_docs') and r.get('steps') and r.get('tokens')]
    if not usable:
        raise MicrogptError("the results record no training documents per run (train_docs), so the "
                            "passes over the data are unknown: rerun them with this microgpt")
    longest = max(usable, key=lambda r: r['steps'] * r['batch_size'] / r['train_docs'])
    return longest['tokens'] * longest['train_docs'] / (longest['steps'] * longest['batch_size'])


def load_frontier(rows, what):
    """The frontier in these results rows; refused when there is none or they mix sweeps."""
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
    points = points_of(chosen)
    if not points:
        raise MicrogptError(f"{what} holds no finished frontier run at the learning rates its search chose")
    return Frontier(rows=chosen, lr=lr, lr_grid=rows[0]['lr_grid'], points=points, diverged=diverged)


def check_fittable(frontier):
    """Refuse, in one line, a frontier too small for the laws."""
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
    return fit.fit_power_law(*zip(*optima)) if len(optima) >= 2 else None


def isoflop_exponent_interval(frontier, resamples):
    """The IsoFLOP optima's exponent's interval over resamples of the runs (None when under half give one)."""
    rng = np.random.default_rng(0)
    exponents = []
    for _ in range(resamples):
        picked = [frontier.rows[i] for i in rng.integers(0, len(frontier.rows), len(frontier.rows))]
        law = isoflop_power_law(isoflops(Frontier(picked, frontier.lr, frontier.lr_grid, points_of(picked))))
        if law is not None:
            exponents.append(law.exponent)
    return fit.percentile_interval(exponents) if len(exponents) >= resamples / 2 else None


def fit_laws(frontier, rows, unique_tokens):
    """{kind: law} for both kinds, fitted to these rows of the frontier."""
    N, D, L = frontier.arrays(rows)
    return {'fresh': fit.fit_law(N, D, L)[0], 'constrained': fit.fit_law(N, D, L, unique_tokens=unique_tokens)[0]}


def holdout_check(frontier, unique_tokens):
    """Both laws fitted again without the largest budget, each predicting that budget's best
    loss and every size run there. The better errs less (mean absolute relative error over the
    sizes); told apart only when the errors differ by more than the seeds' typical spread."""
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
    check['told_apart'] = (spread is not None
                           and abs(errors['fresh'] - errors['constrained']) * check['measured'] > spread)
    return check


def returns_of_compute(frontier):
    """Per size: its lowest point, the last budget that paid and the steps between budgets. A step pays when
    the loss falls by more than the larger of the two points' seed half-ranges and the frontier's typical one."""
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
    """Each dict is by kind of law, 'fresh' or 'constrained' (the data-constrained law)."""
    frontier: Frontier
    unique_tokens: float
    laws: dict
    bootstrap: dict      # the bootstrapped laws
    intervals: dict
    undetermined: dict   # the parameters the runs leave open
    optimal: dict        # per budget: dict(budget, N, D, loss, epochs)
    curves: list
    iso_law: object
    iso_interval: object
    holdout: object

    @property
    def resamples(self):
        return len(self.bootstrap['fresh'])

    @property
    def better(self):
        """The law that predicted the held-out budget better, else the data-constrained one (the more general)."""
        return self.holdout['better'] if self.holdout else 'constrained'


def fit_frontier(frontier, resamples=fit.BOOTSTRAP_RESAMPLES):
    check_fittable(frontier)
    unique_tokens = one_pass_tokens(frontier.rows)
    N, D, L = frontier.arrays()
    laws = fit_laws(frontier, frontier.rows, unique_tokens)
    bootstrap = {kind: fit.bootstrap_laws(N, D, L, law, resamples=resamples, seed=0) for kind, law in laws.items()}
    intervals = {kind: fit.law_intervals(found, like=laws[kind]) for kind, found in bootstrap.items()}
    cost = frontier.flops_per_token()
    optimal = {kind: [] for kind in laws}
    for kind, law in laws.items():
        for budget in frontier.budgets:
            n, d = fit.compute_optimal(law, budget, cost)
            optimal[kind].append(dict(budget=budget, N=n, D=d, loss=float(law.loss(n, d)), epochs=d / unique_tokens))
    curves = isoflops(frontier)
    iso_law = isoflop_power_law(curves)
    return FitResult(frontier, unique_tokens, laws, bootstrap, intervals,
                     {kind: fit.undetermined(iv) for kind, iv in intervals.items()}, optimal, curves, iso_law,
                     isoflop_exponent_interval(frontier, resamples) if iso_law else None,
                     holdout_check(frontier, unique_tokens))


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
    """The loss at budget values['C'] for the ladder's best size, or for size values['N'], by the law `kind`
    (default: the better one), its range, and warnings where it leaves what the runs cover."""
    frontier, budget = result.frontier, values['C']
    kind = kind or result.better
    law = result.laws[kind]
    if 'N' not in values:  # the ladder size whose predicted loss is lowest
        ladder = [(size, n, budget / frontier.size_flops_per_token(size)) for n, size in frontier.sizes]
        size, n, d = min(ladder, key=lambda sized: float(law.loss(sized[1], sized[2])))
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
        warnings.append(f"{passes_text(passes)} passes over the names are more than runs of this size made "
                        f"({passes_text(covered)})")
    open_terms = [key for key in result.undetermined[kind] if key != 'R_star' or passes > 1]
    if open_terms:
        warnings.append(f"it depends on {', '.join(open_terms)}, which these runs do not determine")
    if spread is None:
        warnings.append("one seed only: how far a single run scatters is unknown, so the range is the fits' alone")
    return dict(size=size, N=n, D=d, passes=passes, loss=loss, law=kind,
                range=[fitted[0] - widen, fitted[1] + widen], fit_range=fitted, seed_spread=spread,
                warnings=warnings)
