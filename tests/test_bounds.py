"""Bounded by what the machine has, and one line means one line: plans that need more memory
than is free or more time than microgpt's horizon are refused before any work; numpy's
warnings never precede "training diverged"; --json is strict JSON; a lone CR ends a line; a
flag given on the command line is never called the default."""
import json
import math
import os
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

from microgpt.cli import main
from microgpt.compute import limits
from microgpt.console import json_text
from microgpt.data import load_docs, parse_docs
from microgpt.errors import MicrogptError
from microgpt.evolve import budget as evolve_budget
from microgpt.evolve.genes import DEFAULT_GENERATIONS, DEFAULT_POPULATION, SPACES
from microgpt.gpt.model import GPTConfig
from microgpt.scaling import plans
from microgpt.training import run as training

REPO = Path(__file__).resolve().parents[1]
FREE = 8 * 2 ** 30  # the memory free, as the tests pin it: the same refusals on every machine
TINY = ['--n-embd', '8', '--n-head', '2', '--block-size', '8', '--samples', '0']
FAST_SECONDS = 2.0  # a refusal before the work: parsing and a few sums, in this process


@pytest.fixture
def pinned_memory(monkeypatch):
    monkeypatch.setattr(training, 'available_memory', lambda: FREE)
    monkeypatch.setattr(limits, 'available_memory', lambda: FREE)


@pytest.fixture
def folder(runner, tmp_path, small_data, pinned_memory):
    """An empty working folder but for the data; returns what it holds, byte for byte."""
    return lambda: {path.name: path.read_bytes() for path in tmp_path.iterdir()}


def refused(runner, args, before):
    """Run `microgpt ARGS`; assert it was refused in one line, fast, with nothing trained or
    written; return the line."""
    t0 = time.monotonic()
    result = runner.invoke(main, args)
    seconds = time.monotonic() - t0
    assert result.exit_code == 1, result.output
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit), result.exception
    assert result.stdout == '', result.output  # no header, no step
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 1 and errors[0].startswith('Error: '), result.stderr
    assert seconds < FAST_SECONDS, f"took {seconds:.1f}s"
    return errors[0]


BIG = str(10 ** 400)


@pytest.mark.parametrize('args, fragment', [
    (['--budget', '1e300'], "choose a smaller --budget"),
    (['--budget', '1e300', '--max-time', '60'], "choose a smaller --budget"),
    (['--steps', '100000000000000'], "choose fewer --steps"),
    (['--steps', BIG], "training 10^400 steps"),
    (['--steps', '100000000000000', '--engine', 'val'], "would take at least 31.7 years"),
    (['--batch-size', '1000000000'], "with 1e+09 documents a step"),
    (['--batch-size', BIG], "/ --batch-size"),
    (['--n-layer', BIG], "a model of 10^402 parameters"),
    (['--n-embd', BIG], "a model of 10^801 parameters"),
    (['--ff-mult', '100000000000'], "Choose a smaller --n-embd"),
    (['--samples', '100000000000000'], "choose fewer --samples"),
])
def test_train_refuses_a_plan_beyond_the_machine_in_one_line(runner, small_data, folder, args, fragment):
    before = folder()
    line = refused(runner, ['train', '--data', str(small_data), '--out', 'm.ckpt.json', *TINY, *args], before)
    assert fragment in line
    assert folder() == before


def test_the_memory_check_counts_the_batch_and_the_data():
    arch = dict(n_embd=32, n_head=4, n_layer=2)
    params, alone = training.memory_needed(arch, 'numpy', 27)
    assert params == GPTConfig(vocab_size=27, **{**training.ARCH_DEFAULTS, **arch}).num_params()
    _, batched = training.memory_needed(arch, 'numpy', 27, batch_size=64)
    _, with_data = training.memory_needed(arch, 'numpy', 27, data=10 ** 6)
    assert batched - alone == 63 * (alone - params * training.BYTES_PER_PARAM['numpy'])
    assert with_data - alone == 10 ** 6
    _, val_batched = training.memory_needed(arch, 'val', 27, batch_size=8)
    assert val_batched > training.memory_needed(arch, 'val', 27)[1]
    assert training.data_bytes(['ab', 'c']) == 3 + 2 * training.BYTES_PER_DOC


@pytest.mark.parametrize('arch', [dict(), dict(n_embd=8, n_head=2, n_layer=3, ff_mult=2, block_size=5),
                                  dict(n_embd=96, n_head=8, n_layer=6, block_size=24)])
