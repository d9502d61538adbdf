import sys

import pytest

from microgpt import reproducibility
from microgpt.cli import main
from microgpt.scaling import analysis, plans, sweep

COMMON = dict(seed=1, lr=0.01, engine='numpy')
# A stand-in for the measured cross-machine drift, so these tests do not move with its figures.
DRIFT = ((5_000, 2e-4), (10_000, 1e-3), (21_000, 2e-2))


@pytest.fixture(autouse=True)
def fixed_drift(monkeypatch):
    monkeypatch.setattr(reproducibility, 'CROSS_MACHINE_TOLERANCE', DRIFT)
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def steps_rows(val_losses, seed=1):
    """Finished steps-sweep rows for 1,000, 3,000, ... steps with these validation losses."""
    plan = plans.steps_plan(1000, 1000 + 2000 * (len(val_losses) - 1), 2000, **dict(COMMON, seed=seed))
    return [dict(spec, data_sha256='d', params=4192, seconds=1.0, train_loss=val + 0.1, val_loss=val)
            for spec, val in zip(plan, val_losses)]


def test_changes_are_of_the_mean_validation_loss_over_seeds():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.3, 2.3]) + steps_rows([3.2, 2.5, 2.4, 2.2], seed=2))
    assert found.xs == [1000, 3000, 5000, 7000] and found.seeds == [1, 2]
    assert [found.val_loss(x) for x in found.xs] == pytest.approx([3.1, 2.5, 2.35, 2.25])
    assert analysis.changes(found) == [None, pytest.approx(-0.6), pytest.approx(-0.15), pytest.approx(-0.1)]
    assert found.spread(1000) == pytest.approx(0.1) and found.seed_spread() == pytest.approx(0.1)


def test_params_sweeps_follow_parameter_order():
    plan = plans.params_plan(['large', 'small'], 100, **COMMON)
    rows = [dict(plan[0], data_sha256='d', params=26816, seconds=2.0, train_loss=2.2, val_loss=2.1),
            dict(plan[1], data_sha256='d', params=1328, seconds=1.0, train_loss=2.6, val_loss=2.5)]
    [found] = analysis.group_sweeps(rows)
    assert [found.at(x)[0]['size'] for x in found.xs] == ['small', 'large']
    header, body = analysis.table_rows(found, tolerance=0.01)
    assert header[0] == 'size' and header[-3:] == ['change', 'ROI (drop per 1,000 params)', 'tolerance']
    # 0.4 lower for 25,488 more parameters: a return of 0.0157 per 1,000
    assert body[1][header.index('params')] == '26,816' and body[1][-3:] == ['-0.4000', '+0.0157', '±0.0100']


def test_a_difference_within_the_tolerance_is_called_noise_not_a_finding():
    rows = steps_rows([3.0, 2.5, 2.497, 2.495, 2.52])
    [found] = analysis.group_sweeps(rows)
    header, body = analysis.table_rows(found, tolerance=0.01)
    assert [cells[-3] for cells in body] == ['-', '-0.5000', '-0.0030 (noise)', '-0.0020 (noise)',
                                             '+0.0250']
    assert [cells[-2] for cells in body] == ['-', '+0.2500', '+0.0015 (noise)', '+0.0010 (noise)', '-0.0125']
    assert analysis.verdict(found, tolerance=0.01) == (
        "validation loss comes within the tolerance of its lowest (2.4950 at 7,000 steps) already at 3,000 "
        "(tolerance ±0.0100, the given tolerance): more steps beyond 3,000 are not shown to pay; at 9,000 "
        "it is worse by 0.0250, beyond its tolerance (±0.0100)")
    # a wider tolerance swallows the last rise too
    assert 'worse by' not in analysis.verdict(found, tolerance=0.03)


def test_with_one_seed_the_tolerance_is_the_typical_seed_spread_of_runs_that_long(monkeypatch):
    monkeypatch.setattr(analysis, 'TYPICAL_SEED_SPREAD', ((1_000, 1_000, 0.011), (1_001, 21_000, 0.006)))
    [single] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.4977, 2.3977]))
    header, body = analysis.table_rows(single)
    # one seed: the spread of runs up to 7,000 steps (0.006) is larger than their drift (DRIFT, <= 1e-3)
    assert [cells[-3:] for cells in body] == [['-', '-', '-'], ['-0.5000', '+0.2500', '±0.0060'],
                                              ['-0.0023 (noise)', '+0.0011 (noise)', '±0.0060'],
                                              ['-0.1000', '+0.0500', '±0.0060']]
    assert analysis.tolerance_of(single, None, 3000) == (
        0.006, "the typical spread of 4 seeds at 3,000 steps in the shipped sweeps, this sweep having one seed, "
               "the larger of it and the cross-machine drift at 3,000 steps")
    assert analysis.tolerance_of(single, None, 21000)[0] == 0.02  # the drift of long runs is larger
    assert analysis.tolerance_of(single, None, 500)[0] is None  # shorter than any measured spread


