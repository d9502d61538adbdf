"""`microgpt analyze`: tables (and a plot) of sweep results files and evolve logs; with --fit, the scaling law
fitted to a frontier sweep. The evolve log's tables and the law's lines are laid out here, the sweeps' tables
by microgpt.scaling.analysis."""
from pathlib import Path

import click
import numpy as np

from ..console import decision_line, json_text
from ..errors import MicrogptError
from ..files.outputs import Output, check_outputs
from ..layout import format_table
from ..scaling import frontier as frontiers
from ..scaling.fit import BOOTSTRAP_RESAMPLES, HUBER_DELTA, UNDETERMINED_FACTOR
from ..scaling.frontier import passes_text
from .options import COUNT, POSITIVE, console


def _number(value):
    return '-' if value is None else f"{value:.4f}"


def evolution_report(path, log, markdown=False):
    """Per generation: best (mean and spread), mean and worst fitness, failures and distinct
    architectures; the baselines and finalists as mean ± spread; the winner's ancestry."""
    from ..evolve.fitness import describe_score
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
    if log.decision is not None:
        parts.append(decision_line(log.decision, lambda score, spread: describe_score(run['fitness'], score, spread)))
    lines = ancestry_lines(log)
    parts.append("the winner's ancestry (generation.index, birth, mean score):\n" + '\n'.join(
        ('    ' if markdown else '  ') + line for line in lines))
    return '\n\n'.join(parts)


# --- the lines of --fit ---------------------------------------------------------------------------

LAW_NAMES = {'fresh': 'the fresh-data law', 'constrained': 'the data-constrained law'}
LAW_KEYS = (('E', 4), ('A', 3), ('B', 3), ('alpha', 4), ('beta', 4))


def _interval(values, digits):
    return f"[{values[0]:.{digits}f}, {values[1]:.{digits}f}]"


def _parameter_lines(result, kind, extra):
    """A line per parameter of the law `kind` (LAW_KEYS, then `extra`: (name, key, digits, note)): its
    value, its interval and what it means."""
    law, intervals, open_keys = result.laws[kind], result.intervals[kind], result.undetermined[kind]
    return [f"  {name:<5} = {getattr(law, key):.{digits}f}  {_interval(intervals[key], digits)}"
            + (f"   ({note})" if note else '') + ("  not determined by these runs" if key in open_keys else '')
            for name, key, digits, note in [(key, key, digits, '') for key, digits in LAW_KEYS] + [extra]]


def _optimal_lines(result, kind):
    lines = [f"compute-optimal size and tokens by {'the fitted law' if kind == 'fresh' else LAW_NAMES[kind]}:"]
    for opt in result.optimal[kind]:
        per = (f"{opt['D'] / opt['N']:.1f} per parameter" if kind == 'fresh'
               else f"{passes_text(opt['epochs'])} passes")
        lines.append(f"  C {opt['budget']:.3g}: N_opt {opt['N']:,.0f}, D_opt {opt['D']:,.0f} tokens ({per}), "
                     f"loss {opt['loss']:.4f}")
    return lines


def _law_lines(result):
    dc, U = result.laws['constrained'], result.unique_tokens
    lines = [f"fit of L(N, D) = E + A/N^alpha + B/D^beta to {len(result.frontier.rows)} runs (Huber loss, delta "
             f"{HUBER_DELTA:g}, on log loss); 95% intervals from {result.resamples} bootstrap resamples of the "
             f"runs:"]
    lines += _parameter_lines(result, 'fresh', ('a', 'a', 4, "N_opt ~ C^a, a = beta/(alpha+beta); Chinchilla 0.46, "
                                                            "Epoch's refit about 0.51"))
    lines += _optimal_lines(result, 'fresh')
    lines.append(f"data-constrained fit (Muennighoff et al. 2023): D replaced by D' = U + U R_D* (1 - exp(-R/R_D*)), "
                 f"U one pass over the training names (about {U:,.0f} tokens, from the runs), R = D/U - 1 the passes "
                 f"beyond the first; the same fit and resamples, all six parameters together:")
    lines += _parameter_lines(result, 'constrained', ('R_D*', 'R_star', 2, "passes; the paper's fit 15.4"))
    half = dc.R_star * np.log(2) + 1
    lines.append(f"what passes over the same names are worth by the data-constrained law (in passes of fresh names): "
                 f"a token of pass {half:.1f} is worth half a fresh one; "
                 + ', '.join(f"{k} passes are worth {float(dc.effective_tokens(k * U)) / U:.2f}"
                             for k in (2, 4, 8, 16, 64))
                 + f"; no number of passes is worth more than {1 + dc.R_star:.2f}")
    return lines + _optimal_lines(result, 'constrained')


