"""The training lifecycle: resume, eval, judge, plots, mini-batches, clipping, the creature's
voice, and the provenance of what microgpt writes."""
import json
import math
import os
import signal
import sys

import pytest

from conftest import docs_text
from microgpt.cli import main
from microgpt.data import sha256_of
from microgpt.files import checkpoint as ckpt
from microgpt.gpt.engines import make_engine
from microgpt.training.evaluation import mean_loss
from microgpt.training.genome import save_genome, Genome

TINY = ['--n-embd', '8', '--n-head', '2', '--block-size', '8', '--engine', 'numpy']


def train(runner, data, *extra):
    return runner.invoke(main, ['train', '--data', str(data), *TINY, *extra])


def errors_of(result):
    return [line for line in result.stderr.splitlines() if line.startswith('Error:')]


# --- resume ------------------------------------------------------------------------------------

def test_resume_refuses_a_finished_run_other_data_and_contradicting_flags(runner, small_data, tmp_path):
    assert train(runner, small_data, '--steps', '6', '--samples', '0', '--out', 'done.json').exit_code == 0
    result = runner.invoke(main, ['train', '--resume', 'done.json', '--data', str(small_data)])
    assert result.exit_code == 1 and 'is a finished run (6 of 6 steps)' in errors_of(result)[0]

    loaded = ckpt.load_checkpoint('done.json')
    loaded.training['steps_done'] = 3  # as if interrupted after 3 of 6 steps
    loaded.losses = loaded.losses[:3]
    ckpt.save_checkpoint('part.json', loaded)
    other = tmp_path / 'other.txt'
    other.write_text(small_data.read_text() + 'zed\n')
    result = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(other)])
    assert result.exit_code == 1 and 'is not the data checkpoint part.json was trained on' in errors_of(result)[0]
    result = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data), '--n-embd', '16'])
    assert result.exit_code == 1
    assert 'n_embd 16 (given on the command line) contradicts checkpoint part.json' in errors_of(result)[0]
    result = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data), '--n-embd', '8'])
    assert result.exit_code == 0, result.output  # a flag equal to the checkpoint's is fine
    assert ckpt.load_checkpoint('part.json').training['steps_done'] == 6


@pytest.mark.parametrize('first, second', [('val', 'val'), ('val', 'numpy'), ('numpy', 'val')])
def test_a_run_resumed_at_any_step_prints_what_the_whole_run_prints(runner, small_data, first, second):
    """Stop after k steps (as Ctrl-C does), resume on either engine: the same lines from there on."""
    args = ['--steps', '12', '--samples', '4', '--engine', first]
    whole = train(runner, small_data, *args, '--out', 'whole.json')
    assert whole.exit_code == 0, whole.output
    steps = [line for line in whole.stdout.splitlines() if line.startswith('step')]
    # Ctrl-C after step k of the 12-step run (StopRequests stops it at the step boundary)
    from microgpt.commands import train_job as jobs
    for k in (1, 7):
        stop_after = {'k': k}
        original = jobs.step_line

        def line(step, total, loss):
            if step == stop_after['k']:
                os.kill(os.getpid(), signal.SIGINT)
            return original(step, total, loss)

        jobs.step_line = line
        try:
            stopped = train(runner, small_data, *args, '--out', 'part.json')
        finally:
            jobs.step_line = original
        assert stopped.exit_code == 130 and ckpt.load_checkpoint('part.json').training['steps_done'] == k
        resumed = runner.invoke(main, ['train', '--resume', 'part.json', '--data', str(small_data),
                                       '--engine', second])
        assert resumed.exit_code == 0, resumed.output
        lines = resumed.stdout.splitlines()
        assert [l for l in lines if l.startswith('step')] == steps[k:]
        assert [l for l in lines if l.startswith('sample')] == [l for l in whole.stdout.splitlines()
                                                                 if l.startswith('sample')]
        if first == second:
            assert ckpt.load_checkpoint('part.json').state_dict == ckpt.load_checkpoint('whole.json').state_dict


# --- eval and judge -----------------------------------------------------------------------------

def test_eval_prints_loss_perplexity_and_tokens(runner, small_data, tmp_path):
    assert train(runner, small_data, '--steps', '20', '--samples', '0').exit_code == 0
    held = tmp_path / 'held.txt'
    held.write_text('anna\nbob\n\nemma\n')
    result = runner.invoke(main, ['eval', '--data', str(held)])
    assert result.exit_code == 0, result.output
    loaded = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT)
    engine = make_engine('numpy', loaded.config, loaded.state_dict)
    loss = mean_loss(engine, loaded.tokenizer, ['anna', 'bob', 'emma'])
    assert result.stdout.strip() == f"loss {loss:.4f} | perplexity {math.exp(loss):.4f} | 14 tokens in 3 documents"
    as_json = json.loads(runner.invoke(main, ['eval', '--data', str(held), '--json']).stdout)
    assert as_json['loss'] == loss and as_json['tokens'] == 14 and as_json['perplexity'] == math.exp(loss)

    held.write_text('anna\nzoë\n')
    result = runner.invoke(main, ['eval', '--data', str(held)])
    assert result.exit_code == 1 and "a character the model does not know: 'ë'" in errors_of(result)[0]


