"""Property-based tests (Hypothesis): whatever bad value a numeric option of `train`, `sample`
or `evolve` is given, and however a checkpoint or a genome is damaged, microgpt ends cleanly:
never a traceback, every file that was there before byte for byte as it was, and what it
refuses refused with exit status 1 or 2 and one `Error:` line (at most a few lines on stderr).

A bad number is always refused: 2 when the flag itself refuses it, 1 when it passes the flag
but no bound (memory, or a year at the fastest, limits.py) lets it through. A damaged file is
refused unless the damage left a file that still makes sense (a weight negated, a provenance
field dropped): then the command may do its work, and exit 0.

The options are read from the click commands themselves, so a new numeric option is fuzzed
as soon as it exists. The commands run in this process (click's CliRunner) in a fresh folder
per example, with the memory free pinned, so the same examples give the same refusals on
every machine; Hypothesis draws derandomized examples, so CI sees the same ones every run.
"""
import contextlib
import json
import math
import shutil
import tempfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

hypothesis = pytest.importorskip('hypothesis')
from hypothesis import HealthCheck, assume, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from microgpt.cli import main  # noqa: E402
from microgpt.commands.evolve import evolve  # noqa: E402
from microgpt.commands.options import Real  # noqa: E402
from microgpt.commands.sample import sample  # noqa: E402
from microgpt.commands.train import train  # noqa: E402
from microgpt.compute import limits
from microgpt.training import run as training
from microgpt.training.genome import Genome, save_genome  # noqa: E402

FREE = 8 * 2 ** 30  # the memory free, pinned
MAX_STDERR_LINES = 3
TINY_MODEL = ['--n-embd', '4', '--n-head', '1', '--block-size', '8']
CHECKPOINT, RESUMABLE, GENOME, DATA = 'tiny.ckpt.json', 'part.ckpt.json', 'tiny.genome.json', 'tiny.txt'
FUZZ = settings(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# How each command is run when one of its options is fuzzed: everything else tiny and valid.
BASE_ARGS = {
    'train': ['train', '--data', DATA, '--primordial', *TINY_MODEL, '--steps', '3', '--samples', '1',
              '--out', 'new.ckpt.json'],
    'sample': ['sample', '--checkpoint', CHECKPOINT, '--num', '2'],
    'evolve': ['evolve', '--fitness', 'loss', '--data', DATA, '--workers', '1', '--out', 'new.genome.json'],
}
COMMANDS = {'train': train, 'sample': sample, 'evolve': evolve}
# Options for which a huge value is a value like any other (a seed, a time limit, a
# temperature, a learning rate that diverges, ...): they are fuzzed with what their flag
# refuses, not with huge numbers.
HUGE_IS_VALID = {'seed', 'max_time', 'temperature', 'grad_clip', 'weight_decay', 'learning_rate', 'top_k'}
HUGE = 10 ** 21  # more than any bound lets through: memory, or a year at the fastest (limits.py)


def numeric_options(command):
    """(command name, the option) of every option of the command that takes a number."""
    return [param for param in command.params if isinstance(param, click.Option) and not param.is_flag
            and isinstance(param.type, (click.types.IntParamType, click.types.FloatParamType, Real))]


NUMERIC = [(name, option) for name, command in COMMANDS.items() for option in numeric_options(command)]


def test_the_fuzzed_options_are_the_commands_own():
    names = {(name, option.opts[0]) for name, option in NUMERIC}
    assert {('train', '--steps'), ('train', '--budget'), ('train', '--batch-size'), ('sample', '--num'),
            ('evolve', '--population'), ('evolve', '--generations')} <= names
    assert len(names) >= 25


# --- the world each example runs in ------------------------------------------------------------

@pytest.fixture(scope='module')
def world(tmp_path_factory, names_docs):
    """A folder holding tiny data, a finished and a resumable checkpoint and a genome, made
    once; each example copies it."""
    folder = tmp_path_factory.mktemp('world')
    (folder / DATA).write_text('\n'.join(names_docs[:60]) + '\n')
    with contextlib.chdir(folder):
        made = CliRunner().invoke(main, ['train', '--data', DATA, '--primordial', *TINY_MODEL, '--steps', '3',
                                         '--samples', '0', '--out', CHECKPOINT])
        assert made.exit_code == 0, made.output
    # the same run as if stopped after 3 of 6 steps: a checkpoint --resume continues
    part = json.loads((folder / CHECKPOINT).read_text())
    part['training']['num_steps'] = 6
    (folder / RESUMABLE).write_text(json.dumps(part))
    genome = Genome.from_settings(dict(n_embd=4, n_head=1, n_layer=1, block_size=8, ff_mult=1, num_steps=3))
    save_genome(folder / GENOME, genome, {'fitness': 'loss', 'score': 2.5})
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(training, 'available_memory', lambda: FREE)
        patch.setattr(limits, 'available_memory', lambda: FREE)
        yield folder


@contextlib.contextmanager
def fresh_copy(world):
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp) / 'w'
        shutil.copytree(world, folder)
        with contextlib.chdir(folder):
            yield folder


