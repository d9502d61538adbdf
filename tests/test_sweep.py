import json
import statistics

import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.commands.sweep import sweep_lines
from microgpt.data import split_docs
from microgpt.errors import MicrogptError
from microgpt.scaling import plans, sweep
from microgpt.training.evaluation import mean_loss
from microgpt.training.run import ARCH_DEFAULTS, Run, TrainConfig

COMMON = dict(seed=3, lr=0.01, engine='numpy')


@pytest.fixture
def tiny_docs(names_docs):
    return names_docs[:120]


@pytest.fixture
def tiny_data(tmp_path, tiny_docs):
    path = tmp_path / 'tiny.txt'
    path.write_text('\n'.join(tiny_docs) + '\n')
    return path


def tiny_steps_plan():
    return plans.steps_plan(5, 25, 10, 'small', **COMMON)


def messages():
    lines = []
    return lines, lines.append


def test_default_steps_plan_is_1k_to_21k_every_2k():
    plan = plans.steps_plan(**plans.STEPS_RANGE_DEFAULTS, **COMMON)
    assert [spec['steps'] for spec in plan] == list(range(1000, 22000, 2000))
    assert all(spec['sweep'] == 'steps' and spec['size'] == 'medium' for spec in plan)


def test_named_sizes_keep_heads_4_wide_and_medium_is_the_train_default():
    for name in plans.SIZES:
        arch = plans.size_arch(name)
        assert arch['n_embd'] // arch['n_head'] == 4 and arch['n_embd'] % arch['n_head'] == 0
    assert plans.size_arch('medium') == ARCH_DEFAULTS
    plan = plans.params_plan(plans.parse_sizes(' large,small,large '), 300, **COMMON)
    assert [(spec['size'], spec['n_embd'], spec['steps']) for spec in plan] == [('large', 32, 300), ('small', 8, 300)]


@pytest.mark.parametrize('make_plan, fragment', [
    (lambda: plans.steps_plan(0, 10, 5, **COMMON), 'from must be >= 1'),
    (lambda: plans.steps_plan(10, 5, 5, **COMMON), 'to (5) must be >= from (10)'),
    (lambda: plans.steps_plan(1, 5, 0, **COMMON), 'every must be >= 1'),
    (lambda: plans.params_plan(['small'], 0, **COMMON), 'steps must be >= 1'),
    (lambda: plans.parse_sizes('small,huge'), "unknown size 'huge'"),
    (lambda: plans.parse_sizes(' , '), 'at least one'),
])
def test_bad_plans_say_why(make_plan, fragment):
    with pytest.raises(MicrogptError, match=fragment.replace('(', r'\(').replace(')', r'\)')):
        make_plan()


def test_run_one_measures_what_a_direct_run_gives(tiny_docs):
    train, val = sweep.sweep_split(tiny_docs, 3)
    spec = dict(plans.params_plan(['small'], 130, **COMMON)[0], data_sha256='x')
    row = sweep.run_one(spec, train, val)
    run = Run(train, seed=3, arch=plans.size_arch('small'), engine_name='numpy')
    losses = run.train(TrainConfig(num_steps=130, learning_rate=0.01))
    assert row['train_loss'] == pytest.approx(statistics.fmean(losses[-100:]), rel=1e-12)
    assert row['train_loss'] != pytest.approx(statistics.fmean(losses), rel=1e-6)
    assert row['val_loss'] == pytest.approx(mean_loss(run.engine, run.tokenizer, val), rel=1e-9)
    assert row['params'] == run.config.num_params()
    assert row['seconds'] >= 0 and not sweep.row_problem(row)
    assert json.loads(json.dumps(row)) == row


def test_sweep_split_leaves_out_validation_docs_with_unseen_characters():
    docs = [f"name{i}" for i in range(40)] + ['zoë']
    seed = next(s for s in range(100) if 'zoë' in split_docs(docs, s)[1])
    train, val = sweep.sweep_split(docs, seed)
    full_train, full_val = split_docs(docs, seed)
    assert train == full_train and val == [doc for doc in full_val if doc != 'zoë'] and val
    with pytest.raises(MicrogptError, match='at least 2 documents'):
        sweep.sweep_split(['only'], seed=1)


