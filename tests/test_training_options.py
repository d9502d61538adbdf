"""The trainer's options: the held-out split and evaluation while training, the best
checkpoint, early stop, max-time, Adam's options, schedules, batch orders, float32, novelty.
Each is off by default and leaves the original's run as it was."""
import os
import random
import signal

import numpy as np
import pytest

from microgpt.cli import main
from microgpt.commands import train_job as jobs
from microgpt.commands import train_plan
from microgpt.data import held_out_split, split_docs
from microgpt.errors import MicrogptError
from microgpt.files import checkpoint as ckpt
from microgpt.gpt.engines import make_engine
from microgpt.gpt.model import GPTConfig, init_state_dict
from microgpt.gpt.optim import AdamSettings, learning_rate_at
from microgpt.gpt.sampling import novelty
from microgpt.training.evaluation import mean_loss
from microgpt.training.run import Run, TrainConfig

TINY = ['--n-embd', '8', '--n-head', '2', '--block-size', '8']
ARCH = dict(n_embd=8, n_head=2, block_size=8)
# every option away from its default at once (early_stop large enough never to end the run)
ALL_OPTIONS = ['--batch-size', '3', '--clip', '0.5', '--weight-decay', '0.1', '--beta1', '0.9',
               '--beta2', '0.95', '--warmup', '3', '--schedule', 'cosine', '--val-split', '0.2',
               '--eval-every', '4', '--early-stop', '50', '--dropout', '0.2', '--ema', '0.9']


def train(runner, data, *extra):
    return runner.invoke(main, ['train', '--data', str(data), *TINY, *extra])


def errors_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith('Error:')]


def step_lines(result):
    return [line for line in result.stdout.splitlines() if line.startswith('step')]


# --- the defaults are the original's ----------------------------------------------------------

def test_the_default_schedule_is_the_originals_expression_bit_for_bit():
    for num_steps, lr in ((1000, 0.01), (7, 0.3), (6500, 0.002)):
        for step in range(num_steps):
            assert learning_rate_at(step, num_steps, lr) == lr * (1 - step / num_steps)


def test_warmup_and_schedules():
    assert [learning_rate_at(s, 10, 1.0, warmup=4) for s in range(4)] == [0.25, 0.5, 0.75, 1.0]
    assert learning_rate_at(4, 10, 1.0, warmup=4) == 1.0  # the schedule starts at the full rate
    assert learning_rate_at(7, 10, 1.0, warmup=4) == pytest.approx(0.5)
    assert learning_rate_at(4, 10, 1.0, warmup=4, schedule='cosine') == 1.0
    assert learning_rate_at(7, 10, 1.0, warmup=4, schedule='cosine') == pytest.approx(0.5)
    assert learning_rate_at(9, 10, 2.0, schedule='constant') == 2.0


def test_the_default_options_given_explicitly_keep_the_originals_bits(names_path, tmp_path):
    """Zero weight decay, the default betas and the other defaults written out perform the
    original's operations and no others: the original's weights, bit for bit."""
    from test_bitexact import REFERENCE_WEIGHTS, assert_reference_weights, train_val
    reference = 'weights-seed3-3layers-embd8-20-steps.json'
    explicit = ['--weight-decay', '0', '--beta1', '0.85', '--beta2', '0.99', '--warmup', '0',
                '--schedule', 'linear', '--batch-order', 'walk', '--batch-size', '1', '--dtype', 'float64',
                '--dropout', '0']
    checkpoint = train_val(names_path, tmp_path, [*REFERENCE_WEIGHTS[reference][0], *explicit])
    assert_reference_weights(checkpoint.state_dict, reference)


# --- Adam's options on every engine ------------------------------------------------------------

def test_weight_decay_is_decoupled(names_docs):
    """With no gradient, Adam's step is 0 and AdamW only shrinks: p * (1 - lr * wd), exactly."""
    config = GPTConfig(vocab_size=5, n_embd=4, n_head=2, block_size=4)
    state = init_state_dict(config, random.Random(0))
    for name in ('val', 'numpy'):
        engine = make_engine(name, config, state)
        engine.set_adam(AdamSettings(weight_decay=0.5))
        engine.adam_step(0.1, 1)
        assert engine.state_dict()['wte'] == [[x * (1 - 0.1 * 0.5) for x in row] for row in state['wte']]


