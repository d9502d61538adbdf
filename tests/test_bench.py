"""`microgpt bench` and the benchmark suite in benchmarks/ (`python benchmarks/bench.py`) run end
to end and report what they say they report (no timing asserts: thresholds that depend on the
machine belong in the suite itself)."""
import json
import random
import subprocess
import sys

import measure
import numpy as np
import pytest
import suite as bench
from bench import bench as suite_command
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.errors import MicrogptError


# --- microgpt bench: the engines a user's install runs ----------------------------------------

def test_microgpt_bench_times_each_engine_side_by_side(names_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ['bench', '--engines', 'numpy,val', '--steps', '3', '--repeat', '2',
                                       '--data', str(names_path), '--out', 'bench.json'])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / 'bench.json').read_text())
    assert json.loads(result.stdout) == report
    assert list(report['engines']) == ['numpy', 'val'] and report['settings']['steps'] == 3
    for name, figures in report['engines'].items():
        assert figures['runs'] == 2 and figures['same_output_every_run']
        assert figures['train_step_seconds'] > 0 and figures['sample_seconds'] > 0
        assert figures['train_loop_seconds']['median'] == pytest.approx(figures['train_step_seconds'] * 3)
        assert figures['final_loss_line'].startswith('step    3 /    3 | loss ')
        assert len(figures['samples'].split()) <= 20
        assert f"{name}: " in result.stderr and " ms a training step, " in result.stderr
    assert report['same_losses_and_samples_as_numpy'] == {'val': True}
    assert 'bench: round 2/2: numpy, val' in result.stderr


def test_microgpt_bench_names_where_the_pytorch_yardstick_went(names_path):
    result = CliRunner().invoke(main, ['bench', '--engines', 'numpy,torch', '--data', str(names_path)])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert 'unknown engine(s) torch; choose from val, numpy' in result.output and 'benchmarks/bench.py' in result.output


def test_microgpt_bench_help_says_what_it_times():
    result = CliRunner().invoke(main, ['bench', '--help'])
    assert result.exit_code == 0
    assert 'training step' in result.output and '--engines' in result.output and 'benchmarks/' in result.output


def test_train_imports_no_optional_library(names_path, tmp_path):
    """`microgpt train` (and so the CLI) loads neither PyTorch nor the plotting or cluster libraries."""
    script = ("import sys\nfrom microgpt.cli import main\n"
              f"sys.argv = ['microgpt', 'train', '--steps', '1', '--samples', '0', '--data', {str(names_path)!r}]\n"
              "try:\n    main()\nexcept SystemExit:\n    pass\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib', 'dask', 'distributed'}))")
    done = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == '[]'


# --- the benchmark suite -----------------------------------------------------------------------


def test_engine_list_is_checked(monkeypatch):
    assert bench.parse_engines('numpy, val,numpy') == ['numpy', 'val']
    with pytest.raises(MicrogptError, match='unknown engine'):
        bench.parse_engines('numpy,jax')
    monkeypatch.setattr(bench, 'torch_available', lambda: False)
    assert bench.parse_engines(None) == ['val', 'numpy']
    with pytest.raises(MicrogptError, match=r"pip install -e '\.\[bench\]'"):
        bench.parse_engines('torch')


@pytest.mark.parametrize('n', [3, 4, 1000])
def test_atom_graph_has_n_nodes(n):
    root = bench.atom_graph(n)
    seen, stack = {id(root)}, [root]
    while stack:
        for child in stack.pop()._children:
            if id(child) not in seen:
                seen.add(id(child))
                stack.append(child)
    assert len(seen) == n
    root.backward()
    assert root.grad == 1.0


def test_peak_rss_and_cpu_are_the_childs_own(tmp_path):
    grow = "b = bytearray(80 * 2**20); b[::4096] = b'x' * len(b[::4096])"
    ballast = bytearray(100 * 2**20)
    ballast[::4096] = b'x' * len(ballast[::4096])  # this process's peak must not show in its children
    small = bench.run_measured([sys.executable, '-c', bench.PEAK_RSS_REPORTER + 'pass'], tmp_path)
    large = bench.run_measured([sys.executable, '-c', bench.PEAK_RSS_REPORTER + grow], tmp_path)
    assert small.peak_rss_mb < 40 and large.peak_rss_mb > small.peak_rss_mb + 70
    spin = bench.run_measured([sys.executable, '-c', 'import time\nt = time.process_time()\n'
                               'while time.process_time() - t < 0.2: pass'], tmp_path)
    assert spin.cpu_seconds >= 0.2 and 0 < spin.cpu_per_wall <= 1.05


