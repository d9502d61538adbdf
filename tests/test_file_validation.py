"""Every file microgpt reads is checked field by field before use: a hand-edited checkpoint,
genome, evolve log or sweep results row is one line naming the file and the field, never a
traceback and never a silently different run. And the faults that gave tracebacks: a
temperature too small to divide by, running out of memory."""
import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from microgpt.cli import main
from microgpt.files import checkpoint as ckpt

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO), OPENBLAS_NUM_THREADS='1')
TINY = ['--n-embd', '8', '--n-head', '2', '--block-size', '8']


def fails_in_one_line(result, *fragments):
    """Exit 1, no traceback, and stderr one `Error:` line holding every fragment."""
    assert result.exit_code == 1, (result.exit_code, result.output)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert 'Traceback' not in result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('Error:'), result.stderr
    assert all(fragment in lines[0] for fragment in fragments), (fragments, lines[0])
    return lines[0]


@pytest.fixture(scope='module')
def made(tmp_path_factory, names_docs):
    """A real run (held-out evaluations, a weight average) stopped half way, as a consistent
    checkpoint to resume, beside its data, and the project's genome with its record."""
    from click.testing import CliRunner
    folder = tmp_path_factory.mktemp('made')
    data = folder / 'names.txt'
    data.write_text('\n'.join(names_docs[:200]) + '\n')
    result = CliRunner().invoke(main, ['train', '--data', str(data), *TINY, '--steps', '8', '--val-split', '0.2',
                                       '--eval-every', '2', '--ema', '0.9', '--samples', '0',
                                       '--out', str(folder / 'whole.json')])
    assert result.exit_code == 0, result.output
    part = json.loads((folder / 'whole.json').read_text())
    t = part['training']
    t['steps_done'], part['losses'] = 4, part['losses'][:4]
    t['curve'] = [point for point in t['curve'] if point['step'] <= 4]
    best = min(t['curve'], key=lambda point: point['val_loss'])
    t['best'] = dict(step=best['step'], val_loss=best['val_loss'], checkpoint=str(folder / 'part.best.json'))
    shutil.copy(REPO / 'genome.json', folder / 'genome.json')
    known = folder / 'known.txt'  # names the model can read, to evaluate it on
    known.write_text('\n'.join(doc for doc in names_docs[:200] if set(doc) <= set(part['vocab'])) + '\n')
    return dict(data=data, part=part, genome=json.loads((folder / 'genome.json').read_text()), known=known)


def edited(obj, path, value):
    """A deep copy of obj with the field at `path` (keys and indices) set to value, or deleted
    (value DELETE)."""
    copy = json.loads(json.dumps(obj))
    *parents, last = path
    target = copy
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return copy