@pytest.mark.parametrize('order', ['walk', 'epoch', 'replacement'])
def test_engines_agree_with_every_option(names_docs, order):
    docs = names_docs[:40]  # short passes: the epoch order reshuffles within the run
    cfg = TrainConfig(num_steps=12, learning_rate=0.02, batch_size=5, grad_clip=0.5, weight_decay=0.1,
                      beta1=0.9, beta2=0.95, warmup=3, schedule='cosine', batch_order=order)
    runs = {name: Run(docs, seed=2, arch=ARCH, engine_name=name) for name in ('val', 'numpy')}
    losses = {name: run.train(cfg) for name, run in runs.items()}
    np.testing.assert_allclose(losses['numpy'], losses['val'], rtol=1e-9)
    default = Run(docs, seed=2, arch=ARCH, engine_name='numpy').train(TrainConfig(num_steps=12, batch_size=5))
    assert losses['numpy'][1:] != default[1:]  # the options do change the run
    for name, rows in runs['val'].engine.state_dict().items():
        np.testing.assert_allclose(runs['numpy'].engine.state_dict()[name], rows, rtol=1e-8, atol=1e-12)


def test_torch_twin_agrees_with_adamw_and_other_betas():
    pytest.importorskip('torch')
    from torch_twin import TorchEngine
    config = GPTConfig(vocab_size=6, n_embd=6, n_head=3, n_layer=1, block_size=5, ff_mult=2)
    state = init_state_dict(config, random.Random(4), std=0.3)
    settings = AdamSettings(beta1=0.9, beta2=0.95, weight_decay=0.2)
    engines = [make_engine('numpy', config, state), TorchEngine(config, state)]
    batch = [[5, 1, 2, 3, 4, 0], [5, 2, 5]]
    for engine in engines:
        engine.set_adam(settings)
        for t in (1, 2, 3):
            engine.loss_and_backward(batch)
            engine.adam_step(0.05, t)
    for name, rows in engines[0].state_dict().items():
        np.testing.assert_allclose(engines[1].state_dict()[name], rows, rtol=1e-9, atol=1e-15)


# --- batch orders ------------------------------------------------------------------------------

def test_batch_orders(names_docs):
    run = Run(names_docs[:10], seed=3, arch=ARCH)
    walk = [run.batch_indices(step, 4) for step in range(5)]
    assert walk[0] == [0, 1, 2, 3] and walk[2] == [8, 9, 0, 1]
    epoch = [i for step in range(5) for i in run.batch_indices(step, 4, 'epoch')]
    assert epoch[:10] == list(range(10))               # the first pass walks the shuffled list
    assert sorted(epoch[10:20]) == list(range(10)) and epoch[10:20] != epoch[:10]  # a fresh shuffle
    again = Run(names_docs[:10], seed=3, arch=ARCH)
    assert [i for step in range(5) for i in again.batch_indices(step, 4, 'epoch')] == epoch
    drawn = [run.batch_indices(step, 4, 'replacement') for step in range(50)]
    assert drawn == [again.batch_indices(step, 4, 'replacement') for step in range(50)]  # fixed by seed and step
    assert any(len(set(b)) < 4 for b in drawn) and drawn[:3] != walk[:3]  # with replacement


# --- the held-out split and evaluation ----------------------------------------------------------

def test_the_split_is_the_one_evolution_and_sweeps_use(names_docs):
    from microgpt.scaling.sweep import sweep_split
    train_docs, val = held_out_split(names_docs, 7, 0.1)
    assert (train_docs, val) == sweep_split(names_docs, 7)
    assert train_docs == split_docs(names_docs, 7)[0] and not set(val) - set(split_docs(names_docs, 7)[1])
    with pytest.raises(MicrogptError, match='both need at least one'):
        held_out_split(names_docs[:3], 7, 0.9)  # rounds to 3 held out, none to train on
    with pytest.raises(MicrogptError, match='both need at least one'):
        held_out_split(names_docs[:1], 7, 0.5)


