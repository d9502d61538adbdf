"""`microgpt analyze`: tables (and a plot) of sweep results files and evolve logs; with
--fit, the scaling law fitted to a frontier sweep. The evolve log's tables are laid out here;
the sweeps' tables and the law's lines by microgpt.scaling."""
from pathlib import Path

import click

from ..console import decision_line, json_text
from ..errors import MicrogptError
from ..layout import format_table
from ..scaling.fit import BOOTSTRAP_RESAMPLES
from ..outputs import Output, check_outputs
from .options import COUNT, POSITIVE, console


def _number(value):
    return '-' if value is None else f"{value:.4f}"


def evolution_report(path, log, markdown=False):
    """Per generation: best (its mean and spread), mean and worst fitness, failures and
    distinct architectures; the baselines and finalists, each as mean ± spread; the winner's
    ancestry."""
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


def plot_line(plot_path):
    return f"plot saved to {plot_path}"


def check_files(files, plot_path, fit, as_json, predict):
    """(evolve logs, sweep results files) among files; refused before any work when the
    options do not go together or a file is missing."""
    from ..plots import check_plot_path
    from ..evolve.log import is_evolve_log
    if (as_json or predict) and not fit:
        raise MicrogptError("--json and --predict go with --fit")
    if plot_path:
        check_plot_path(plot_path)  # without matplotlib, say so before any work
    for path in files:
        if not Path(path).is_file():
            raise MicrogptError(f"results file not found: {path}")
    logs = [path for path in files if is_evolve_log(path)]
    return logs, [path for path in files if path not in logs]


def show_law(out, results, plot_path, markdown, as_json, predict, resamples=None):
    """--fit: the law, its intervals, the optima, the held-out check; or its prediction."""
    from ..scaling import frontier as frontiers
    from ..scaling.analysis import load_sweeps
    values = frontiers.parse_prediction(predict) if predict else None
    rows = [row for sweep in load_sweeps(results, warn=out.info) for row in sweep.rows]
    found = frontiers.load_frontier(rows, ', '.join(map(str, results)))
    frontiers.check_fittable(found)
    result = frontiers.fit_frontier(found, **({'resamples': resamples} if resamples else {}))
    if values:
        prediction = frontiers.predict(result, values)
        out.out(json_text(prediction) if as_json else frontiers.prediction_lines(values, prediction))
    elif as_json:
        out.out(json_text(frontiers.fit_json(result)))
    else:
        out.out(frontiers.loss_table(found, markdown) + '\n\n' + frontiers.fit_lines(result))
    if plot_path:
        frontiers.plot_frontier(result, plot_path)
        out.info(plot_line(plot_path))


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
        out.info(plot_line(plot_path))


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
    logs, results = check_files(files, plot_path, fit, as_json, predict)
    check_outputs([Output('--plot', plot_path, 'plot')], [('one of the FILES analyzed', path) for path in files])
    if not fit:
        show_tables(console(), results, logs, plot_path, markdown, tolerance)
    elif logs:
        raise MicrogptError(f"--fit takes the results of `microgpt sweep frontier`; {logs[0]} is an evolve log")
    else:
        from ..training import quiet_arithmetic
        with quiet_arithmetic():  # a prediction far outside the runs overflows: its numbers say so (null in --json)
            show_law(console(), results, plot_path, markdown, as_json, predict, resamples)
