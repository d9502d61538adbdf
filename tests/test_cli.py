import json
import os
from pathlib import Path

import pytest

from microgpt import data as data_module
from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.files import checkpoint as ckpt

SMALL = ['--steps', '20', '--n-embd', '8', '--n-head', '2', '--block-size', '8', '--engine', 'val']


def train(runner, data, *extra):
    return runner.invoke(main, ['train', '--data', str(data), *SMALL, *extra])


def assert_error(result, fragment):
    assert result.exit_code != 0
    assert 'Traceback' not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1 and fragment in errors[0], result.stderr


def test_train_then_sample(runner, small_data, tmp_path):
    result = train(runner, small_data, '--samples', '3', '--out', 'm.ckpt.json')
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == 'num docs: 300'
    assert lines[3].startswith('step    1 /   20 | loss ')
    assert lines[23] == '' and lines[24] == '--- inference (new, hallucinated names) ---'
    assert [l[:10] for l in lines[25:]] == ['sample  1:', 'sample  2:', 'sample  3:']
    assert 'checkpoint saved to m.ckpt.json' in result.stderr

    loaded = ckpt.load_checkpoint('m.ckpt.json')
    assert loaded.training['steps_done'] == 20 and loaded.training['seed'] == 42
    assert loaded.training['data_sha256'] == data_module.sha256_of(small_data)
    assert loaded.config.n_embd == 8

    sampled = runner.invoke(main, ['sample', '--checkpoint', 'm.ckpt.json', '--num', '4',
                                   '--engine', 'val', '--prefix', 'ma'])
    assert sampled.exit_code == 0, sampled.output
    names = [line.split(': ', 1)[1] for line in sampled.stdout.splitlines()]
    assert len(names) == 4 and all(n.startswith('ma') for n in names)
    again = runner.invoke(main, ['sample', '--checkpoint', 'm.ckpt.json', '--num', '4',
                                 '--engine', 'val', '--prefix', 'ma'])
    assert again.stdout == sampled.stdout  # same seed, same names


def test_samples_zero_skips_inference(runner, small_data):
    result = train(runner, small_data, '--samples', '0')
    assert result.exit_code == 0
    assert 'inference' not in result.stdout and result.stdout.splitlines()[-1].startswith('step   20')
    assert os.path.exists(ckpt.DEFAULT_CHECKPOINT)


def test_checkpoint_round_trips_floats_exactly(runner, small_data):
    assert train(runner, small_data, '--samples', '0', '--out', 'a.ckpt.json').exit_code == 0
    raw = json.loads(open('a.ckpt.json').read())
    loaded = ckpt.load_checkpoint('a.ckpt.json')
    ckpt.save_checkpoint('b.ckpt.json', loaded)
    assert json.loads(open('b.ckpt.json').read()) == raw
    assert open('a.ckpt.json').read() == open('b.ckpt.json').read()


def test_top_k_one_is_greedy(runner, small_data):
    assert train(runner, small_data, '--samples', '0').exit_code == 0
    result = runner.invoke(main, ['sample', '--num', '3', '--top-k', '1', '--engine', 'val'])
    names = {line.split(': ', 1)[1] for line in result.stdout.splitlines()}
    assert result.exit_code == 0 and len(names) == 1


@pytest.mark.parametrize('args, fragment', [
    (['--n-embd', '6', '--n-head', '4'], 'divisible'),
    (['--n-layer', '0'], '--n-layer'),
    (['--block-size', '0'], '--block-size'),
    (['--ff-mult', '0'], '--ff-mult'),
    (['--steps', '0'], '--steps'),
    (['--temperature', '0'], '--temperature'),
    (['--temperature', '-1'], '--temperature'),
    (['--samples', '-1'], '--samples'),
    (['--lr', 'nan'], '--lr'), (['--lr', 'inf'], '--lr'), (['--lr', '-0.01'], '--lr'), (['--lr', '0'], '--lr'),
])
def test_train_rejects_config_that_cannot_work(runner, small_data, args, fragment):
    result = runner.invoke(main, ['train', '--data', str(small_data), '--engine', 'val', *args])
    assert_error(result, fragment)
    assert not os.path.exists(ckpt.DEFAULT_CHECKPOINT)


def test_missing_data(runner):
    assert_error(runner.invoke(main, ['train', '--data', 'nope.txt']), 'not found: nope.txt')


def test_empty_data(runner, tmp_path):
    (tmp_path / 'empty.txt').write_text('\n  \n\n')
    assert_error(runner.invoke(main, ['train', '--data', 'empty.txt']), 'empty')


def test_unreadable_data(runner, tmp_path):
    (tmp_path / 'bin.txt').write_bytes(b'\xff\xfe\x00bad')
    assert_error(runner.invoke(main, ['train', '--data', 'bin.txt']), 'cannot read')