def test_evaluation_prints_on_stderr_records_the_curve_and_keeps_the_best(runner, small_data):
    plain = train(runner, small_data, '--steps', '10', '--val-split', '0.2', '--samples', '3', '--out', 'a.json')
    result = train(runner, small_data, '--steps', '10', '--val-split', '0.2', '--eval-every', '4', '--samples', '3',
                   '--out', 'run.ckpt.json')
    assert plain.exit_code == result.exit_code == 0, result.output
    assert result.stdout == plain.stdout and 'num docs: 240' in result.stdout  # stdout: the original's lines
    evals = [line for line in result.stderr.splitlines() if line.startswith('eval step')]
    assert [line.split('|')[0].split()[2] for line in evals] == ['4', '8', '10']  # every 4 steps and at the end
    t = ckpt.load_checkpoint('run.ckpt.json').training
    assert [p['step'] for p in t['curve']] == [4, 8, 10]
    losses = ckpt.load_checkpoint('run.ckpt.json').losses
    assert t['curve'][1]['train_loss'] == pytest.approx(sum(losses[4:8]) / 4)
    best = min(t['curve'], key=lambda p: p['val_loss'])
    assert t['best'] == dict(step=best['step'], val_loss=best['val_loss'], checkpoint='run.best.ckpt.json')
    assert f"held-out loss {t['curve'][-1]['val_loss']:.4f} | best {best['val_loss']:.4f}" in evals[-1]
    kept = ckpt.load_checkpoint('run.best.ckpt.json')
    assert kept.training['steps_done'] == best['step']
    _, held = held_out_split(small_data.read_text().split(), 42, 0.2)
    assert mean_loss(make_engine('numpy', kept.config, kept.state_dict), kept.tokenizer, held) == best['val_loss']
    assert 'in the held-out data' in result.stderr.splitlines()[-1]
    for command in (['eval', '--checkpoint', 'run.best.ckpt.json', '--data', str(small_data)],
                    ['sample', '--checkpoint', 'run.best.ckpt.json', '--num', '2']):
        assert runner.invoke(main, command).exit_code == 0


def scripted_run(docs, losses):
    run = Run(docs, seed=1, arch=ARCH, held_out=docs[:5])
    script = iter(losses)
    run.evaluate = lambda: next(script)
    return run


def test_early_stop_ends_after_k_evaluations_without_a_better_loss(names_docs):
    cfg = TrainConfig(num_steps=40, val_split=0.1, eval_every=2, early_stop=3)
    run = scripted_run(names_docs[:50], [3.0, 2.9, 2.95, 2.9, 2.92, 1.0])
    run.train(cfg)
    assert [p['val_loss'] for p in run.curve] == [3.0, 2.9, 2.95, 2.9, 2.92]  # a tie is no better
    assert run.stopped_early and run.step == 10 and run.best['step'] == 4
    run = scripted_run(names_docs[:50], [3.0] * 20)
    run.train(TrainConfig(num_steps=8, val_split=0.1, eval_every=2))
    assert not run.stopped_early and run.step == 8


def test_an_early_stopped_run_cannot_be_resumed(runner, small_data, monkeypatch):
    monkeypatch.setattr(Run, 'evaluate', lambda self: 2.0)  # never better
    result = train(runner, small_data, '--steps', '20', '--val-split', '0.2', '--eval-every', '2',
                   '--early-stop', '1', '--samples', '0', '--out', 'es.json')
    assert result.exit_code == 0 and 'stopped early at step 4' in result.stderr
    assert ckpt.load_checkpoint('es.json').training['steps_done'] == 4
    result = runner.invoke(main, ['train', '--resume', 'es.json', '--data', str(small_data)])
    assert result.exit_code == 1 and 'stopped early' in errors_of(result)[0]


# --- resume, max-time ------------------------------------------------------------------------

def interrupted_after(runner, data, k, args):
    original_line = jobs.step_line

    def line(step, total, loss):
        if step == k:
            os.kill(os.getpid(), signal.SIGINT)
        return original_line(step, total, loss)

    jobs.step_line = line
    try:
        return train(runner, data, *args)
    finally:
        jobs.step_line = original_line


@pytest.mark.parametrize('order, first, second', [('walk', 'numpy', 'numpy'), ('epoch', 'val', 'numpy'),
                                                  ('replacement', 'numpy', 'numpy')])
def test_resume_is_exact_with_every_option(runner, tmp_path, names_docs, order, first, second):
    data = tmp_path / 'few.txt'
    data.write_text('\n'.join(names_docs[:30]) + '\n')  # passes of 8 steps: the epoch order reshuffles
    args = [*ALL_OPTIONS, '--batch-order', order, '--steps', '14', '--samples', '3']
    whole = train(runner, data, *args, '--engine', first, '--out', 'whole.json')
    assert whole.exit_code == 0, whole.output
    stopped = interrupted_after(runner, data, 6, [*args, '--engine', first, '--out', 'part.json'])
    assert stopped.exit_code == 130 and ckpt.load_checkpoint('part.json').training['steps_done'] == 6
    resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(data), '--engine', second])
    assert resumed.exit_code == 0, resumed.output
    assert step_lines(resumed) == step_lines(whole)[6:]
    assert resumed.stdout.splitlines()[-4:] == whole.stdout.splitlines()[-4:]  # the samples
    a, b = ckpt.load_checkpoint('part.json').training, ckpt.load_checkpoint('whole.json').training
    assert [p['step'] for p in a['curve']] == [4, 8, 12, 14]
    np.testing.assert_allclose([p['val_loss'] for p in a['curve']], [p['val_loss'] for p in b['curve']], rtol=1e-9)
    if first == second:
        assert a['curve'] == b['curve'] and a['best']['step'] == b['best']['step']
        assert ckpt.load_checkpoint('part.json').state_dict == ckpt.load_checkpoint('whole.json').state_dict
        assert ckpt.load_checkpoint('part.json').ema == ckpt.load_checkpoint('whole.json').ema is not None


