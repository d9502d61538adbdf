import sys

import pytest

from microgpt.scaling import analysis, plans, sweep
from microgpt.cli import main

COMMON = dict(seed=1, lr=0.01, engine='numpy')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def steps_rows(val_losses, seed=1):
    """Finished steps-sweep rows for 1,000, 3,000, ... steps with these validation losses."""
    plan = plans.steps_plan(1000, 1000 + 2000 * (len(val_losses) - 1), 2000, **dict(COMMON, seed=seed))
    return [dict(spec, data_sha256='d', params=4192, seconds=1.0, train_loss=val + 0.1, val_loss=val)
            for spec, val in zip(plan, val_losses)]


def test_returns_are_validation_loss_drop_per_1000_extra_steps():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.3, 2.3]))
    assert found.xs == [1000, 3000, 5000, 7000]
    assert analysis.returns(found) == [None, pytest.approx(0.25), pytest.approx(0.1), pytest.approx(0.0)]


def test_returns_per_1000_params_follow_parameter_order():
    plan = plans.params_plan(['large', 'small'], 100, **COMMON)
    rows = [dict(plan[0], data_sha256='d', params=26816, seconds=2.0, train_loss=2.2, val_loss=2.1),
            dict(plan[1], data_sha256='d', params=1328, seconds=1.0, train_loss=2.6, val_loss=2.5)]
    [found] = analysis.group_sweeps(rows)
    assert [r['size'] for r in found.rows] == ['small', 'large']
    assert analysis.returns(found)[1] == pytest.approx(0.4 / (26816 - 1328) * 1000)
    header, body = analysis.table_rows(found)
    assert header[0] == 'size' and header[-1] == 'val drop per 1k params'
    assert body[1][header.index('params')] == '26,816'


def test_verdict_names_where_more_steps_stop_paying():
    [falling] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.4]))
    assert analysis.verdict(falling) == (
        "validation loss still falls at 5,000 steps: 0.0500 per 1,000 extra steps there "
        "(first increase: 0.2500, 20% of the first)")
    [overfit] = analysis.group_sweeps(steps_rows([3.0, 2.5, 2.6]))
    assert analysis.verdict(overfit).startswith("lowest validation loss 2.5000 at 3,000 steps; beyond it")
    [single] = analysis.group_sweeps(steps_rows([3.0]))
    assert 'one run only' in analysis.verdict(single)


def test_sweeps_are_grouped_by_settings_and_a_run_counts_once():
    rows = steps_rows([3.0, 2.5], seed=1) + steps_rows([3.1, 2.6, 2.5], seed=2) + steps_rows([3.0], seed=1)
    found = analysis.group_sweeps(rows)
    assert [(s.rows[0]['seed'], len(s.rows)) for s in found] == [(1, 2), (2, 3)]


def test_text_and_markdown_tables():
    [found] = analysis.group_sweeps(steps_rows([3.0, 2.5]))
    text = analysis.report([found])
    lines = text.splitlines()
    assert lines[0].startswith('steps sweep: medium model (n_embd 16, n_head 4, n_layer 1; 4,192 params), seed 1')
    assert lines[2].split() == ['steps', 'params', 'time', 'train', 'loss', 'val', 'loss', 'val', 'drop',
                                'per', '1k', 'steps']
    assert lines[3].split() == ['1,000', '4,192', '1.0s', '3.1000', '3.0000', '-']
    assert lines[4].split() == ['3,000', '4,192', '1.0s', '2.6000', '2.5000', '0.2500']
    assert len({len(line) for line in lines[2:5]}) == 1  # aligned columns
    markdown = analysis.report([found], markdown=True).splitlines()
    assert markdown[0].startswith('**steps sweep') and markdown[3] == '| ---: ' * 6 + '|'
    assert markdown[5] == '| 3,000 | 4,192 | 1.0s | 2.6000 | 2.5000 | 0.2500 |'


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
    drop = (rows[0]['val_loss'] - rows[1]['val_loss']) / 20 * 1000
    assert table[1][5] == f"{drop:.4f}" and table[0][5] == '-'
    assert lines[7].startswith(('validation loss still falls at 50 steps', 'lowest validation loss'))
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
    assert len(titles) == 2 and 'seed 1' in titles[0] and 'seed 2' in titles[1]
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