def test_children_run_without_the_sessions_thread_and_bytecode_settings(monkeypatch):
    monkeypatch.setenv('OPENBLAS_NUM_THREADS', '7')
    monkeypatch.setenv('PYTHONDONTWRITEBYTECODE', '1')
    env = measure.child_env()
    assert not set(measure.UNSET_IN_CHILDREN) & set(env)


def test_failing_step_is_one_clear_error(tmp_path):
    with pytest.raises(MicrogptError, match='boom'):
        bench.run_measured([sys.executable, '-c', "raise SystemExit('boom')"], tmp_path)


def test_rounds_interleave_engines_and_run_slow_jobs_once(monkeypatch, tmp_path):
    order = []

    def fake_run(command, cwd):
        order.append(command[0])
        return measure.Measured(20.0 if command[0] == 'slow' else 0.1, 0.1, 10.0, '', '')

    monkeypatch.setattr(bench, 'run_measured', fake_run)
    jobs = [bench.Job('train', name, [name]) for name in ('numpy', 'torch', 'slow')]
    bench.run_rounds(jobs, 3, tmp_path, lambda message: None)
    assert order == ['numpy', 'torch', 'slow', 'numpy', 'torch', 'numpy', 'torch']


def test_goals_report_value_limit_and_verdict():
    seconds = lambda value: dict(median=value, min=value, max=value, runs=1)  # noqa: E731
    engines = dict(
        numpy=dict(train_loop_seconds=seconds(0.1), loss_lines_sha256='a', samples='x',
                   train_process=dict(seconds=seconds(0.3), cpu_per_wall=seconds(1.0), peak_rss_mb=40.0)),
        torch=dict(train_loop_seconds=seconds(1.0), loss_lines_sha256='a', samples='x'),
        val=dict(train_step_seconds=0.05, loss_lines_sha256='b', samples='x',
                 train_process=dict(seconds=seconds(50.0), cpu_per_wall=seconds(1.0), peak_rss_mb=30.0),
                 side_by_side_process=dict(seconds=seconds(0.5), stdout='same')),
        original=dict(side_by_side_process=dict(seconds=seconds(8.0), stdout='same')))
    batch = dict(numpy=dict(tokens_per_second=seconds(30.0), final_loss=2.5),
                 torch=dict(tokens_per_second=seconds(20.0), final_loss=2.5))
    makemore_size = dict(numpy_float64=dict(tokens_per_second=seconds(10.0)),
                         numpy_float32=dict(tokens_per_second=seconds(18.0)),
                         torch_float32_2_threads=dict(tokens_per_second=seconds(20.0)))
    goals, other = bench.comparisons(engines, batch, 1000, makemore_size)
    assert set(goals) == set(bench.GOALS) - {'race_heldout_loss_vs_torch'}  # that one is the race's
    assert 'numpy_process_vs_torch_loop' not in bench.GOALS  # retired: it timed a process against a loop
    assert goals['numpy_batch_throughput_vs_torch']['value'] == pytest.approx(1.5)
    assert goals['numpy_batch_throughput_vs_torch']['met']
    assert goals['numpy_float32_throughput_vs_torch_makemore_size']['value'] == pytest.approx(0.9)
    assert not goals['numpy_float32_throughput_vs_torch_makemore_size']['met']
    assert other['numpy_float32_speedup_makemore_size'] == pytest.approx(1.8)
    assert goals['numpy_process_cpu_per_wall']['met'] and goals['val_peak_rss_mb']['met']
    assert goals['val_speedup_vs_original']['value'] == pytest.approx(405 / 50)
    assert not goals['val_speedup_vs_original']['met']
    assert other['same_losses_and_samples_as_numpy'] == {'torch': True, 'val': False}
    assert goals['val_process_vs_original']['value'] == pytest.approx(0.5 / 8.0)
    assert goals['val_process_vs_original']['met'] and other['val_prints_what_the_original_prints']
    lines = bench.goal_lines(dict(goals=goals))
    assert len(lines) == len(goals) and lines[0].startswith('PASS  numpy_batch_throughput_vs_torch: 1.5')