def test_resume_refuses_options_that_contradict_the_checkpoint(runner, small_data):
    stopped = interrupted_after(runner, small_data, 2, ['--steps', '6', '--weight-decay', '0.1', '--out', 'p.json'])
    assert stopped.exit_code == 130
    for flag, value in (('--weight-decay', '0.2'), ('--schedule', 'cosine'), ('--val-split', '0.1'),
                        ('--batch-order', 'epoch'), ('--beta2', '0.9')):
        result = runner.invoke(main, ['train', '--resume', 'p.json', '--data', str(small_data), flag, value])
        assert result.exit_code == 1 and 'contradicts checkpoint p.json' in errors_of(result)[0], flag
    result = runner.invoke(main, ['train', '--resume', 'p.json', '--data', str(small_data), '--weight-decay', '0.1'])
    assert result.exit_code == 0, result.output


def test_max_time_stops_at_a_step_boundary_and_the_run_resumes(runner, small_data):
    whole = train(runner, small_data, '--steps', '3000', '--samples', '2', '--out', 'whole.json')
    part = train(runner, small_data, '--steps', '3000', '--samples', '2', '--max-time', '0.05', '--out', 'part.json')
    assert part.exit_code == 0, part.output
    done = ckpt.load_checkpoint('part.json').training['steps_done']
    assert done < 3000 and f"stopped at --max-time 0.05s after {done} of 3000 steps" in part.stderr
    assert 'sample' not in part.stdout
    resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data)])
    assert resumed.exit_code == 0
    assert step_lines(part) + step_lines(resumed) == step_lines(whole)
    assert resumed.stdout.splitlines()[-2:] == whole.stdout.splitlines()[-2:]


# --- bad input, before any work ----------------------------------------------------------------

@pytest.mark.parametrize('args, message', [
    (['--eval-every', '20', '--steps', '10', '--val-split', '0.1'],
     'eval_every must be a whole number of steps from 1'),
    (['--eval-every', '5', '--steps', '10'], 'it needs a val_split'),
    (['--early-stop', '2', '--steps', '10'], 'early_stop counts evaluations: it needs eval_every'),
    (['--warmup', '10', '--steps', '10'], 'warmup must be a whole number of steps from 0'),
    (['--val-split', '0.9999'], 'leaves 0 to train on'),
    (['--dtype', 'float32', '--engine', 'val'], 'dtype float32 is for the numpy engine'),
])
def test_contradictory_options_are_one_line_before_any_work(runner, small_data, args, message):
    result = train(runner, small_data, *args)
    assert result.exit_code == 1 and result.stdout == ''
    assert len(errors_of(result)) == 1 and message in errors_of(result)[0], result.stderr


@pytest.mark.parametrize('flag, value', [('--weight-decay', '-0.1'), ('--beta1', '1'), ('--beta2', '-0.5'),
                                         ('--beta1', 'nan'), ('--val-split', '0'), ('--val-split', '1'),
                                         ('--warmup', '-1'), ('--schedule', 'exp'), ('--max-time', '0')])
def test_impossible_numbers_are_usage_errors(runner, small_data, flag, value):
    result = train(runner, small_data, flag, value)
    assert result.exit_code == 2 and flag in result.stderr and result.stdout == ''


def test_train_config_refuses_impossible_values():
    for bad in (dict(weight_decay=-1.0), dict(beta1=1.0), dict(beta2=float('nan')), dict(schedule='exp'),
                dict(batch_order='random'), dict(val_split=1.0), dict(warmup=True)):
        with pytest.raises(MicrogptError):
            TrainConfig(**bad)


# --- float32, novelty, the plot ------------------------------------------------------------------

def test_float32_numpy_computes_the_same_model_to_single_precision(names_docs, runner, small_data):
    run64 = Run(names_docs[:100], seed=5, arch=ARCH)
    run32 = Run(names_docs[:100], seed=5, arch=ARCH, dtype='float32')
    assert run32.engine.weights.dtype == np.float32
    cfg = TrainConfig(num_steps=20, batch_size=4)
    np.testing.assert_allclose(run32.train(cfg), run64.train(cfg), rtol=2e-4)
    result = train(runner, small_data, '--steps', '5', '--dtype', 'float32', '--samples', '2', '--out', 'f.json')
    assert result.exit_code == 0, result.output
    assert ckpt.load_checkpoint('f.json').training['dtype'] == 'float32'
    assert 'dtype=float32' in result.stderr.splitlines()[0]  # the voice: not the original's numbers


