"""Resume is exact or refused: a resumed run computes in its checkpoint's engine and dtype
(float32 stays float32), a flag that contradicts them is one line, and the best checkpoint
it prints and records is a file that exists."""
from pathlib import Path

import pytest

from microgpt.cli import main
from microgpt.files import checkpoint as ckpt
from test_training_options import TINY, interrupted_after

SAMPLES = ['--samples', '3']


def train(runner, data, *extra):
    return runner.invoke(main, ['train', '--data', str(data), *TINY, *SAMPLES, *extra])


def interrupted(runner, data, stop_after, *extra):
    """The run stopped by Ctrl-C after `stop_after` steps (as StopRequests stops it)."""
    result = interrupted_after(runner, data, stop_after, [*SAMPLES, *extra])
    assert result.exit_code == 130, result.output
    return result


def errors_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith('Error:')]


def step_lines(result):
    return [line for line in result.stdout.splitlines() if line.startswith('step')]


@pytest.mark.parametrize('engine_args, engine, dtype', [
    (['--dtype', 'float32'], 'numpy', 'float32'),
    (['--engine', 'val'], 'val', 'float64'),
], ids=['numpy-float32', 'val'])
def test_a_resumed_run_computes_as_its_checkpoint_did(runner, small_data, engine_args, engine, dtype):
    """Resumed without --dtype or --engine, the run goes on in the checkpoint's: the same
    losses, weights and samples as the run never stopped, and its checkpoint says so."""
    args = ['--steps', '12', '--batch-size', '2', '--batch-order', 'epoch', *engine_args]
    whole = train(runner, small_data, *args, '--out', 'whole.json')
    assert whole.exit_code == 0, whole.output
    interrupted(runner, small_data, 5, *args, '--out', 'part.json')
    assert ckpt.load_checkpoint('part.json').training['steps_done'] == 5

    resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data)])
    assert resumed.exit_code == 0, resumed.output
    assert f"({engine} engine)" in resumed.stderr
    done, reference = ckpt.load_checkpoint('part.json'), ckpt.load_checkpoint('whole.json')
    assert (done.training['engine'], done.training['dtype']) == (engine, dtype)
    assert done.losses == reference.losses
    assert done.state_dict == reference.state_dict
    assert done.optimizer == reference.optimizer
    assert step_lines(resumed) == step_lines(whole)[5:]
    assert resumed.stdout.splitlines()[-3:] == whole.stdout.splitlines()[-3:]  # the samples


@pytest.mark.parametrize('flags, fragment', [
    (['--dtype', 'float64'], "dtype float64 (given on the command line) contradicts checkpoint part.json, "
                             "which has dtype float32"),
    (['--engine', 'val'], "engine val (given on the command line) contradicts checkpoint part.json, "
                          "which computes in float32 on the numpy engine"),
    (['--seed', '7'], "seed 7 (given on the command line) contradicts checkpoint part.json"),
    (['--batch-order', 'walk'], "batch_order walk (given on the command line) contradicts checkpoint part.json"),
])
def test_a_contradiction_of_the_checkpoint_is_refused_in_one_line(runner, small_data, flags, fragment):
    interrupted(runner, small_data, 3, '--steps', '8', '--dtype', 'float32', '--batch-order', 'epoch',
                '--out', 'part.json')
    before = Path('part.json').read_bytes()
    result = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data), *flags])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert 'Traceback' not in result.output
    assert len(errors_of(result)) == 1 and fragment in errors_of(result)[0], result.stderr
    assert Path('part.json').read_bytes() == before
    agreeing = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data),
                                    '--dtype', 'float32', '--engine', 'numpy'])
    assert agreeing.exit_code == 0, agreeing.output  # the checkpoint's own values are no contradiction


def best_of(result):
    lines = [line for line in result.stderr.splitlines() if line.startswith('best held-out loss')]
    assert len(lines) == 1, result.stderr
    return lines[0]


def unbeatable_first_best(path):
    """Make the first part's best held-out loss one no later evaluation can beat."""
    part = ckpt.load_checkpoint(path)
    best = part.training['best']
    for point in part.training['curve']:
        if point['step'] == best['step']:
            point['val_loss'] = best['val_loss'] = 1e-6
    ckpt.save_checkpoint(path, part)


@pytest.mark.parametrize('first_stays_best', [False, True], ids=['improves-after-resume', 'best-before'])
def test_the_best_checkpoint_printed_and_recorded_exists(runner, small_data, first_stays_best):
    """Resumed into another --out, the best checkpoint is the resumed part's new best beside
    --out, or the first part's where it stays best: either way the file printed and recorded."""
    stop = 7
    args = ['--steps', '12', '--val-split', '0.2', '--eval-every', '2']
    interrupted(runner, small_data, stop, *args, '--out', 'a.ckpt.json')
    first_best = ckpt.load_checkpoint('a.ckpt.json').training['best']
    assert first_best['checkpoint'] == 'a.best.ckpt.json' and Path('a.best.ckpt.json').is_file()
    if first_stays_best:
        unbeatable_first_best('a.ckpt.json')

    resumed = runner.invoke(main, ['train', '--resume', 'a.ckpt.json', '--data', str(small_data),
                                   '--out', 'b.ckpt.json'])
    assert resumed.exit_code == 0, resumed.output
    best = ckpt.load_checkpoint('b.ckpt.json').training['best']
    printed = best_of(resumed)
    assert printed.endswith(f"saved to {best['checkpoint']}")
    assert Path(best['checkpoint']).is_file()
    assert ckpt.load_checkpoint(best['checkpoint']).training['steps_done'] == best['step']
    improved = best['step'] > stop
    assert improved != first_stays_best
    assert best['checkpoint'] == ('b.best.ckpt.json' if improved else 'a.best.ckpt.json')
    assert Path('b.best.ckpt.json').is_file() == improved


def test_a_best_checkpoint_that_is_gone_is_not_claimed(runner, small_data):
    """The first part's best checkpoint deleted and no better one since: the line says it is gone."""
    args = ['--steps', '12', '--val-split', '0.2', '--eval-every', '2']
    interrupted(runner, small_data, 7, *args, '--out', 'a.ckpt.json')
    unbeatable_first_best('a.ckpt.json')
    Path('a.best.ckpt.json').unlink()
    resumed = runner.invoke(main, ['train', '--resume', 'a.ckpt.json', '--data', str(small_data),
                                   '--out', 'b.ckpt.json'])
    assert resumed.exit_code == 0, resumed.output
    assert ckpt.load_checkpoint('b.ckpt.json').training['best']['checkpoint'] == 'a.best.ckpt.json'
    assert best_of(resumed).endswith("its checkpoint a.best.ckpt.json no longer exists")
    assert not Path('b.best.ckpt.json').exists()