def test_bench_command_reports_each_engine(names_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, 'ATOM_SIZES', (1000,))
    result = CliRunner().invoke(suite_command, ['--engines', 'numpy,val', '--steps', '3', '--repeat', '1',
                                                '--batch-steps', '1', '--data', str(names_path), '--out', 'bench.json'])
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / 'bench.json').read_text())
    assert set(report['engines']) == {'numpy', 'val'}
    for result in report['engines'].values():
        assert result['train_step_seconds'] > 0 and result['sample_seconds'] > 0
        assert result['peak_rss_mb'] > 10 and result['train_process']['peak_rss_mb'] > 10
        assert result['train_process']['seconds']['runs'] == 1
        assert result['train_process']['cpu_per_wall']['median'] > 0
        assert result['final_loss_line'].startswith('step    3 /    3 | loss ')
        assert len(result['samples'].split()) <= bench.SAMPLES
    batch = report['batch_training']
    assert set(batch) == {'numpy'} and batch['numpy']['tokens_per_second']['median'] > 0
    assert batch['numpy']['params'] > 100_000  # the wider model
    assert report['comparisons']['same_losses_and_samples_as_numpy'] == {'val': True}
    assert set(report['makemore_size_training']) == {'numpy_float64', 'numpy_float32'}
    assert report['makemore_size_training']['numpy_float32']['params'] == 201_088  # 4 layers of 64
    assert report['comparisons']['numpy_float32_speedup_makemore_size'] > 0
    assert set(report['goals']) == {'numpy_process_cpu_per_wall', 'numpy_peak_rss_mb',
                                    'val_speedup_vs_original', 'val_peak_rss_mb'}
    assert all({'value', 'goal', 'met', 'what'} <= set(g) for g in report['goals'].values())
    assert report['atom']['1k_nodes']['nodes'] == 1000
    assert report['startup_seconds']['python']['median'] > 0


def test_bench_help_says_what_it_measures():
    result = CliRunner().invoke(suite_command, ['--help'])
    assert result.exit_code == 0
    assert 'tokens/second' in result.output and '--batch-steps' in result.output


def test_torch_twin_computes_the_same_gradients():
    pytest.importorskip('torch')
    from torch_twin import TorchEngine
    from microgpt.gpt.engines.val import ValEngine
    from microgpt.gpt.model import GPTConfig, init_state_dict
    config = GPTConfig(vocab_size=6, n_embd=6, n_head=3, n_layer=2, block_size=5, ff_mult=2)
    state = init_state_dict(config, random.Random(4), std=0.3)
    for batch in ([[5, 1, 2, 3, 4, 0]], [[5, 1, 2, 3, 4, 0], [5, 2, 5], [5, 1, 1, 5]]):
        val, twin = ValEngine(config, state), TorchEngine(config, state)
        assert twin.loss_and_backward(batch) == pytest.approx(val.loss_and_backward(batch), rel=1e-12)
        for name, grads in val.gradients().items():
            np.testing.assert_allclose(twin.gradients()[name], grads, rtol=1e-9, atol=1e-15)
        val.adam_step(0.01, 1)
        twin.adam_step(0.01, 1)
        for key, moments in val.optimizer_state().items():
            for name, rows in moments.items():
                np.testing.assert_allclose(twin.optimizer_state()[key][name], rows, rtol=1e-9, atol=1e-18)
        for name, rows in val.state_dict().items():
            np.testing.assert_allclose(twin.state_dict()[name], rows, rtol=1e-9, atol=1e-15)


@pytest.mark.slow
def test_race_reports_both_contestants_and_a_verdict(names_path, tmp_path, monkeypatch):
    pytest.importorskip('torch')
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(bench, 'RACE_CALIBRATION_SECONDS', 0.2)
    result = CliRunner().invoke(suite_command, ['--race', '0.5', '--data', str(names_path), '--out', 'race.json'])
    assert result.exit_code == 0, result.output
    race = json.loads((tmp_path / 'race.json').read_text())['race']
    ours, twin = race['contestants']['microgpt'], race['contestants']['makemore_twin']
    for contestant in (ours, twin):
        assert contestant['steps'] >= 1 and contestant['tokens_per_second'] > 0
        assert contestant['seconds'] > 0 and 1.0 < contestant['held_out_loss'] < 4.0
        assert contestant['train_docs'] == 28_830 and contestant['held_out_docs'] == 3_203
        assert contestant['params'] == 201_088
    assert ours['planned_steps'] >= 1 and twin['calibration_seconds'] is None  # constant rate: no planning
    assert twin['seconds'] >= 0.5  # it trains until the time is up
    assert twin['settings']['train']['weight_decay'] == 0.01 and twin['settings']['threads'] == 2
    assert race['verdict'] in result.stderr and race['verdict'].endswith('wins')
    assert 'race_heldout_loss_vs_torch' in result.stderr


