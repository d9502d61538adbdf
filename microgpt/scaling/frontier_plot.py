"""The four panels of a fitted frontier, each titled to read alone (matplotlib, imported when
drawn): loss against FLOPs per size with the lower envelope; IsoFLOP curves with their
parabolas and optima; the fitted laws over the data; N_opt against C with the fitted power laws."""
import statistics

import numpy as np

from . import fit


def _mean_flops(point):
    return statistics.fmean(r['flops'] for r in point.rows)


def _loss_against_compute(ax, frontier, colors):
    for n, size in frontier.sizes:
        rows = sorted((r for r in frontier.rows if r['size'] == size), key=lambda r: r['flops'])
        ax.scatter([r['flops'] for r in rows], [r['val_loss'] for r in rows], s=12, color=colors[size], alpha=0.6)
        points = [p for p in frontier.points if p.size == size]
        ax.plot([_mean_flops(p) for p in points], [p.loss for p in points],
                '-', color=colors[size], label=f"{size} ({n:,} params)")
    envelope = [min((p for p in frontier.points if p.budget == b), key=lambda p: p.loss) for b in frontier.budgets]
    ax.plot([_mean_flops(p) for p in envelope], [p.loss for p in envelope],
            'k--', linewidth=2, label='lower envelope (best size per budget)')
    ax.set(xscale='log', xlabel='training compute C (FLOPs, exact count)', ylabel='validation loss (nats per token)',
           title='loss against compute, one line per model size (dots: seeds)')


def _isoflop_curves(ax, result):
    budget_colors = {b: f"C{i}" for i, b in enumerate(result.frontier.budgets)}
    for curve in result.curves:
        color = budget_colors[curve.budget]
        ax.plot([p.N for p in curve.points], [p.loss for p in curve.points], 'o', color=color,
                label=f"C = {curve.budget:.3g} FLOPs")
        if curve.parabola is not None and curve.window:
            xs = np.geomspace(curve.window[0].N, curve.window[-1].N, 100)
            ax.plot(xs, curve.parabola(xs), '-', color=color, alpha=0.7)
        if curve.optimum:
            ax.plot(*curve.optimum, '*', color=color, markersize=14, markeredgecolor='k')
    ax.set(xscale='log', xlabel='parameters N (all, embeddings included)', ylabel='validation loss, mean over seeds',
           title='IsoFLOP curves: parabola in log N near the best size; star = optimum')


def _laws_over_runs(ax, result, colors):
    frontier, constrained = result.frontier, result.laws['constrained']
    tokens = [r['tokens'] for r in frontier.rows]
    ds = np.geomspace(min(tokens) / 1.5, max(tokens) * 1.5, 200)
    for n, size in frontier.sizes:
        rows = [r for r in frontier.rows if r['size'] == size]
        ax.scatter([r['tokens'] for r in rows], [r['val_loss'] for r in rows], s=14, color=colors[size])
        ax.plot(ds, result.laws['fresh'].loss(n, ds), ':', color=colors[size], alpha=0.8,
                label=f"{size}: fresh-data law at N = {n:,}")
        ax.plot(ds, constrained.loss(n, ds), '-', color=colors[size], alpha=0.8)
    ax.plot([], [], '-', color='gray', label='solid: the data-constrained law at the same N')
    for passes in (1, 10, 100):
        ax.axvline(passes * result.unique_tokens, color='gray', linewidth=0.6, alpha=0.6)
        ax.annotate(f"{passes} pass{'es' if passes > 1 else ''}", (passes * result.unique_tokens, 1.0),
                    xycoords=('data', 'axes fraction'), xytext=(3, -12), textcoords='offset points', fontsize=7)
    ax.set(xscale='log', xlabel='tokens trained D (gray: passes over the training names)',
           ylabel='validation loss (nats per token)')
    ax.set_title(f"the laws over the runs (dots): data-constrained (solid, R_D* = {constrained.R_star:.1f} passes) "
                 f"and fresh-data (dotted)", fontsize=10)


def _optimal_size(ax, result):
    frontier, law, optimal = result.frontier, result.laws['fresh'], result.optimal['fresh']
    cs = np.geomspace(frontier.budgets[0] / 2, frontier.budgets[-1] * 2, 50)
    ax.plot([o['budget'] for o in optimal], [o['N'] for o in optimal], 's', color='C1',
            label=f"fitted law's optimum (a = {law.a:.3f})")
    cost = frontier.flops_per_token()
    ax.plot(cs, [fit.compute_optimal(law, c, cost)[0] for c in cs], '-', color='C1', alpha=0.7)
    ax.plot(cs, [fit.compute_optimal(result.laws['constrained'], c, cost)[0] for c in cs], '-', color='C2', alpha=0.7,
            label="the data-constrained law's optimum")
    vertices = [(c.budget, c.optimum[0]) for c in result.curves if c.optimum]
    if vertices:
        ax.plot(*zip(*vertices), 'o', color='C0', markersize=8, label='IsoFLOP vertices')
    if result.iso_law:
        ax.plot(cs, result.iso_law(cs), '--', color='C0',
                label=f"power law of the vertices: N_opt ~ C^{result.iso_law.exponent:.3f}")
    for n, size in frontier.sizes:
        ax.axhline(n, color='gray', linewidth=0.5, alpha=0.5)
    ax.set(xscale='log', yscale='log', xlabel='training compute C (FLOPs)', ylabel='compute-optimal parameters N_opt',
           title="compute-optimal size against compute (gray: the ladder's sizes)")


def plot_frontier(result, out_path):
    from ..plots import figure_class, save_figure
    fig = figure_class()(figsize=(13, 10), layout='constrained')
    (flops_ax, iso_ax), (law_ax, opt_ax) = fig.subplots(2, 2)
    colors = {size: f"C{i}" for i, (_, size) in enumerate(result.frontier.sizes)}
    _loss_against_compute(flops_ax, result.frontier, colors)
    _isoflop_curves(iso_ax, result)
    _laws_over_runs(law_ax, result, colors)
    _optimal_size(opt_ax, result)
    for ax in (flops_ax, iso_ax, law_ax, opt_ax):
        ax.legend(fontsize=7)
    fig.suptitle("microgpt on the names data: compute-optimal scaling (validation loss; N counts all "
                 "parameters, C the exact FLOPs of training)")
    save_figure(fig, out_path)
