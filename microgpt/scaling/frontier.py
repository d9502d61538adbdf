"""The compute-optimal frontier as `analyze --fit` shows it: the table of loss by size and
budget, the fitted laws' lines, their JSON, a prediction's lines, and the plots
(frontier_plot.py). The fitting itself is in frontier_fit.py."""
import numpy as np

from ..layout import format_table
from . import fit
from .frontier_fit import (ISOFLOP_HALF_WINDOW, check_fittable, fit_frontier, load_frontier,  # noqa: F401
                           one_pass_tokens, parse_prediction, passes_text, predict, returns_of_compute)
from .frontier_plot import plot_frontier  # noqa: F401

LAW_NAMES = {'fresh': 'the fresh-data law', 'constrained': 'the data-constrained law'}
UNDETERMINED_MARK = "not determined by these runs"
LAW_KEYS = (('E', 4), ('A', 3), ('B', 3), ('alpha', 4), ('beta', 4))


def _interval(values, digits):
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def spread_text(frontier):
    """What a ± of the frontier spans."""
    if max(len(p.rows) for p in frontier.points) < 2:
        return "one seed, so the spread between seeds is unknown"
    seeds = sorted({r['seed'] for r in frontier.rows})
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


def _parameter_lines(law, intervals, open_keys, keys=LAW_KEYS):
    lines = []
    for key, digits in keys:
        mark = f"  {UNDETERMINED_MARK}" if key in open_keys else ''
        lines.append(f"  {key:<5} = {getattr(law, key):.{digits}f}  {_interval(intervals[key], digits)}{mark}")
    return lines


def _mark(result, kind, key):
    return f"  {UNDETERMINED_MARK}" if key in result.undetermined[kind] else ''


def _fresh_law_lines(result):
    law, ci = result.law, result.intervals
    lines = [f"fit of L(N, D) = E + A/N^alpha + B/D^beta to {len(result.frontier.rows)} runs (Huber loss, delta "
             f"{fit.HUBER_DELTA:g}, on log loss); 95% intervals from {result.resamples} bootstrap resamples of the runs:"]
    lines += _parameter_lines(law, ci, result.undetermined['fresh'])
    lines.append(f"  a     = {law.a:.4f}  {_interval(ci['a'], 4)}   (N_opt ~ C^a, a = beta/(alpha+beta); "
                 f"Chinchilla 0.46, Epoch's refit about 0.51){_mark(result, 'fresh', 'a')}")
    lines.append("compute-optimal size and tokens by the fitted law:")
    for opt in result.optimal:
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens "
                     f"({opt['D'] / opt['N']:.1f} per parameter), loss {opt['loss']:.4f}")
    return lines


def _constrained_law_lines(result):
    dc, dci, U = result.constrained, result.constrained_intervals, result.unique_tokens
    lines = [f"data-constrained fit (Muennighoff et al. 2023): D replaced by D' = U + U R_D* (1 - exp(-R/R_D*)), "
             f"U one pass over the training names (about {U:,.0f} tokens, from the runs), R = D/U - 1 the passes "
             f"beyond the first; the same fit and resamples, all six parameters together:"]
    lines += _parameter_lines(dc, dci, result.undetermined['constrained'])
    lines.append(f"  R_D*  = {dc.R_star:.2f}  {_interval(dci['R_star'], 2)}   (passes; the paper's fit 15.4)"
                 f"{_mark(result, 'constrained', 'R_star')}")
    half = dc.R_star * np.log(2) + 1
    lines.append(f"what passes over the same names are worth by the data-constrained law (in passes of fresh names): "
                 f"a token of pass {half:.1f} is worth half a fresh one; "
                 + ', '.join(f"{k} passes are worth {float(dc.effective_tokens(k * U)) / U:.2f}" for k in (2, 4, 8, 16, 64))
                 + f"; no number of passes is worth more than {1 + dc.R_star:.2f}")
    lines.append("compute-optimal size and tokens by the data-constrained law:")
    for opt in result.constrained_optimal:
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens "
                     f"({passes_text(opt['epochs'])} passes), loss {opt['loss']:.4f}")
    return lines


def _isoflop_lines(result):
    lines = [f"IsoFLOP parabolas in log N (the best size and up to {ISOFLOP_HALF_WINDOW} neighbours each side):"]
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
    return lines


def _holdout_lines(h):
    if not h:
        return ["held-out check: needs at least three budgets"]
    parts = [f"{LAW_NAMES[kind]} {c['predicted']:.4f} ({c['predicted_size']}, {c['rel_error']:+.2%})"
             for kind, c in h['laws'].items()]
    lines = [f"held-out check: fitted without the {h['budget']:.3g} FLOPs runs, the laws predict that "
             f"budget's best loss as {'; '.join(parts)}; measured {h['measured']:.4f} ({h['measured_size']})"]
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
    return lines


def _returns_lines(frontier, U):
    typical = frontier.typical_spread()
    if typical is None:
        return ["returns of compute per size: one seed, so the spread between seeds is unknown and no change "
                "between budgets is interpreted"]
    lines = [f"returns of compute per size (a step to the next budget pays when the loss falls by more than "
             f"the larger of the two points' seed half-ranges and their typical {typical:.4f}):"]
    for r in returns_of_compute(frontier):
        lowest, paid = r['lowest'], r['last_paid']
        text = (f"  {r['size']}: lowest {lowest.loss:.4f} at {lowest.budget:.3g} FLOPs "
                f"({passes_text(lowest.D / U)} passes); ")
        if not r['beyond']:
            text += f"still paying at its largest budget, {paid.budget:.3g} FLOPs"
        else:
            text += (f"more compute stops paying after {paid.budget:.3g} FLOPs ({passes_text(paid.D / U)} passes): "
                     + ', '.join(f"{s['budget']:.3g} changes it by {s['change']:+.4f}" for s in r['beyond']))
        lines.append(text)
    return lines


def fit_lines(result):
    lines = (_fresh_law_lines(result) + _constrained_law_lines(result) + _isoflop_lines(result)
             + _holdout_lines(result.holdout) + _returns_lines(result.frontier, result.unique_tokens))
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
             f"{prediction['D']:,.0f} tokens, {passes_text(prediction['passes'])} passes over the training names) by "
             f"{LAW_NAMES[prediction['law']]}: {prediction['loss']:.4f}, {span}"]
    lines += [f"warning: {w}" for w in prediction['warnings']]
    return '\n'.join(lines)