def _isoflop_lines(result):
    lines = [f"IsoFLOP parabolas in log N (the best size and up to {frontiers.ISOFLOP_HALF_WINDOW} neighbours "
             f"each side):"]
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
    close = ('' if h['told_apart'] else
             ", by less than the seeds' typical spread, so the check does not tell the two apart")
    return lines + [f"  the better on the held-out budget: {LAW_NAMES[h['better']]}{close}"]


def _returns_lines(frontier, U):
    typical = frontier.typical_spread()
    if typical is None:
        return ["returns of compute per size: one seed, so the spread between seeds is unknown and no change "
                "between budgets is interpreted"]
    lines = [f"returns of compute per size (a step to the next budget pays when the loss falls by more than "
             f"the larger of the two points' seed half-ranges and their typical {typical:.4f}):"]
    for r in frontiers.returns_of_compute(frontier):
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
    lines = (_law_lines(result) + _isoflop_lines(result) + _holdout_lines(result.holdout)
             + _returns_lines(result.frontier, result.unique_tokens))
    for kind, keys in result.undetermined.items():
        if keys:
            lines.append(f"not determined by these runs ({LAW_NAMES[kind]}): {', '.join(keys)}: their 95% interval "
                         f"spans more than a factor of {UNDETERMINED_FACTOR:g} or reaches a bound; "
                         f"--predict warns when a prediction depends on them")
    return '\n'.join(lines)


def fit_json(result):
    iso = result.iso_law
    return dict(result.laws['fresh'].to_dict(), ci=result.intervals['fresh'], holdout=result.holdout,
               runs=len(result.frontier.rows), resamples=result.resamples, lr=result.frontier.lr,
               compute_optimal=result.optimal['fresh'],
               isoflop=dict(vertices=[dict(budget=c.budget, N=c.optimum[0], loss=c.optimum[1])
                                      for c in result.curves if c.optimum],
                            a=iso.exponent if iso else None, a_ci=result.iso_interval, k=iso.k if iso else None),
               unique_tokens=result.unique_tokens, undetermined=result.undetermined,
               data_constrained=dict(result.laws['constrained'].to_dict(), ci=result.intervals['constrained'],
                                     compute_optimal=result.optimal['constrained']),
               better=result.better)


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


def show_law(out, results, plot_path, markdown, as_json, predict, resamples):
    """--fit: the law, its intervals, the optima, the held-out check; or its prediction."""
    from ..scaling.analysis import load_sweeps, loss_table
    from ..scaling.frontier_plot import plot_frontier
    values = frontiers.parse_prediction(predict) if predict else None
    rows = [row for sweep in load_sweeps(results, warn=out.info) for row in sweep.rows]
    found = frontiers.load_frontier(rows, ', '.join(map(str, results)))
    result = frontiers.fit_frontier(found, resamples)
    if values:
        prediction = frontiers.predict(result, values)
        out.out(json_text(prediction) if as_json else prediction_lines(values, prediction))
    elif as_json:
        out.out(json_text(fit_json(result)))
    else:
        out.out(loss_table(found, markdown) + '\n\n' + fit_lines(result))
    if plot_path:
        plot_frontier(result, plot_path)


def show_tables(out, results, logs, plot_path, markdown, tolerance):
    """The tables of sweep results and of evolve logs; the plot of one kind."""
    from ..evolve.log import load_evolve_log
    from ..scaling.analysis import load_sweeps, plot_sweeps, report
    if plot_path and logs and (results or len(logs) > 1):
        raise MicrogptError("--plot draws one evolve log, or sweep results files: give one kind")
    parts, found = [], None
    if results:
        found = load_sweeps(results, warn=out.info)
        parts.append(report(found, markdown=markdown, tolerance=tolerance))
    evolutions = [(path, load_evolve_log(path)) for path in logs]
    parts += [evolution_report(path, log, markdown) for path, log in evolutions]
    out.out('\n\n'.join(parts))
    if plot_path:
        if evolutions:
            from ..plots import plot_evolution
            plot_evolution(evolutions[0][1], plot_path)
        else:
            curves = [s for s in found if s.kind != 'frontier']
            if not curves:
                raise MicrogptError("the plots of a frontier sweep show its fitted law: add --fit")
            plot_sweeps(curves, plot_path)