def test_novelty_counts_makemores_three_kinds():
    assert novelty(['ann', 'bob', 'zed', 'ann', 'eve'], ['ann', 'eve'], ['bob', 'eve']) == \
        dict(samples=5, new=1, train=3, held_out=1)
    assert novelty(['ann', 'zed'], ['ann'])['held_out'] is None


def test_sample_novelty_uses_the_checkpoints_split_on_its_own_data(runner, small_data, tmp_path):
    assert train(runner, small_data, '--steps', '30', '--val-split', '0.2', '--samples', '0').exit_code == 0
    result = runner.invoke(main, ['sample', '--novelty', '--data', str(small_data), '--num', '30'])
    assert result.exit_code == 0
    names = [line.split(': ', 1)[1] if ': ' in line else '' for line in result.stdout.splitlines()]
    train_docs, held = held_out_split(small_data.read_text().split(), 42, 0.2)
    counts = novelty(names, train_docs, held)
    assert f"novelty: {counts['new']} of 30 samples new, {counts['train']} in the training data, " \
           f"{counts['held_out']} in the held-out data" in result.stderr
    other = tmp_path / 'other.txt'
    other.write_text('\n'.join(names[:3]) + '\n')
    result = runner.invoke(main, ['sample', '--novelty', '--data', str(other), '--num', '30'])
    assert "samples new, " in result.stderr and 'no held-out data' in result.stderr


def test_train_plot_draws_the_held_out_curve(runner, small_data, tmp_path):
    pytest.importorskip('matplotlib')
    result = train(runner, small_data, '--steps', '12', '--val-split', '0.2', '--eval-every', '4',
                   '--samples', '0', '--plot', 'curve.png')
    assert result.exit_code == 0, result.output
    assert (tmp_path / 'curve.png').read_bytes()[:4] == b'\x89PNG'


def test_best_checkpoint_path():
    assert str(train_plan.best_checkpoint_path('out/run.ckpt.json')) == 'out/run.best.ckpt.json'
    assert str(train_plan.best_checkpoint_path('run.json')) == 'run.best.json'
    assert str(train_plan.best_checkpoint_path('run')) == 'run.best'


# --- a compute budget --------------------------------------------------------------------------

def test_budget_sets_the_steps_and_says_how_long(runner, small_data):
    from microgpt.compute.flops import lengths_of, mean_step_flops, steps_for_budget
    docs = small_data.read_text().split()
    train_docs, _ = held_out_split(docs, 42, 0.2)
    config = GPTConfig(vocab_size=len(set(''.join(train_docs))) + 1, n_embd=8, n_head=2, block_size=8)
    step = mean_step_flops(config, 4, lengths_of(train_docs, config)).total
    result = train(runner, small_data, '--budget', str(7.5 * step), '--batch-size', '4', '--val-split', '0.2',
                   '--eval-every', '3', '--samples', '0', '--out', 'b.json')
    assert result.exit_code == 0, result.output
    assert steps_for_budget(config, 4, 7.5 * step, lengths_of(train_docs, config)) == 7
    assert len(step_lines(result)) == 7 and step_lines(result)[-1].startswith('step    7 /    7')
    assert f"budget {7.5 * step:.4g} FLOPs: 7 steps of {step:.4g} FLOPs on average; about " in result.stderr
    assert 'num_steps=7' in result.stderr  # the voice says the budget's steps
    t = ckpt.load_checkpoint('b.json').training
    assert t['num_steps'] == 7 and t['budget'] == 7.5 * step


@pytest.mark.parametrize('args, message', [
    (['--budget', '1000'], 'is less than one step of this model'),
    (['--budget', '1e9', '--steps', '10'], '--budget sets the number of steps: drop --steps'),
])
def test_a_budget_that_cannot_be_met_is_one_line(runner, small_data, args, message):
    result = train(runner, small_data, *args)
    assert result.exit_code == 1 and result.stdout == '' and message in errors_of(result)[0]


def test_a_resumed_run_keeps_its_steps(runner, small_data):
    assert interrupted_after(runner, small_data, 2, ['--steps', '6', '--out', 'p.json']).exit_code == 130
    result = runner.invoke(main, ['train', '--resume', 'p.json', '--data', str(small_data), '--budget', '1e9'])
    assert result.exit_code == 1 and 'drop --budget' in errors_of(result)[0]