DELETE = object()
CHECKPOINT_EDITS = [  # (where, the value written there, what the line must say)
    (('training', 'steps_done'), DELETE, "field 'training.steps_done' is missing"),
    (('training', 'steps_done'), '4', "field 'training.steps_done' must be a whole number >= 0, got '4'"),
    (('training', 'steps_done'), -3, "field 'training.steps_done' must be a whole number >= 0, got -3"),
    (('training', 'steps_done'), 3, "field 'training.steps_done' must be the number of losses (4), got 3"),
    (('training', 'steps_done'), 2.5, "field 'training.steps_done' must be a whole number"),
    (('training', 'seed'), 'abc', "field 'training.seed' must be a whole number, got 'abc'"),
    (('training', 'seed'), DELETE, "field 'training.seed' is missing"),
    (('training', 'seed'), True, "field 'training.seed' must be a whole number, got True"),
    (('training', 'temperature'), DELETE, "field 'training.temperature' is missing"),
    (('training', 'temperature'), 0, "field 'training.temperature' must be a number > 0"),
    (('training', 'temperature'), 1e-310, "field 'training.temperature' must be a number > 0 whose inverse"),
    (('training', 'samples'), DELETE, "field 'training.samples' is missing"),
    (('training', 'samples'), -1, "field 'training.samples' must be a whole number >= 0"),
    (('training', 'ema'), None, "field 'training.ema' must be the decay of the weight average the file holds"),
    (('training', 'ema'), 1.5, "field 'training.ema' must be a decay in (0, 1)"),
    (('ema',), DELETE, "field 'ema' is missing: its run keeps a weight average"),
    (('training', 'curve'), 'none', "field 'training.curve' must be a list of evaluations"),
    (('training', 'curve', 0, 'step'), 'x', "field 'training.curve[0].step' must be a whole number >= 1"),
    (('training', 'curve', 0, 'val_loss'), DELETE, "field 'training.curve[0].val_loss' is missing"),
    (('training', 'curve', 1, 'step'), 99, "field 'training.curve[1].step' must be after the point before"),
    (('training', 'best', 'step'), 3, "field 'training.best.step' must be the step of an evaluation"),
    (('training', 'stopped_early'), True, "field 'training.stopped_early' can be true only for a run with early_stop"),
    (('training', 'stopped_early'), 'no', "field 'training.stopped_early' must be true or false"),
    (('training', 'num_steps'), DELETE, "field 'training.num_steps' is missing"),
    (('training', 'num_steps'), 3, "field 'training.steps_done' must be at most num_steps (3), got 4"),
    (('training', 'learning_rate'), 'fast', "field 'training.learning_rate' must be a finite number > 0"),
    (('training', 'batch_order'), 'random', "field 'training.batch_order' must be one of walk, epoch"),
    (('training', 'warmup'), 8, "field 'training.warmup' must be a whole number of steps from 0 to num_steps - 1"),
    (('training', 'dtype'), 'float16', "field 'training.dtype' must be one of float64, float32"),
    (('training', 'engine'), ['numpy'], "field 'training.engine' must be one of"),
    (('training', 'sead'), 42, "field 'training.sead' is not a field here"),
    (('config', 'n_head'), 3, "field 'config.n_head' must divide n_embd (8), got 3"),
    (('config', 'n_embd'), '8', "field 'config.n_embd' must be a whole number >= 1"),
    (('config', 'vocab_size'), DELETE, "field 'config.vocab_size' is missing"),
    (('vocab', 0), 'ab', "field 'vocab' must be a list of single characters"),
    (('state_dict', 'wte', 0), [0.5], "field 'state_dict.wte' must be"),
    (('optimizer', 'm', 'wpe', 0, 0), 'x', "field 'optimizer.m.wpe' holds a value that is not a finite number"),
    (('losses', 0), 'x', "field 'losses' must be a list of finite numbers"),
    (('provenance',), [], "field 'provenance' must be null or an object"),
]


def checkpoint_commands(path, made):
    data = str(made['data'])
    return {'resume': ['train', '--resume', path, '--data', data, '--out', 'resumed.json'],
            'sample --novelty': ['sample', '--checkpoint', path, '--novelty', '--data', data, '--num', '2'],
            'eval': ['eval', '--checkpoint', path, '--data', str(made['known'])],
            'report': ['report', '--checkpoint', path, '--data', data, '--out', 'page.html']}


def named(edits):
    """pytest's ids of a table of edits: 'training.seed='abc''."""
    return ['.'.join(map(str, where)) + '=' + ('deleted' if value is DELETE else repr(value))
            for where, value, _ in edits]


def written(tmp_path, name, obj, where, value):
    """The edited file, and its bytes."""
    path = tmp_path / name
    path.write_text(json.dumps(edited(obj, where, value)))
    return path, path.read_bytes()


@pytest.mark.parametrize('where, value, message', CHECKPOINT_EDITS, ids=named(CHECKPOINT_EDITS))
def test_a_hand_edited_checkpoint_is_one_line_naming_its_field(runner, made, tmp_path, where, value, message):
    path, before = written(tmp_path, 'run.ckpt.json', made['part'], where, value)
    for command in checkpoint_commands(str(path), made).values():
        fails_in_one_line(runner.invoke(main, command), f"checkpoint {path} is corrupt: {message}")
    assert path.read_bytes() == before
    assert not (tmp_path / 'resumed.json').exists() and not (tmp_path / 'page.html').exists()