def test_the_typical_seed_spread_is_the_shipped_multi_seed_sweeps_median():
    """TYPICAL_SEED_SPREAD is recomputed from the shipped steps and params sweeps of several seeds."""
    import statistics
    from conftest import REPO
    files = sorted((REPO / 'experiments').glob('sweep-steps-*.jsonl')) + sorted((REPO / 'experiments').glob('sweep-params-*.jsonl'))
    found = [s for s in analysis.load_sweeps(files, warn=pytest.fail) if len(s.seeds) > 1]
    assert found and {len(s.seeds) for s in found} == {analysis.TYPICAL_SPREAD_SEEDS}
    spreads = [(max(r['steps'] for r in s.at(x)), s.spread(x)) for s in found for x in s.xs]
    for shortest, longest, typical in analysis.TYPICAL_SEED_SPREAD:
        inside = [spread for steps, spread in spreads if shortest <= steps <= longest]
        assert inside and round(statistics.median(inside), 4) == typical
    assert analysis.typical_seed_spread(999) is None and analysis.typical_seed_spread(21001) is None


def test_beyond_the_measured_drift_one_seed_interprets_nothing():
    plan = plans.steps_plan(30000, 50000, 20000, **COMMON)
    rows = [dict(spec, data_sha256='d', params=4192, seconds=1.0, train_loss=2.4, val_loss=val)
            for spec, val in zip(plan, [2.3, 2.2])]
    [long] = analysis.group_sweeps(rows)
    assert analysis.verdict(long) == (
        "validation loss 2.3000 at 30,000 steps, 2.2000 at 50,000; differences between runs are not "
        "interpreted (one seed only, so the spread between seeds is unknown, and runs of 50,000 steps are outside "
        "the lengths whose typical spread was measured (1,000 to 21,000): run more seeds or give --tolerance)")
    assert analysis.table_rows(long)[1][1][-3:] == ['-0.1000 (spread unknown)', '+0.0050 (spread unknown)', '-']
    assert analysis.verdict(long, tolerance=0.2).startswith(
        'validation loss comes within the tolerance of its lowest (2.2000 at 50,000 steps) already at 30,000 '
        '(tolerance ±0.2000, the given tolerance)')


def test_the_seeds_spread_counts_where_it_is_larger_than_the_drift():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.40]) + steps_rows([3.0, 2.52, 2.41], seed=2))
    assert analysis.tolerance_of(found, None, 5000) == (
        pytest.approx(0.01), "the 2 seeds' spread, the larger of it and the cross-machine drift at 5,000 steps")
    assert analysis.tolerance_of(found, None, 21000)[0] == 0.02  # the drift of long runs is larger
    assert analysis.verdict(found).startswith(
        "validation loss still falls beyond the tolerance (±0.0100, the 2 seeds' spread, the larger of it "
        "and the cross-machine drift at 5,000 steps) at the last run: 2.5100 at 3,000 steps, 2.4050 at 5,000")
    [one] = analysis.group_sweeps(steps_rows([3.0]))
    assert 'one run only' in analysis.verdict(one)


def test_sweeps_are_grouped_by_settings_seeds_together_and_a_run_counts_once():
    rows = steps_rows([3.0, 2.5], seed=1) + steps_rows([3.1, 2.6, 2.5], seed=2) + steps_rows([3.0], seed=1)
    other_lr = [dict(row, lr=0.02) for row in steps_rows([3.3])]
    found = analysis.group_sweeps(rows + other_lr)
    assert [(s.seeds, len(s.rows)) for s in found] == [([1, 2], 5), ([1], 1)]


def test_text_and_markdown_tables():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5]))
    text = analysis.report([found])
    lines = text.splitlines()
    assert lines[0].startswith('steps sweep: medium model (n_embd 16, n_head 4, n_layer 1; 4,192 params), seed 1')
    assert lines[2].split() == ['steps', 'params', 'time', 'train', 'loss', 'val', 'loss', 'change', 'ROI',
                                '(drop', 'per', '1,000', 'steps)', 'tolerance']
    assert lines[3].split() == ['1,000', '4,192', '1.0s', '3.1000', '3.0000', '-', '-', '-']
    assert lines[4].split() == ['3,000', '4,192', '1.0s', '2.6000', '2.5000', '-0.5000', '+0.2500',
                                f"±{analysis.typical_seed_spread(3000):.4f}"]
    assert lines[6] == ("one seed: the spread between seeds is unknown; change: from the row above; ROI (return on "
                        "investment): that change as a loss drop per 1,000 more steps; (noise): within the tolerance")
    assert len({len(line) for line in lines[2:5]}) == 1  # aligned columns
    markdown = analysis.report([found], markdown=True).splitlines()
    assert markdown[0].startswith('**steps sweep') and markdown[3] == '| ---: ' * 8 + '|'
    assert markdown[5] == f"| 3,000 | 4,192 | 1.0s | 2.6000 | 2.5000 | -0.5000 | +0.2500 | ±{analysis.typical_seed_spread(3000):.4f} |"
    two = analysis.report(analysis.group_sweeps(steps_rows([3.0, 2.5]) + steps_rows([3.02, 2.49], seed=2)))
    lines = two.splitlines()
    assert lines[2].split()[7:11] == ['±', 'seeds', '(own', 'splits)']
    assert lines[3].split() == ['1,000', '4,192', '1.0s', '3.1100', '3.0100', '0.0100', '-', '-', '-']
    assert lines[4].split() == ['3,000', '4,192', '1.0s', '2.5950', '2.4950', '0.0050', '-0.5150', '+0.2575', '±0.0100']
    assert lines[6].startswith("±: half the range of the 2 seeds' validation losses (each seed scored on the "
                               "validation split it draws, so it spans the splits too)")


