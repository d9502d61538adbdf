import sys

import pytest

from microgpt.scaling import analysis, plans, sweep
from microgpt import reproducibility
from microgpt.cli import main

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
    assert header[0] == 'size' and header[-2:] == ['change', 'tolerance']
    assert body[1][header.index('params')] == '26,816' and body[1][-2:] == ['-0.4000', '±0.0100']


def test_a_difference_within_the_tolerance_is_called_noise_not_a_finding():
    rows = steps_rows([3.0, 2.5, 2.497, 2.495, 2.52])
    [found] = analysis.group_sweeps(rows)
    header, body = analysis.table_rows(found, tolerance=0.01)
    assert [cells[-2] for cells in body] == ['-', '-0.5000', '-0.0030 (noise)', '-0.0020 (noise)',
                                             '+0.0250']
    assert analysis.verdict(found, tolerance=0.01) == (
        "validation loss comes within the tolerance of its lowest (2.4950 at 7,000 steps) already at 3,000 "
        "(tolerance ±0.0100, the given tolerance): more steps beyond 3,000 are not shown to pay; at 9,000 "
        "it is worse by 0.0250, beyond its tolerance (±0.0100)")
    # a wider tolerance swallows the last rise too
    assert 'worse by' not in analysis.verdict(found, tolerance=0.03)


def test_without_seeds_the_tolerance_is_the_cross_machine_drift_of_the_run_length():
    [single] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.4995, 2.4]))
    header, body = analysis.table_rows(single)
    # 1,000 -> 3,000 steps: drift 2e-4; 5,000 steps: 2e-4; 7,000: 1e-3 (DRIFT)
    assert [cells[-2:] for cells in body] == [['-', '-'], ['-0.5000', '±0.0002'],
                                              ['-0.0005', '±0.0002'], ['-0.0995', '±0.0010']]
    [noisy] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.4999]))
    assert analysis.table_rows(noisy)[1][2][-2] == '-0.0001 (noise)'


def test_beyond_the_measured_drift_one_seed_interprets_nothing():
    plan = plans.steps_plan(30000, 50000, 20000, **COMMON)
    rows = [dict(spec, data_sha256='d', params=4192, seconds=1.0, train_loss=2.4, val_loss=val)
            for spec, val in zip(plan, [2.3, 2.2])]
    [long] = analysis.group_sweeps(rows)
    assert analysis.verdict(long) == (
        "validation loss 2.3000 at 30,000 steps, 2.2000 at 50,000; differences between runs are not "
        "interpreted (one seed only, so the spread between seeds is unknown: run more seeds or give --tolerance)")
    assert analysis.table_rows(long)[1][1][-2:] == ['-0.1000', '-']
    assert analysis.verdict(long, tolerance=0.2).startswith(
        'validation loss comes within the tolerance of its lowest (2.2000 at 50,000 steps) already at 30,000 '
        '(tolerance ±0.2000, the given tolerance)')


def test_the_seeds_spread_counts_where_it_is_larger_than_the_drift():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.40]) + steps_rows([3.0, 2.52, 2.41], seed=2))
    assert analysis.tolerance_of(found) == (pytest.approx(0.01), "the 2 seeds' spread")
    assert analysis.tolerance_of(found, steps=21000)[0] == 0.02  # the drift of long runs is larger
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
    assert lines[2].split() == ['steps', 'params', 'time', 'train', 'loss', 'val', 'loss', 'change', 'tolerance']
    assert lines[3].split() == ['1,000', '4,192', '1.0s', '3.1000', '3.0000', '-', '-']
    assert lines[4].split() == ['3,000', '4,192', '1.0s', '2.6000', '2.5000', '-0.5000', '±0.0002']
    assert len({len(line) for line in lines[2:5]}) == 1  # aligned columns
    markdown = analysis.report([found], markdown=True).splitlines()
    assert markdown[0].startswith('**steps sweep') and markdown[3] == '| ---: ' * 7 + '|'
    assert markdown[5] == '| 3,000 | 4,192 | 1.0s | 2.6000 | 2.5000 | -0.5000 | ±0.0002 |'
    two = analysis.report(analysis.group_sweeps(steps_rows([3.0, 2.5]) + steps_rows([3.02, 2.49], seed=2)))
    lines = two.splitlines()
    assert lines[2].split()[-4:] == ['±', 'seeds', 'change', 'tolerance']
    assert lines[3].split() == ['1,000', '4,192', '1.0s', '3.1100', '3.0100', '0.0100', '-', '-']
    assert lines[4].split() == ['3,000', '4,192', '1.0s', '2.5950', '2.4950', '0.0050', '-0.5150', '±0.0100']


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
    assert table[1][5] == f"{change:+.4f}" and table[0][5] == '-'
    assert lines[7].startswith(('validation loss comes within', 'lowest validation loss',
                                'validation loss still falls beyond the tolerance (±0.0002, the cross-machine'))
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
    assert result.stderr.strip() == "Error: plotting needs matplotlib: pip install 'microgpt[plot]'"
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