def contents(folder):
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob('*') if path.is_file()}


def run_cleanly(folder, args):
    """Run `microgpt ARGS`; assert it ended cleanly and left every file that was there as it
    was. Returns the result."""
    before = contents(folder)
    result = CliRunner().invoke(main, args)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{args}: {type(result.exception).__name__}: {result.exception}")
    assert 'Traceback' not in result.output
    if result.exit_code:
        assert result.exit_code in (1, 2), result.output
        lines = result.stderr.strip().splitlines()
        assert len([line for line in lines if line.startswith('Error:')]) == 1, result.stderr
        assert len(lines) <= MAX_STDERR_LINES or result.exit_code == 2, result.stderr  # usage: click's 3 lines
    after = contents(folder)
    assert {path: after.get(path) for path in before} == before, f"{args} changed a file it only read"
    return result


# --- bad numbers -------------------------------------------------------------------------------

huge = st.integers(min_value=HUGE, max_value=10 ** 400) | st.floats(min_value=float(HUGE), allow_infinity=False)
bad_text = st.one_of(
    huge.map(str), huge.map(str),  # twice: the bounds are what most needs fuzzing
    st.one_of(st.integers(max_value=-1), st.just(0), st.floats(max_value=-1e-300),
              st.sampled_from([math.nan, math.inf, -math.inf, 0.0, -0.0])).map(str),
    st.sampled_from(['', ' ', 'abc', '1e', '--', '0x10', 'nan', 'inf', '-inf', '1,5', '½', '1_0']),
)


def accepted(option, text):
    """The value the option's flag makes of the text, or None when the flag refuses it."""
    try:
        return option.type.convert(text, option, None)
    except click.BadParameter:
        return None


@settings(FUZZ, max_examples=300)
@given(choice=st.sampled_from(NUMERIC), text=bad_text)
def test_a_bad_number_is_refused_cleanly(world, choice, text):
    name, option = choice
    value = accepted(option, text)
    if value is not None:  # the flag takes it: then it must be one no bound lets through
        assume(abs(value) >= HUGE and option.name not in HUGE_IS_VALID)
    with fresh_copy(world) as folder:
        result = run_cleanly(folder, [*BASE_ARGS[name], option.opts[0], text])
    event(f"exit {result.exit_code}")
    assert result.exit_code == (2 if value is None else 1), result.output


# --- damaged files -----------------------------------------------------------------------------

def json_paths(obj, prefix=(), depth=3):
    """Paths to the values of a JSON document, down to `depth` (of a list, its first item)."""
    paths = [prefix] if prefix else []
    if depth == 0:
        return paths
    if isinstance(obj, dict):
        for key, value in obj.items():
            paths += json_paths(value, prefix + (key,), depth - 1)
    elif isinstance(obj, list) and obj:
        paths += json_paths(obj[0], prefix + (0,), depth - 1)
    return paths


def get(obj, path):
    for key in path:
        obj = obj[key]
    return obj


def changed(value, how):
    if how == 'negate':
        return -value if isinstance(value, (int, float)) and not isinstance(value, bool) else value
    return {'string': 'abc', 'null': None, 'list': [1, 'x'], 'object': {'a': 1}, 'bool': True,
            'huge': 10 ** 30, 'nan': math.nan, 'zero': 0}[how]