def test_rows_survive_a_torn_last_line(tmp_path):
    path = tmp_path / 'r.jsonl'
    row = dict(plans.params_plan(['small'], 10, **COMMON)[0], data_sha256='x',
               params=1, seconds=0.5, train_loss=3.0, val_loss=2.9)
    sweep.append_row(path, row)
    with open(path, 'a') as f:
        f.write('{"sweep": "steps", "si')  # a write cut short by a crash
    sweep.append_row(path, dict(row, steps=20))
    with open(path, 'a') as f:
        f.write('[1, 2]\n{"sweep": "steps"}\n')
    warnings, warn = messages()
    rows = sweep.read_rows(path, warn)
    assert [r['steps'] for r in rows] == [10, 20]
    assert len(warnings) == 3 and all(str(path) in w for w in warnings)
    assert ':2: skipped: not a complete JSON line' in warnings[0]
    assert 'not a JSON object' in warnings[1] and 'missing size' in warnings[2]
    with pytest.raises(MicrogptError, match='results file not found'):
        sweep.read_rows(tmp_path / 'none.jsonl', warn)


def test_sweep_writes_each_run_as_it_finishes_and_resume_runs_only_the_rest(tmp_path, tiny_docs, monkeypatch):
    lines, echo = messages()
    path = sweep.run_sweep(tiny_steps_plan(), tiny_docs, 'sha', out_dir=tmp_path / 'exp', workers=1,
                           report=sweep_lines(echo))
    assert path.parent == tmp_path / 'exp' and path.name.startswith('sweep-steps-') and path.suffix == '.jsonl'
    rows = sweep.read_rows(path, echo)
    assert sorted(r['steps'] for r in rows) == [5, 15, 25]
    assert {r['data_sha256'] for r in rows} == {'sha'} and {r['size'] for r in rows} == {'small'}
    assert len([line for line in lines if line.startswith('[')]) == 3  # one progress line per run

    # Interrupted after one run: keep its line and half of the next.
    text = path.read_text().splitlines(keepends=True)
    assert json.loads(text[0])['kind'] == 'header'
    path.write_text(text[0] + text[1] + text[2][:30])
    ran = []
    real_run_one = sweep.run_one
    monkeypatch.setattr(sweep, 'run_one', lambda spec, *a: ran.append(spec['steps']) or real_run_one(spec, *a))
    lines.clear()
    assert sweep.run_sweep(tiny_steps_plan(), tiny_docs, 'sha', resume=path, workers=1,
                           report=sweep_lines(echo)) == path
    assert sorted(ran) == sorted(r['steps'] for r in rows[1:])
    assert any('1 of 3 runs already done' in line for line in lines)
    resumed = sweep.read_rows(path, echo)
    assert sorted(r['steps'] for r in resumed) == [5, 15, 25]
    for old in rows:  # the same settings give the same numbers
        new = next(r for r in resumed if r['steps'] == old['steps'])
        assert new['val_loss'] == old['val_loss'] and new['train_loss'] == old['train_loss']

    ran.clear()
    sweep.run_sweep(tiny_steps_plan(), tiny_docs, 'sha', resume=path, workers=1, report=sweep_lines(echo))
    assert ran == [] and lines[-1] == 'nothing left to run'


def test_resume_refuses_a_file_of_other_settings(tmp_path, tiny_docs):
    path = sweep.run_sweep(plans.steps_plan(5, 5, 1, 'small', **COMMON), tiny_docs, 'sha',
                           out_dir=tmp_path, workers=1)
    other_seed = plans.steps_plan(5, 15, 10, 'small', **dict(COMMON, seed=4))
    with pytest.raises(MicrogptError, match=r"different sweep: seed 3 \(now 4\)"):
        sweep.run_sweep(other_seed, tiny_docs, 'sha', resume=path, workers=1)
    with pytest.raises(MicrogptError, match='holds a steps sweep, not a params sweep'):
        sweep.run_sweep(plans.params_plan(['small'], 5, **COMMON), tiny_docs, 'sha', resume=path,
                        workers=1)
    before = path.read_bytes()
    for other in (tmp_path / 'names.txt', tmp_path / 'evolve.jsonl'):  # not results files: untouched
        other.write_text('anna\nbob\n' if other.suffix == '.txt' else '{"kind": "run"}\n')
        with pytest.raises(MicrogptError, match='not a microgpt sweep results file'):
            sweep.run_sweep(plans.steps_plan(5, 5, 1, 'small', **COMMON), tiny_docs, 'sha', resume=other,
                            workers=1)
        assert other.read_text().startswith(('anna', '{"kind"'))
    assert path.read_bytes() == before