def test_the_closed_form_count_is_the_models(arch):
    config = GPTConfig(vocab_size=28, **{**training.ARCH_DEFAULTS, **arch})
    assert training.param_count(config) == config.num_params()


def test_the_horizon_refuses_just_over_a_year_and_takes_just_under():
    year_of_steps = round(limits.HORIZON_SECONDS / limits.FASTEST_STEP_SECONDS)
    limits.check_horizon("x", limits.fastest_seconds(year_of_steps * 99 // 100), "fix")
    with pytest.raises(MicrogptError, match=r"^x would take at least 1\.\d+ years .*: fix$"):
        limits.check_horizon("x", limits.fastest_seconds(year_of_steps * 11 // 10), "fix")
    flops_of_a_year = limits.HORIZON_SECONDS * limits.FASTEST_FLOPS_PER_SECOND
    limits.check_horizon("x", limits.fastest_seconds(flops=flops_of_a_year * 1.9, workers=2), "fix")
    with pytest.raises(MicrogptError):
        limits.check_horizon("x", limits.fastest_seconds(flops=flops_of_a_year * 2.1, workers=2), "fix")


def test_the_shipped_defaults_are_within_the_bounds():
    for space in SPACES.values():
        evolve_budget.check_search_size(DEFAULT_POPULATION, DEFAULT_GENERATIONS, None, space)
    frontier = plans.FRONTIER_DEFAULTS
    plans.check_frontier_time(list(plans.FRONTIER_SIZES), frontier['budgets'], frontier['seeds'],
                              frontier['lr_grid'], frontier['tune_budget'])
    steps = plans.STEPS_RANGE_DEFAULTS
    assert len(plans.steps_plan(steps['start'], steps['stop'], steps['every'], seed=1, lr=0.01, engine='numpy')) == 11
    assert len(plans.params_plan(list(plans.SIZES), plans.PARAMS_SWEEP_STEPS, seed=1, lr=0.01, engine='numpy')) == 3


@pytest.mark.parametrize('args, fragment', [
    (['--population', '100000000'], "choose a smaller --population"),
    (['--generations', '100000000000'], "fewer --generations"),
    (['--budget', '1e300'], "or a smaller --budget"),
    (['--space', 'seed', '--generations', '100000000000'], "8e+11 trainings"),
    (['--space', 'seed', '--workers', BIG], "use fewer --workers"),
])
def test_evolve_refuses_a_search_beyond_the_machine_before_any_work(runner, small_data, folder, args, fragment):
    before = folder()
    workers = [] if '--workers' in args else ['--workers', '1']
    line = refused(runner, ['evolve', '--fitness', 'loss', '--data', str(small_data), *workers, *args], before)
    assert fragment in line
    assert folder() == before  # not even the log folder


@pytest.mark.parametrize('args, fragment', [
    (['frontier', '--budgets', '1e300'], "choose smaller --budgets"),
    (['frontier', '--tune-budget', '1e300'], "--tune-budget"),
    (['frontier', '--seeds', '1000000000000'], "fewer --seeds"),
    (['steps', '--from', '1', '--to', '100000000000', '--every', '1'], "a sweep of 1e+11 runs"),
    (['params', '--steps', '100000000000000'], "choose fewer --steps"),
    (['params', '--steps', '1', '--workers', BIG], "worker processes need about"),
])
def test_a_sweep_beyond_the_horizon_is_refused_before_any_run(runner, small_data, folder, args, fragment):
    before = folder()
    line = refused(runner, ['sweep', *args, '--data', str(small_data), '--out-dir', 'runs'], before)
    assert fragment in line
    assert folder() == before


def test_sample_refuses_more_names_than_a_year_draws(runner, tmp_path, pinned_memory):
    line = refused(runner, ['sample', '--checkpoint', 'none.ckpt.json', '--num', '100000000000000'], {})
    assert "choose a smaller --num" in line


def test_a_data_file_too_large_for_memory_is_one_line_before_reading(runner, tmp_path, monkeypatch):
    monkeypatch.setattr(limits, 'available_memory', lambda: 1000)
    data = tmp_path / 'big.txt'
    data.write_text('anna\n' * 100)
    line = refused(runner, ['train', '--data', str(data), *TINY], {})
    assert f"data file {data} (0.0 GiB) needs about 0.0 GiB of memory to read" in line


# --- one line means one line -------------------------------------------------------------------

def test_a_diverging_run_raises_diverged_and_no_numpy_warning(names_docs):
    run = training.Run(names_docs[:50], arch=dict(n_embd=8, n_head=2, block_size=8))
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # a RuntimeWarning would be raised here, not Diverged
        with pytest.raises(training.Diverged):
            run.train(training.TrainConfig(learning_rate=1e300, num_steps=20, batch_size=8))


def test_a_diverging_train_prints_one_line_and_no_runtime_warning(tmp_path, small_data):
    result = subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--data', str(small_data), '--lr', '1e300',
                             '--steps', '20', '--batch-size', '8', *TINY], cwd=tmp_path, capture_output=True,
                            text=True, env=dict(os.environ, PYTHONPATH=str(REPO)), timeout=120)
    assert result.returncode == 1
    assert 'RuntimeWarning' not in result.stderr and 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("Error: training diverged at step")
    assert not [line for line in result.stderr.splitlines() if 'numpy' in line or line.startswith(' ')]


def strict_loads(text):
    def refuse(constant):
        raise ValueError(f"not strict JSON: {constant}")
    return json.loads(text, parse_constant=refuse)


def test_json_text_is_strict_and_says_a_non_finite_number_as_null():
    value = {'loss': math.inf, 'range': [math.nan, -math.inf, 1.5], 'n': 3, 'nested': {'x': (math.nan,)}}
    assert strict_loads(json_text(value)) == {'loss': None, 'range': [None, None, 1.5], 'n': 3,
                                              'nested': {'x': [None]}}
    assert strict_loads(json_text({'a': 1.0}, indent=2)) == {'a': 1.0}


def test_every_json_option_prints_through_json_text():
    commands = REPO / 'microgpt' / 'commands'
    for path in commands.glob('*.py'):
        assert 'json.dumps(' not in path.read_text(), f"{path.name}: print --json with console.json_text"


def test_analyze_predict_json_far_outside_the_runs_is_strict(runner, tmp_path):
    sys.path.insert(0, str(REPO / 'tests'))
    from test_frontier import synthetic_rows, write_rows
    write_rows(tmp_path / 'f.jsonl', synthetic_rows())
    result = runner.invoke(main, ['analyze', 'f.jsonl', '--fit', '--predict', 'N=1e308,C=1e308', '--json',
                                  '--resamples', '1'])
    assert result.exit_code == 0, result.output
    prediction = strict_loads(result.stdout)
    assert prediction['loss'] is None and prediction['range'] == [None, None]
    assert 'RuntimeWarning' not in result.stderr


def test_cr_only_line_ends_are_line_ends(tmp_path):
    docs = ['anna', 'bob', 'carl', 'dee']
    for name, end in (('lf', '\n'), ('crlf', '\r\n'), ('cr', '\r')):
        (tmp_path / name).write_bytes((end.join(docs) + end).encode())
    assert load_docs(tmp_path / 'cr') == load_docs(tmp_path / 'crlf') == load_docs(tmp_path / 'lf') == docs
    assert parse_docs('a\r\rb\r\n\rc') == ['a', 'b', 'c']


def test_input_txt_reads_as_the_original_read_it(names_path):
    text = names_path.read_text()
    # the original microgpt.py's own parse
    original = [line.strip() for line in text.strip().split('\n') if line.strip()]
    assert parse_docs(text) == original and len(original) == 32033


def test_a_given_eval_every_is_not_called_the_default(runner, small_data):
    result = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '10', '--val-split', '0.2',
                                  '--eval-every', '50', *TINY])
    assert result.exit_code == 1
    assert 'the default' not in result.stderr
    assert "got 50 (eval_every is given: set it with --eval-every)" in result.stderr


def test_the_troubleshooting_page_states_the_bounds_the_code_holds():
    from conftest import docs_text
    page = ' '.join(docs_text('troubleshooting').split())
    year_days = limits.HORIZON_SECONDS / 86400
    assert year_days == 365 and "more than a year" in page
    assert f"{limits.FASTEST_STEP_SECONDS * 1e6:.0f} microseconds a training step" in page
    assert f"{limits.FASTEST_FLOPS_PER_SECOND:.0e} FLOPs a second" in page
    assert "printed as `null`" in page and "a lone CR" in page