def test_judge_scores_a_file_plain_and_as_json(runner, small_data, tmp_path):
    names = tmp_path / 'names.txt'
    names.write_text('corvina\nxx\ncorvina\n')
    plain = runner.invoke(main, ['judge', str(names), '--data', str(small_data)])
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    assert lines[0].split() == ['name', 'score', 'flow', 'symmetry', 'creativity']
    assert [line.split()[0] for line in lines[1:4]] == ['corvina', 'xx', 'corvina']
    assert lines[4].startswith('batch (3 names, 2 distinct)')
    report = json.loads(runner.invoke(main, ['judge', str(names), '--data', str(small_data), '--json']).stdout)
    assert set(report) == {'score', 'components', 'names'}
    assert set(report['components']) == {'flow', 'symmetry', 'creativity'}
    assert [n['name'] for n in report['names']] == ['corvina', 'xx', 'corvina']
    assert report['names'][0]['score'] > report['names'][1]['score']
    names.write_text('\n  \n')
    result = runner.invoke(main, ['judge', str(names)])
    assert result.exit_code == 1 and len(errors_of(result)) == 1 and 'names.txt' in errors_of(result)[0]


# --- plots ---------------------------------------------------------------------------------------

def test_train_plot_draws_the_loss_curve(runner, small_data, tmp_path):
    pytest.importorskip('matplotlib')
    result = train(runner, small_data, '--steps', '30', '--samples', '0', '--plot', 'loss.png')
    assert result.exit_code == 0, result.output
    assert (tmp_path / 'loss.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert 'loss plot saved to loss.png' in result.stderr


def test_train_plot_without_matplotlib_fails_before_training(runner, small_data, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, 'matplotlib.figure', None)  # as if not installed
    result = train(runner, small_data, '--steps', '30', '--plot', 'loss.png')
    assert result.exit_code == 1 and "plotting needs matplotlib: pip install matplotlib (from a clone of microgpt: pip install -e '.[plot]')" in result.stderr
    assert result.stdout == '' and not (tmp_path / ckpt.DEFAULT_CHECKPOINT).exists()


def test_moving_average():
    from microgpt.plots import moving_average
    assert moving_average([1.0, 3.0, 5.0, 7.0], window=2) == [1.0, 2.0, 4.0, 6.0]


# --- mini-batches and clipping -------------------------------------------------------------------

def test_batch_size_one_is_the_default_and_batches_take_documents_in_order(names_docs):
    from microgpt.training.run import Run, TrainConfig
    run = Run(names_docs[:50], seed=1, arch=dict(n_embd=8, n_head=2, block_size=8))
    assert TrainConfig().batch_size == 1
    first, second = run.batch(0, 3), run.batch(1, 3)
    expected = [run.tokenizer.doc_tokens(doc, 8) for doc in run.docs[:6]]
    assert first + second == expected


@pytest.mark.parametrize('engine', ['val', 'numpy'])
def test_batched_training_agrees_between_engines(runner, small_data, engine):
    result = train(runner, small_data, '--steps', '5', '--batch-size', '4', '--samples', '0', '--engine', engine,
                   '--out', f'{engine}.json')
    assert result.exit_code == 0, result.output
    assert ckpt.load_checkpoint(f'{engine}.json').training['batch_size'] == 4


def test_batched_losses_are_the_same_on_both_engines(runner, small_data):
    outs = [train(runner, small_data, '--steps', '8', '--batch-size', '3', '--samples', '0', '--engine', engine).stdout
            for engine in ('val', 'numpy')]
    assert outs[0] == outs[1] and outs[0].count('step') == 8


@pytest.mark.slow
def test_batches_of_8_reach_a_lower_loss_than_batches_of_1_in_250_steps(runner, names_path):
    """The training page's example: 250 steps of the default model on the names data."""
    losses = {}
    for b in (1, 8):
        trained = runner.invoke(main, ['train', '--data', str(names_path), '--primordial', '--steps', '250',
                                       '--batch-size', str(b), '--samples', '0', '--out', f'b{b}.json'])
        assert trained.exit_code == 0, trained.output
        result = runner.invoke(main, ['eval', '--checkpoint', f'b{b}.json', '--data', str(names_path), '--json'])
        losses[b] = json.loads(result.stdout)['loss']
    assert losses[8] < losses[1] - 0.05, losses
    readme = docs_text('training')
    assert f"`loss {losses[1]:.4f}` with `--batch-size 1`" in readme
    assert f"`loss {losses[8]:.4f}` with `--batch-size 8`" in readme


def test_clip_bounds_the_update(runner, small_data):
    free = train(runner, small_data, '--steps', '3', '--samples', '0', '--out', 'free.json')
    clipped = train(runner, small_data, '--steps', '3', '--samples', '0', '--clip', '1e-6', '--out', 'clip.json')
    assert free.exit_code == clipped.exit_code == 0
    a, b = ckpt.load_checkpoint('free.json'), ckpt.load_checkpoint('clip.json')
    assert a.state_dict != b.state_dict and b.training['grad_clip'] == 1e-6
    # Adam normalizes the step, so a clip shows in the moments: m is scaled down with the gradient
    m_free = max(abs(x) for rows in a.optimizer['m'].values() for row in rows for x in row)
    m_clip = max(abs(x) for rows in b.optimizer['m'].values() for row in rows for x in row)
    assert m_clip < 1e-5 < m_free


# --- the creature's voice and provenance ---------------------------------------------------------

def test_voice_unformed_then_become(runner, small_data):
    # flags equal to the original's are no difference; the voice names each one that is
    result = runner.invoke(main, ['train', '--data', str(small_data), '--steps', '1000', '--n-embd', '16',
                                  '--beta1', '0.85', '--samples', '0'])
    assert result.exit_code == 0 and 'I am unformed (the primordial settings: no genome.json here)' in result.stderr
    result = train(runner, small_data, '--steps', '3', '--samples', '0', '--batch-size', '2', '--clip', '1')
    assert result.exit_code == 0, result.output
    assert ("I am unformed (the original's settings except block_size=8 n_embd=8 n_head=2 num_steps=3 "
            "batch_size=2 grad_clip=1: no genome.json here)") in result.stderr
    genome = Genome(n_embd=8, n_head=2, n_layer=1, block_size=8, ff_mult=2, learning_rate=0.02, num_steps=100)
    save_genome('genome.json', genome, {'fitness': 'loss', 'score': 2.5})
    result = runner.invoke(main, ['train', '--data', str(small_data), '--samples', '0'])
    assert result.exit_code == 0 and 'I have become (loss fitness 2.5000): n_embd=8' in result.stderr
    assert 'I ' not in result.stdout


def test_checkpoint_records_provenance(runner, small_data):
    assert train(runner, small_data, '--steps', '3', '--samples', '0').exit_code == 0
    p = ckpt.load_checkpoint(ckpt.DEFAULT_CHECKPOINT).provenance
    assert p['microgpt'] and p['python'] and p['numpy'] and p['engine'] == 'numpy'
    assert p['data_sha256'] == sha256_of(small_data)
    assert p['command'][:3] == ['train', '--data', str(small_data)]
    from microgpt.provenance import git_commit
    assert p.get('git_commit') == git_commit()


# --- analyze: evolve logs, duplicates, other data ----------------------------------------------

def write_jsonl(path, records):
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_analyze_reads_an_evolve_log(runner, tmp_path):
    run = {'kind': 'run', 'fitness': 'loss', 'population': 4, 'generations': 2, 'seed': 3}
    gens = [{'kind': 'generation', 'generation': g, 'best': b, 'mean': b + 0.1, 'worst': b + 0.2, 'failed': 0,
             'diversity': d} for g, b, d in ((1, 2.5, 4), (2, 2.4, 3))]
    write_jsonl(tmp_path / 'evolve.jsonl', [run] + gens)
    result = runner.invoke(main, ['analyze', 'evolve.jsonl'])
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.stdout.split('\n\n')[1].splitlines()]
    assert rows[1:] == [['1', '2.5000', '-', '2.6000', '2.7000', '0', '4'], ['2', '2.4000', '-', '2.5000', '2.6000', '0', '3']]
    assert 'this log records no births' in result.stdout  # a log from before lineage was recorded
    if 'matplotlib' in sys.modules or pytest.importorskip('matplotlib'):
        assert runner.invoke(main, ['analyze', 'evolve.jsonl', '--plot', 'evo.png']).exit_code == 0
        assert (tmp_path / 'evo.png').exists()