def test_default_data_is_input_txt_then_the_bundled_names(runner, tmp_path):
    (tmp_path / 'input.txt').write_text('anna\nbob\ncarl\n')
    result = runner.invoke(main, ['train', *SMALL, '--steps', '1', '--samples', '0'])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == 'num docs: 3'
    (tmp_path / 'input.txt').unlink()
    result = runner.invoke(main, ['train', *SMALL, '--steps', '1', '--samples', '0'])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == 'num docs: 32033'
    assert 'bundled' in result.stderr
    assert not (tmp_path / 'input.txt').exists()  # nothing downloaded, nothing written


def test_bundled_names_are_the_projects_input_txt():
    from conftest import REPO
    bundled = data_module.bundled_names_path()
    assert data_module.sha256_of(bundled) == data_module.NAMES_SHA256
    assert bundled.read_bytes() == (REPO / 'input.txt').read_bytes()


def test_sample_missing_checkpoint(runner):
    assert_error(runner.invoke(main, ['sample', '--checkpoint', 'none.json']), 'not found')


@pytest.mark.parametrize('content, fragment', [
    ('{not json', 'not readable JSON'),
    ('[1, 2]', 'corrupt'),
    ('{"format": "microgpt-checkpoint", "version": 99}', 'version 99'),
    ('{"format": "microgpt-checkpoint", "version": 1, "config": {"vocab_size": 3}}', 'corrupt'),
])
def test_sample_bad_checkpoint(runner, tmp_path, content, fragment):
    (tmp_path / 'bad.json').write_text(content)
    assert_error(runner.invoke(main, ['sample', '--checkpoint', 'bad.json']), fragment)