@click.command()
@click.argument('files', nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option('--plot', 'plot_path', type=click.Path(dir_okay=False), default=None,
              help="Also draw the results to this image (.png, .svg, .pdf): loss against steps / "
                   "parameters for sweeps, fitness and diversity against generation for evolve logs.")
@click.option('--markdown', is_flag=True, help="Print the tables as Markdown.")
@click.option('--fit', 'fit', is_flag=True,
              help="Fit L(N, D) = E + A/N^alpha + B/D^beta to the results of `sweep frontier`, and its "
                   "data-constrained form (Muennighoff et al. 2023: repeated passes over the data decay "
                   "in value over R_D* passes): the parameters with bootstrap 95% intervals (those the runs "
                   "do not determine marked), a = beta/(alpha+beta), the compute-optimal size of each "
                   "budget, IsoFLOP optima, a held-out check of the largest budget naming the better law, "
                   "and where more compute stops paying at each size. With --plot: four plots of the "
                   "frontier and the laws.")
@click.option('--json', 'as_json', is_flag=True,
              help="With --fit: print one JSON object (E, A, B, alpha, beta, a, ci, data_constrained, "
                   "holdout, better, undetermined, ...).")
@click.option('--predict', metavar='C=FLOPS|N=PARAMS,C=FLOPS', default=None,
              help="With --fit: the predicted loss at a budget, for the ladder's best size or for N "
                   "parameters, by the law that predicted the held-out budget better: its passes over the "
                   "data, its range, and warnings where it leaves the runs' budgets, sizes or passes or "
                   "depends on a parameter they do not determine (JSON: size, N, D, passes, loss, range, "
                   "law, warnings).")
@click.option('--resamples', type=COUNT, default=BOOTSTRAP_RESAMPLES, show_default=True,
              help="With --fit: bootstrap resamples of the runs behind the 95% intervals.")
@click.option('--tolerance', type=POSITIVE, default=None,
              help="Loss difference below which two runs of a steps or params sweep are not told apart "
                   "(marked 'noise'). Default: the largest half-range between the seeds of the sweep; "
                   "with one seed, the typical spread of 4 seeds that the shipped sweeps measured for "
                   "runs that long, and outside those lengths differences are not interpreted.")
def analyze(files, plot_path, markdown, fit, as_json, predict, resamples, tolerance):
    """Tables of sweep results files (loss against steps or parameters, and the return of each
    increase) and of evolve logs (per generation: best, mean, worst, distinct architectures);
    with --fit, the scaling law of a frontier sweep.

    \b
    Examples:
      microgpt analyze experiments/sweep-*.jsonl --markdown --plot scaling.png
      microgpt analyze experiments/sweep-frontier-*.jsonl --fit --plot frontier.png
      microgpt analyze experiments/sweep-frontier-*.jsonl --fit --predict C=3e12 --json
    """
    from ..evolve.log import is_evolve_log
    from ..plots import check_plot_path
    from ..training.run import quiet_arithmetic
    if (as_json or predict) and not fit:
        raise MicrogptError("--json and --predict go with --fit")
    if plot_path:
        check_plot_path(plot_path)  # without matplotlib, say so before any work
    for path in files:
        if not Path(path).is_file():
            raise MicrogptError(f"results file not found: {path}")
    logs = [path for path in files if is_evolve_log(path)]
    results = [path for path in files if path not in logs]
    check_outputs([Output('--plot', plot_path, 'plot')], [('one of the FILES analyzed', path) for path in files])
    out = console()
    if not fit:
        show_tables(out, results, logs, plot_path, markdown, tolerance)
    elif logs:
        raise MicrogptError(f"--fit takes the results of `microgpt sweep frontier`; {logs[0]} is an evolve log")
    else:
        with quiet_arithmetic():  # a prediction far outside the runs overflows: its numbers say so (null in --json)
            show_law(out, results, plot_path, markdown, as_json, predict, resamples)
    if plot_path:
        out.info(f"plot saved to {plot_path}")