def damage(raw, data):
    """A damaged copy of a JSON file's bytes: a field deleted or of another type or sign,
    the file truncated, or binary junk."""
    kind = data.draw(st.sampled_from(['delete', 'retype', 'truncate', 'junk']), label='damage')
    if kind == 'truncate':
        return raw[:data.draw(st.integers(0, len(raw) - 1), label='keep bytes')]
    if kind == 'junk':
        junk = data.draw(st.binary(min_size=1, max_size=64), label='junk')
        at = data.draw(st.integers(0, len(raw)), label='at')
        return raw[:at] + junk + raw[at:]
    obj = json.loads(raw)
    path = data.draw(st.sampled_from(json_paths(obj)), label='field')
    parent = get(obj, path[:-1])
    if kind == 'delete':
        del parent[path[-1]]
    else:
        how = data.draw(st.sampled_from(['negate', 'string', 'null', 'list', 'object', 'bool', 'huge', 'nan', 'zero']),
                        label='into')
        parent[path[-1]] = changed(parent[path[-1]], how)
    return json.dumps(obj).encode()


# Reading a damaged checkpoint or genome: each command that reads one.
CHECKPOINT_READERS = [
    ['sample', '--checkpoint', 'damaged.json', '--num', '2'],
    ['sample', '--checkpoint', 'damaged.json', '--num', '2', '--novelty', '--data', DATA],
    ['train', '--resume', 'damaged.json', '--data', DATA, '--out', 'resumed.ckpt.json'],
]
GENOME_READERS = [['train', '--genome', 'damaged.json', '--data', DATA, '--samples', '1', '--out', 'new.ckpt.json']]

def read_damaged(world, source, data, reader):
    """Damage the world's `source` file as `data` draws, and run `reader` on the copy."""
    raw = (world / source).read_bytes()
    damaged = damage(raw, data)
    with fresh_copy(world) as folder:
        (folder / 'damaged.json').write_bytes(damaged)
        event(f"exit {run_cleanly(folder, reader).exit_code}")


@settings(FUZZ, max_examples=120)
@given(data=st.data(), source=st.sampled_from([CHECKPOINT, RESUMABLE]), reader=st.sampled_from(CHECKPOINT_READERS))
def test_a_damaged_checkpoint_is_refused_cleanly(world, data, source, reader):
    read_damaged(world, source, data, reader)


@settings(FUZZ, max_examples=80)
@given(data=st.data(), reader=st.sampled_from(GENOME_READERS))
def test_a_damaged_genome_is_refused_cleanly(world, data, reader):
    read_damaged(world, GENOME, data, reader)


@pytest.mark.parametrize('source, path, how, reader', [
    (RESUMABLE, ('training', 'steps_done'), 'delete', CHECKPOINT_READERS[2]),
    (RESUMABLE, ('training', 'steps_done'), 'negate', CHECKPOINT_READERS[2]),
    (RESUMABLE, ('training', 'seed'), 'list', CHECKPOINT_READERS[2]),
    (RESUMABLE, ('training', 'temperature'), 'string', CHECKPOINT_READERS[2]),
    (RESUMABLE, ('training', 'curve'), 'string', CHECKPOINT_READERS[2]),
    (RESUMABLE, ('losses', 0), 'nan', CHECKPOINT_READERS[2]),
    (CHECKPOINT, ('training', 'val_split'), 'string', CHECKPOINT_READERS[1]),
    (GENOME, ('provenance', 'score'), 'string', GENOME_READERS[0]),
    (CHECKPOINT, ('config', 'n_layer'), 'huge', CHECKPOINT_READERS[0]),  # once a loop over 1e30 layers
    (RESUMABLE, ('config', 'n_layer'), 'huge', CHECKPOINT_READERS[2]),
])
def test_hand_edits_once_past_the_checks_are_refused_cleanly(world, source, path, how, reader):
    obj = json.loads((world / source).read_bytes())
    parent = get(obj, path[:-1])
    if how == 'delete':
        del parent[path[-1]]
    else:
        parent[path[-1]] = changed(parent[path[-1]], how)
    with fresh_copy(world) as folder:
        (folder / 'damaged.json').write_text(json.dumps(obj))
        assert run_cleanly(folder, reader).exit_code == 1