def test_sample_truncated_checkpoint(runner, small_data, tmp_path):
    assert train(runner, small_data, '--samples', '0').exit_code == 0
    text = open(ckpt.DEFAULT_CHECKPOINT).read()
    (tmp_path / 'cut.json').write_text(text[: len(text) // 2])
    assert_error(runner.invoke(main, ['sample', '--checkpoint', 'cut.json']), 'not readable JSON')


@pytest.mark.parametrize('args, fragment', [
    (['--top-p', '0'], 'top-p'), (['--top-p', '1.5'], 'top-p'), (['--temperature', '0'], 'temperature'),
    (['--prefix', 'A9'], 'does not know'), (['--top-k', '0'], 'top-k'),
    (['--prefix', 'abcdefghij'], 'block_size'),
])
def test_sample_rejects_bad_arguments(runner, small_data, args, fragment):
    assert train(runner, small_data, '--samples', '0').exit_code == 0
    assert_error(runner.invoke(main, ['sample', '--engine', 'val', *args]), fragment)


def test_interrupted_training_keeps_a_checkpoint(runner, small_data, monkeypatch):
    """Ctrl-C during training: the steps done are saved (and can be resumed), exit 130."""
    import signal
    from microgpt import console

    original = console.step_line

    def line_then_ctrl_c(step, total, loss):
        if step == 5:
            os.kill(os.getpid(), signal.SIGINT)
        return original(step, total, loss)

    monkeypatch.setattr('microgpt.commands.train_job.step_line', line_then_ctrl_c)
    result = train(runner, small_data, '--out', 'part.ckpt.json')
    assert result.exit_code == 130, result.output
    assert ckpt.load_checkpoint('part.ckpt.json').training['steps_done'] == 5
    assert 'interrupted after 5 of 20 steps' in result.stderr
    assert '--resume part.ckpt.json' in result.stderr


def test_checkpoints_never_hold_non_finite_numbers(runner, small_data, tmp_path):
    assert train(runner, small_data, '--samples', '0', '--out', 'a.ckpt.json').exit_code == 0
    loaded = ckpt.load_checkpoint('a.ckpt.json')
    loaded.state_dict['wte'][0][0] = float('nan')
    with pytest.raises(MicrogptError, match='not finite'):
        ckpt.save_checkpoint('b.ckpt.json', loaded)
    assert not (tmp_path / 'b.ckpt.json').exists()
    raw = json.loads(open('a.ckpt.json').read())
    raw['optimizer']['v']['wpe'][1][2] = 1e400  # written by hand: Infinity
    (tmp_path / 'c.ckpt.json').write_text(json.dumps(raw))
    assert_error(runner.invoke(main, ['sample', '--checkpoint', 'c.ckpt.json']),
                 "'optimizer.v.wpe' holds a value that is not a finite")


def test_an_older_checkpoint_samples_but_cannot_resume(runner, small_data, tmp_path):
    assert train(runner, small_data, '--samples', '0', '--out', 'a.ckpt.json').exit_code == 0
    raw = json.loads(open('a.ckpt.json').read())
    raw['version'] = 1
    del raw['optimizer']
    (tmp_path / 'old.json').write_text(json.dumps(raw))
    assert runner.invoke(main, ['sample', '--checkpoint', 'old.json', '--num', '2']).exit_code == 0
    assert_error(runner.invoke(main, ['train', '--resume', 'old.json', '--data', str(small_data)]),
                 'holds no optimizer state')
    raw['version'] = 7
    (tmp_path / 'future.json').write_text(json.dumps(raw))
    assert_error(runner.invoke(main, ['sample', '--checkpoint', 'future.json']), 'format version 7')


# --- grouped --help, with the values ./genome.json puts in force ---------------------------------

def _help_of(args=('train',)):
    from click.testing import CliRunner
    result = CliRunner().invoke(main, [*args, '--help'], terminal_width=200)
    assert result.exit_code == 0, result.output
    return result.output


def test_train_help_groups_its_options_by_purpose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _help_of()
    titles = [line[:-1] for line in text.splitlines() if line.endswith(':') and not line.startswith(' ')]
    assert titles == ['Model', 'Training', 'Schedule', 'Evaluation', 'Sampling', 'Input and output', 'Engine',
                      'Other options']
    from conftest import docs_text
    assert f"lists them in sections: {', '.join(titles[:-2])}, and {titles[-2]}." in ' '.join(docs_text('cli').split())
    model = text.split('Model:')[1].split('Training:')[0]
    assert '--n-embd' in model and '--steps' not in model
    assert '--warmup' in text.split('Schedule:')[1].split('Evaluation:')[0]
    # every option of the command is listed once
    from microgpt.cli import train
    for param in train.params:
        assert sum(line.lstrip().startswith(param.opts[0] + ' ') or line.strip() == param.opts[0]
                   for line in text.splitlines()) == 1, param.opts


def test_train_help_in_an_empty_folder_shows_the_original_defaults(tmp_path, monkeypatch):
    from microgpt.training.run import TRAIN_DEFAULTS
    monkeypatch.chdir(tmp_path)
    text = _help_of()
    assert 'in force' not in text
    assert f'[default: ({TRAIN_DEFAULTS.num_steps}); x>=1]' in text


def test_train_help_shows_the_values_genome_json_puts_in_force():
    from conftest import REPO
    from microgpt.training.genome import load_genome
    genome = load_genome(REPO / 'genome.json').genome
    cwd = os.getcwd()
    os.chdir(REPO)
    try:
        text = ' '.join(_help_of().split())
    finally:
        os.chdir(cwd)
    assert f'Training steps. [default: (1000); x>=1] [in force: {genome.num_steps} from genome.json]' in text
    assert f'Embedding width. [default: (16); x>=1] [in force: {genome.n_embd} from genome.json]' in text
    assert f'[in force: {genome.learning_rate} from genome.json]' in text
    from conftest import docs_text  # the CLI page's example is the shipped genome's
    assert f'[in force: {genome.num_steps} from genome.json]' in docs_text('cli')


def test_train_help_says_when_genome_json_cannot_be_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'genome.json').write_text('{"format": "something else"}')
    text = _help_of()
    assert 'in force' not in text and 'genome.json is not used:' in text


def test_evolve_help_groups_its_options_by_purpose(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = _help_of(('evolve',))
    search = text.split('Search:')[1].split('Where the runs go:')[0]
    assert '--fitness' in search and '--budget' in search and '--workers' not in search
    assert '--cluster' in text.split('Where the runs go:')[1].split('Input and output:')[0]
    assert '--out' in text.split('Input and output:')[1]


PACKAGE = Path(__file__).resolve().parent.parent / 'microgpt'
DOMAIN_MODULES = ('scaling', 'viz', 'gpt/sampling.py', 'training/evaluation.py', 'layout.py', 'predictions.py')


def imported_modules(path):
    """Every module a file imports (at its top or inside functions), as absolute dotted names."""
    import ast
    package = ['microgpt', *path.relative_to(PACKAGE).parent.parts]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = '.'.join(base + (node.module.split('.') if node.module else []))
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize('domain', DOMAIN_MODULES)
def test_domain_modules_print_through_no_console_and_parse_no_command_line(domain):
    """The commands (microgpt/commands/) print; scaling/, viz/, sampling and evaluation return
    data: none of their files imports microgpt.console, click or a command module."""
    root = PACKAGE / domain
    files = sorted(root.rglob('*.py')) if root.is_dir() else [root]
    assert files
    for path in files:
        imports = imported_modules(path)
        forbidden = {name for name in imports if name == 'click' or name.startswith('click.')
                     or name in ('microgpt.console', 'microgpt.cli')
                     or name.startswith('microgpt.commands')}
        assert not forbidden, f"{path.relative_to(PACKAGE)} imports {sorted(forbidden)}"