def test_race_without_torch_is_one_line(names_path, monkeypatch):
    monkeypatch.setattr(bench, 'torch_available', lambda: False)
    result = CliRunner().invoke(suite_command, ['--race', '5', '--data', str(names_path)])
    assert result.exit_code == 1 and 'the race needs PyTorch' in result.stderr


# A stand-in for a user's copy of the original microgpt.py (whose code the project does not
# hold): it has the `num_steps = ...` line the bench sets, and reads input.txt where the
# original does.
STAND_IN = """import sys
num_steps = 1000
docs = open('input.txt').read().split()
print(f"num docs: {len(docs)}")
print(f"steps: {num_steps}")
"""


def test_side_by_side_runs_the_users_original_with_its_steps_set(tmp_path, names_path):
    original = tmp_path / 'microgpt.py'
    original.write_text(STAND_IN)
    jobs = bench.original_jobs(bench.read_original(original), names_path, tmp_path)
    assert [job.name for job in jobs] == ['original', 'val'] and not any(job.once_if_slow for job in jobs)
    run = bench.run_measured(jobs[0].command, jobs[0].cwd)
    assert run.stdout.splitlines()[1] == f"steps: {bench.ORIGINAL_PROCESS_STEPS}"
    assert run.stdout.splitlines()[0] == f"num docs: {len(names_path.read_text().split())}"
    assert jobs[1].command[-6:-4] == ['--steps', str(bench.ORIGINAL_PROCESS_STEPS)] and '--primordial' in jobs[1].command


@pytest.mark.parametrize('text, error', [(None, 'cannot read the original'),
                                         ('print(1)\n', 'has no `num_steps = N` line')])
def test_bad_original_is_one_line(tmp_path, names_path, text, error):
    path = tmp_path / 'microgpt.py'
    if text is not None:
        path.write_text(text)
    result = CliRunner().invoke(suite_command, ['--engines', 'val', '--original', str(path),
                                                '--data', str(names_path)])
    assert result.exit_code == 1 and error in result.output and len(result.output.strip().splitlines()) == 1


def test_threads_compares_one_and_two_blas_threads_at_a_genomes_size(names_path):
    """`python benchmarks/bench.py --threads GENOME`: the genome's own steps with 1 and with 2 BLAS threads, side by
    side; the faster is the one of the smaller median step time."""
    from microgpt.training.genome import Genome
    genome = Genome(n_embd=16, n_head=2, n_layer=1, block_size=8, batch_size=4, dropout=0.1, ema=0.9)
    report = bench.run_threads(names_path, genome, repeat=1, steps=5)['threads']
    results = report['results']
    assert sorted(results) == ['1', '2'] and report['genome'] == genome.genes()
    step = {n: results[str(n)]['step_seconds']['median'] for n in (1, 2)}
    assert report['faster'] == min((1, 2), key=lambda n: (step[n], n))
    assert report['two_vs_one_step_time'] == step[2] / step[1]
    assert results['1']['params'] == results['2']['params'] == 16 * 16 * 12 + 8 * 16 + 2 * 16 * 27


# --- the drift replays (benchmarks/drift.py) ---------------------------------------------------

def test_drift_report_gives_each_runs_spread_and_the_largest_by_length():
    from drift import drift_report, format_report

    def replay(run, steps, loss, kernel):
        return dict(file='s.jsonl', run=[run], steps=steps, val_loss=loss,
                    arithmetic=dict(blas_kernel=kernel, blas_threads=1))
    report = drift_report([replay('a', 100, 2.0, 'X'), replay('a', 100, 2.003, 'Y'),
                           replay('b', 500, 1.5, 'X'), replay('b', 500, 1.501, 'Y')])
    assert [r['arithmetics'] for r in report['runs']] == [['X/1', 'Y/1']] * 2
    assert [round(r['largest_spread'], 6) for r in report['by_length']] == [0.003, 0.003]
    assert format_report(report).splitlines()[2:] == ['| 100 | 0.003 |', '| 500 | 0.003 |']


def test_drift_of_a_missing_file_is_one_line(names_path):
    from drift import drift
    result = CliRunner().invoke(drift, ['missing.jsonl', '--data', str(names_path)])
    assert result.exit_code == 1 and 'results file not found: missing.jsonl' in result.output