def test_the_unedited_checkpoint_passes_every_reader(runner, made, tmp_path):
    """The table's edits are all that fails: the file they start from is read by each command."""
    path = tmp_path / 'run.ckpt.json'
    path.write_text(json.dumps(made['part']))
    for name, command in checkpoint_commands(str(path), made).items():
        result = runner.invoke(main, command)
        assert result.exit_code == 0, (name, result.output)
    assert ckpt.load_checkpoint(tmp_path / 'resumed.json').training['steps_done'] == 8  # resumed to its end


GENOME_EDITS = [
    (('provenance', 'score'), 'abc', "field 'provenance.score' must be null or a number, got 'abc'"),
    (('provenance', 'spread'), -1, "field 'provenance.spread' must be null or a number >= 0"),
    (('provenance', 'fitness'), 3, "field 'provenance.fitness' must name a fitness"),
    (('provenance', 'generation'), 'last', "field 'provenance.generation' must be null or a whole number"),
    (('provenance',), 'x', "field 'provenance' must be an object"),
    (('genes', 'n_embd'), 'wide', "field 'genes.n_embd' must be a whole number >= 1"),
    (('genes', 'n_layer'), DELETE, "field 'genes.n_layer' is missing"),
    (('record', 'scorings', 0, 'seed'), 'x', "field 'record.scorings[0].seed' must be a whole number"),
]


@pytest.mark.parametrize('where, value, message', GENOME_EDITS, ids=named(GENOME_EDITS))
def test_a_hand_edited_genome_is_one_line_naming_its_field(runner, made, tmp_path, where, value, message):
    path, before = written(tmp_path, 'g.json', made['genome'], where, value)
    result = runner.invoke(main, ['train', '--genome', str(path), '--data', str(made['data']), '--steps', '2',
                                  '--samples', '0', '--out', 'out.json'])
    fails_in_one_line(result, f"genome file {path}: {message}")
    assert path.read_bytes() == before and not (tmp_path / 'out.json').exists()


# --- the logs analyze reads ------------------------------------------------------------------

SHIPPED_LOG = REPO / 'experiments' / 'default-search' / 'evolve-loss-20261207-152208-seed42.jsonl'
LOG_EDITS = [  # (the kind of record, its field, the value written, what the line must say)
    ('organism', 'generation', [], "field 'organism.generation' must be a whole number >= 0, got []"),
    ('organism', 'genes', None, "field 'organism.genes' must be an object of genes"),
    ('organism', 'parents', 'abc', "field 'organism.parents' must be a list of [generation, index] pairs"),
    ('generation', 'best', 'abc', "field 'generation.best' must be null or a number"),
    ('generation', 'failed', DELETE, "field 'generation.failed' is missing"),
    ('run', 'population', DELETE, "field 'run.population' is missing"),
    ('baseline', 'scores', None, "field 'baseline.scores' must be a list of numbers"),
    ('decision', 'winner', 'abc', "field 'decision.winner' must be an object"),
    ('decision', 'noise', None, "field 'decision.noise' must be a number where the lead is one"),
    ('result', 'best', 'abc', "field 'result.best' must be null or an object"),
    ('plan', 'kind', [], "field 'kind' must name the record's kind"),
]


@pytest.mark.parametrize('kind, name, value, message', LOG_EDITS,
                         ids=[f"{kind}.{name}" for kind, name, _, _ in LOG_EDITS])