def test_tiny_sweep_end_to_end_table_and_plot(runner, tmp_path, names_docs):
    pytest.importorskip('matplotlib')
    data = tmp_path / 'tiny.txt'
    data.write_text('\n'.join(names_docs[:150]) + '\n')
    result = runner.invoke(main, ['sweep', 'steps', '--data', str(data), '--from', '10', '--to', '50',
                                  '--every', '20', '--size', 'small', '--workers', '1'])
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / 'experiments').glob('sweep-steps-*.jsonl')
    rows = sorted(sweep.read_rows(path, print), key=lambda r: r['steps'])

    result = runner.invoke(main, ['analyze', str(path), '--plot', 'out.png'])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith('steps sweep: small model') and '3 runs' in lines[0]
    table = [line.split() for line in lines[3:6]]
    assert [cells[0] for cells in table] == ['10', '30', '50']
    assert [cells[4] for cells in table] == [f"{r['val_loss']:.4f}" for r in rows]
    assert [cells[3] for cells in table] == [f"{r['train_loss']:.4f}" for r in rows]
    change = rows[1]['val_loss'] - rows[0]['val_loss']
    # runs of 10 to 50 steps with one seed: no measured spread, so every change is marked unknown
    assert table[1][5:8] == [f"{change:+.4f}", '(spread', 'unknown)'] and table[0][5] == '-'
    assert lines[9].startswith('validation loss ')
    assert 'differences between runs are not interpreted' in lines[9]
    png = (tmp_path / 'out.png').read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 5000
    assert 'plot saved to out.png' in result.stderr


def write_rows(path, rows):
    for row in rows:
        sweep.append_row(path, row)


def test_analyze_several_files_and_a_corrupt_line(runner, tmp_path):
    write_rows(tmp_path / 'a.jsonl', steps_rows([3.0, 2.5], seed=1))
    write_rows(tmp_path / 'b.jsonl', steps_rows([3.2, 2.7, 2.6], seed=2))
    with open(tmp_path / 'b.jsonl', 'a') as f:
        f.write('{"torn')
    result = runner.invoke(main, ['analyze', 'a.jsonl', 'b.jsonl', '--markdown'])
    assert result.exit_code == 0, result.output
    titles = [line for line in result.stdout.splitlines() if line.startswith('**')]
    assert len(titles) == 1 and 'seeds 1, 2' in titles[0] and '5 runs' in titles[0]
    assert 'b.jsonl:4: skipped: not a complete JSON line' in result.stderr


def test_analyze_without_matplotlib_says_how_to_install_it(runner, tmp_path, monkeypatch):
    write_rows(tmp_path / 'a.jsonl', steps_rows([3.0, 2.5]))
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)  # as if not installed
    result = runner.invoke(main, ['analyze', 'a.jsonl', '--plot', 'out.png'])
    assert result.exit_code == 1 and result.stdout == ''
    assert result.stderr.strip() == "Error: plotting needs matplotlib: pip install matplotlib (from a clone of microgpt: pip install -e '.[plot]')"
    assert not (tmp_path / 'out.png').exists()


@pytest.mark.parametrize('setup, args, fragment', [
    (None, ['missing.jsonl'], 'results file not found: missing.jsonl'),
    ('', ['a.jsonl'], 'no finished runs in a.jsonl'),
    ('{"half', ['a.jsonl'], 'no finished runs in a.jsonl'),
])
def test_analyze_bad_input_is_one_line(runner, tmp_path, setup, args, fragment):
    if setup is not None:
        (tmp_path / 'a.jsonl').write_text(setup)
    result = runner.invoke(main, ['analyze', *args])
    assert result.exit_code == 1 and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_plot_needs_a_known_image_suffix(runner, tmp_path):
    pytest.importorskip('matplotlib')
    write_rows(tmp_path / 'a.jsonl', steps_rows([3.0, 2.5]))
    for name, fragment in [('out', 'needs a suffix'), ('out.nope', 'plot file out.nope needs a suffix')]:
        result = runner.invoke(main, ['analyze', 'a.jsonl', '--plot', name])
        assert result.exit_code == 1 and fragment in result.stderr, result.stderr
        assert not (tmp_path / name).exists()


def test_a_rise_beyond_the_tolerance_after_the_best_is_named():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.6]))
    assert analysis.verdict(found, tolerance=0.01) == (
        "lowest validation loss 2.5000 at 3,000 steps (tolerance ±0.0100, the given tolerance): more steps "
        "beyond 3,000 are not shown to pay; at 5,000 it is worse by 0.1000, beyond its tolerance (±0.0100)")