def test_ctrl_c_keeps_the_finished_runs(tmp_path, tiny_docs, monkeypatch):
    real_run_one, calls = sweep.run_one, []

    def interrupted_second(spec, *args):
        calls.append(spec)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_run_one(spec, *args)

    monkeypatch.setattr(sweep, 'run_one', interrupted_second)
    lines, echo = messages()
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep(tiny_steps_plan(), tiny_docs, 'sha', out_dir=tmp_path, workers=1,
                        report=sweep_lines(echo))
    [path] = tmp_path.glob('sweep-steps-*.jsonl')
    assert [r['steps'] for r in sweep.read_rows(path, echo)] == [calls[0]['steps']]
    assert f'--resume {path}' in lines[-1]


def test_a_failed_run_is_reported_after_the_others_are_saved(tmp_path, tiny_docs, monkeypatch):
    real_run_one = sweep.run_one

    def failing_15(spec, *args):
        if spec['steps'] == 15:
            raise ValueError('boom')
        return real_run_one(spec, *args)

    monkeypatch.setattr(sweep, 'run_one', failing_15)
    with pytest.raises(MicrogptError, match=r'1 of 3 runs failed .*15 steps: ValueError: boom'):
        sweep.run_sweep(tiny_steps_plan(), tiny_docs, 'sha', out_dir=tmp_path, workers=1)
    [path] = tmp_path.glob('*.jsonl')
    assert sorted(r['steps'] for r in sweep.read_rows(path, print)) == [5, 25]


def test_cli_params_sweep_runs_in_parallel_processes(tmp_path, tiny_data, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ['sweep', 'params', '--data', str(tiny_data), '--sizes', 'small,medium',
                                       '--steps', '12', '--workers', '2', '--seed', '3'])
    assert result.exit_code == 0, result.output
    [path] = (tmp_path / 'experiments').glob('sweep-params-*.jsonl')
    rows = sweep.read_rows(path, print)
    assert sorted((r['size'], r['steps'], r['seed'], r['engine']) for r in rows) == [
        ('medium', 12, 3, 'numpy'), ('small', 12, 3, 'numpy')]
    progress = [line for line in result.stderr.splitlines() if line.startswith('[')]
    assert len(progress) == 2 and 'sweep done: 2 runs' in result.stderr
    assert result.stdout == ''


@pytest.mark.parametrize('args, fragment, status', [
    (['sweep', 'steps', '--from', '0'], "Invalid value for '--from'", 2),
    (['sweep', 'params', '--sizes', 'tiny'], "unknown size 'tiny'", 1),
    (['sweep', 'params', '--workers', '0'], "Invalid value for '--workers'", 2),
    (['sweep', 'params', '--resume', 'missing.jsonl'], 'results file not found', 1),
])
def test_cli_sweep_bad_input_is_one_line(tmp_path, tiny_data, monkeypatch, args, fragment, status):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, args + ['--data', str(tiny_data), '--steps' if 'params' in args else '--to',
                                              '5'])
    assert result.exit_code == status and 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_every_event_a_sweep_reports_has_its_line():
    """run_sweep words nothing itself: each event it reports, with its facts, is one line of
    the sweep command's."""
    import inspect
    from microgpt.commands.sweep import SWEEP_LINES
    assert set(SWEEP_LINES) == set(sweep.SWEEP_EVENTS)
    for event, facts in sweep.SWEEP_EVENTS.items():
        assert tuple(inspect.signature(SWEEP_LINES[event]).parameters) == facts, event