def test_a_hand_edited_evolve_log_is_one_line_naming_its_line_and_field(runner, tmp_path, kind, name, value,
                                                                         message):
    records = [json.loads(line) for line in SHIPPED_LOG.read_text().splitlines()]
    number = next(k for k, record in enumerate(records) if record.get('kind') == kind)
    records[number] = edited(records[number], (name,), value)
    path = tmp_path / 'evolve.jsonl'
    path.write_text(''.join(json.dumps(record) + '\n' for record in records))
    fails_in_one_line(runner.invoke(main, ['analyze', str(path)]),
                      f"evolve log {path}: line {number + 1}: {message}")


def test_the_shipped_logs_pass_their_check(runner):
    for path in sorted((REPO / 'experiments').glob('**/evolve-*.jsonl')):
        result = runner.invoke(main, ['analyze', str(path)])
        assert result.exit_code == 0, (path, result.output)


@pytest.mark.parametrize('name, value, message', [
    ('seed', 'abc', "field 'seed' must be a whole number, got 'abc'"),
    ('size', {}, "field 'size' must be a text"),
    ('data_sha256', None, "field 'data_sha256' must be a text"),
    ('val_loss', -1, "field 'val_loss' must be a number > 0"),
    ('sweep', [], "unknown sweep []"),
])
def test_a_hand_edited_sweep_row_is_skipped_in_one_line_naming_its_field(runner, tmp_path, name, value, message):
    shipped = REPO / 'experiments' / 'sweep-steps-20261201-092409.jsonl'
    lines = shipped.read_text().splitlines()
    lines[2] = json.dumps(edited(json.loads(lines[2]), (name,), value))
    path = tmp_path / 'sweep.jsonl'
    path.write_text('\n'.join(lines) + '\n')
    result = runner.invoke(main, ['analyze', str(path)])
    assert result.exit_code == 0 and 'Traceback' not in result.output, result.output
    skipped = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:3: skipped: ")]
    assert len(skipped) == 1 and message in skipped[0], result.stderr


# --- the faults that gave tracebacks --------------------------------------------------------------

@pytest.mark.parametrize('temperature', ['1e-310', '5e-324'])
def test_a_temperature_too_small_to_divide_by_is_one_line_before_any_work(runner, made, tmp_path, temperature):
    path = tmp_path / 'run.ckpt.json'
    path.write_text(json.dumps(made['part']))
    line = f"temperature is too small: 1 / temperature overflows, got {float(temperature)}"
    for command in (['sample', '--checkpoint', str(path), '--temperature', temperature],
                    ['report', '--checkpoint', str(path), '--data', str(made['data']), '--out', 'page.html',
                     '--temperature', temperature],
                    ['train', '--data', str(made['data']), *TINY, '--steps', '2', '--out', 'new.json',
                     '--temperature', temperature]):
        result = runner.invoke(main, command)
        fails_in_one_line(result, line)
        assert not result.stdout  # train refused it before its first step
    assert not (tmp_path / 'new.json').exists() and not (tmp_path / 'page.html').exists()


def test_a_tiny_temperature_that_still_divides_samples(runner, made, tmp_path):
    path = tmp_path / 'run.ckpt.json'
    path.write_text(json.dumps(made['part']))
    result = runner.invoke(main, ['sample', '--checkpoint', str(path), '--temperature', '1e-300', '--num', '2'])
    assert result.exit_code == 0, result.output
    assert len(result.stdout.splitlines()) == 2


# evolve --out '', '.', '/': tests/test_outputs.py::test_evolve_refuses_an_out_that_names_no_file_before_the_search


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason="an address-space limit: Linux")
def test_running_out_of_memory_is_one_line(made, tmp_path):
    """A batch larger than the memory left (here: an address space of 1 GiB)."""
    def limited():
        resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))

    result = subprocess.run([sys.executable, '-m', 'microgpt', 'train', '--data', str(made['data']), *TINY,
                             '--steps', '1', '--batch-size', '200000000', '--samples', '0', '--out', 'm.json'],
                            cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120, preexec_fn=limited)
    assert result.returncode == 1, result.stderr
    assert 'Traceback' not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and len(result.stderr.splitlines()) <= 3, result.stderr
    assert not (tmp_path / 'm.json').exists()