def sweep_row(steps, val_loss, sha='a' * 64, finished='2026-01-01T00:00:00+00:00'):
    return dict(sweep='steps', size='small', n_embd=8, n_head=2, n_layer=1, block_size=16, ff_mult=4, steps=steps,
                seed=1, lr=0.01, engine='numpy', data_sha256=sha, params=1328, seconds=1.0, train_loss=2.5,
                val_loss=val_loss, finished_at=finished)


def test_analyze_uses_the_newest_of_a_run_found_twice_and_refuses_other_data(runner, tmp_path):
    write_jsonl(tmp_path / 'old.jsonl', [sweep_row(10, 2.9), sweep_row(20, 2.8)])
    write_jsonl(tmp_path / 'new.jsonl', [sweep_row(20, 2.7, finished='2026-02-01T00:00:00+00:00')])
    result = runner.invoke(main, ['analyze', 'old.jsonl', 'new.jsonl'])
    assert result.exit_code == 0, result.output
    assert '2.7000' in result.stdout and '2.8000' not in result.stdout
    assert 'found more than once; using the newest (new.jsonl' in result.stderr
    write_jsonl(tmp_path / 'other.jsonl', [sweep_row(30, 2.6, sha='b' * 64)])
    result = runner.invoke(main, ['analyze', 'old.jsonl', 'other.jsonl'])
    assert result.exit_code == 1 and 'made from different data' in errors_of(result)[0]
