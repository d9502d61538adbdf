"""No command writes over what it reads, over another of its outputs, or over the genome
`microgpt train` loads; every output is known writable before the work starts; and a write
that still fails at the end says so, on stderr and in the evolve log."""
import doctest
import errno
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO
from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.evolve import genes
from microgpt.files import fileio, outputs
from microgpt.files.outputs import Output, check_outputs
from microgpt.training.genome import Genome, save_genome
from test_faults import snapshot as entries_of
from test_journey import TINY_BUDGET_SPACE, evolve_cli

TINY = ['--n-embd', '8', '--n-head', '2', '--block-size', '8', '--samples', '0']
# Python's start-up, the imports (matplotlib's for a plot) and the checks, on a busy machine; the
# work refused takes far longer: days of training, or the fit of the shipped frontier (30 s idle)
FAST_SECONDS = 15.0


@pytest.fixture
def folder(tmp_path, monkeypatch, names_docs):
    """An empty folder, the working directory, with 300 names as d.txt."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'd.txt').write_text('\n'.join(names_docs[:300]) + '\n')
    return tmp_path


def snapshot(folder):
    """Every entry under folder (its kind, size and modification time), and every file's bytes."""
    files = {path: path.read_bytes() for path in Path(folder).rglob('*') if path.is_file() and not path.is_symlink()}
    return entries_of(folder), files


def refused(folder, args, line):
    """`microgpt ARGS` refuses in exactly `line` (one line on stderr), exit 1, changing nothing."""
    before = snapshot(folder)
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.stderr == f"Error: {line}\n"
    assert result.stdout == ''
    assert snapshot(folder) == before


def checkpoint_in(folder, name='c.ckpt.json'):
    result = CliRunner().invoke(main, ['train', '--data', 'd.txt', '--steps', '3', *TINY, '--out', name])
    assert result.exit_code == 0, result.output
    return folder / name


# --- an output that is an input, or another output ------------------------------------------

@pytest.mark.parametrize('args, line', [
    (['--data', 'd.txt', '--out', 'd.txt'], "--out d.txt is also --data: choose another path"),
    (['--data', 'd.txt', '--out', './d.txt'], "--out ./d.txt is also --data: choose another path"),
    (['--data', 'd.txt', '--out', 'sub/../d.txt'], "--out sub/../d.txt is also --data: choose another path"),
    (['--data', 'd.txt', '--out', 'run.png', '--plot', 'run.png'], "--plot run.png is also --out: choose another path"),
    (['--data', 'd.txt', '--out', 'r.ckpt.json', '--val-split', '0.2', '--eval-every', '2', '--plot',
      'r.best.ckpt.json'], "--plot r.best.ckpt.json is also --out's best checkpoint: choose another path"),
    (['--data', 'd.txt', '--genome', 'g.json', '--out', 'g.json'], "--out g.json is also --genome: choose another path"),
])
def test_train_refuses_an_output_that_is_an_input_or_another_output(folder, args, line):
    (folder / 'sub').mkdir()
    save_genome('g.json', Genome(n_embd=8, n_head=1, num_steps=5), {})
    refused(folder, ['train', '--steps', '3', *TINY, *args], line)


def test_train_refuses_to_write_over_the_genome_in_force(folder):
    save_genome('genome.json', Genome(n_embd=8, n_head=1, num_steps=5), {})
    line = "--out genome.json is also ./genome.json, the genome `microgpt train` loads: choose another path"
    refused(folder, ['train', '--data', 'd.txt', *TINY, '--out', 'genome.json'], line)
    refused(folder, ['train', '--data', 'd.txt', *TINY, '--primordial', '--out', './genome.json'],
            line.replace('--out genome.json', '--out ./genome.json'))


def test_train_refuses_to_write_over_the_default_data(folder):
    shutil.copy('d.txt', 'input.txt')
    refused(folder, ['train', '--steps', '3', *TINY, '--out', 'input.txt'],
            "--out input.txt is also the data file (--data's default): choose another path")


def test_a_link_to_an_input_is_that_input(folder):
    os.symlink('d.txt', folder / 'link.txt')
    refused(folder, ['train', '--data', 'link.txt', '--steps', '3', *TINY, '--out', 'd.txt'],
            "--out d.txt is also --data: choose another path")
    refused(folder, ['train', '--data', 'd.txt', '--steps', '3', *TINY, '--out', 'link.txt'],
            "--out link.txt is also --data: choose another path")


def test_a_resumed_checkpoint_is_updated_in_place_but_nothing_else_may_be_it(folder):
    """--resume without --out writes the checkpoint it read, as asked; its best checkpoint
    may not be the file resumed."""
    result = CliRunner().invoke(main, ['train', '--data', 'd.txt', '--steps', '100000', *TINY, '--max-time', '0.3',
                                       '--out', 'r.ckpt.json'])
    assert result.exit_code == 0, result.output
    before = (folder / 'r.ckpt.json').read_bytes()
    refused(folder, ['train', '--resume', 'r.ckpt.json', '--data', 'd.txt', '--max-time', '0.1', '--out', 'd.txt'],
            "--out d.txt is also --data: choose another path")
    result = CliRunner().invoke(main, ['train', '--resume', 'r.ckpt.json', '--data', 'd.txt', '--max-time', '0.1'])
    assert result.exit_code == 0, result.output
    assert (folder / 'r.ckpt.json').read_bytes() != before


# each command as small as it goes: were the check missing, the test would not wait long
EVOLVE = ['evolve', '--fitness', 'loss', '--population', '2', '--generations', '1', '--budget', '1e6']
BENCH = ['bench', '--steps', '2', '--repeat', '1']
SWEEP = ['sweep', 'steps', '--from', '5', '--to', '5', '--every', '5']


@pytest.mark.parametrize('args, line', [
    ([*EVOLVE, '--data', 'd.txt', '--out', 'd.txt'], "--out d.txt is also --data"),
    ([*EVOLVE, '--data', 'genome.candidate.json'], "--out's candidate genome.candidate.json is also --data"),
    ([*BENCH, '--data', 'd.txt', '--out', './d.txt'], "--out ./d.txt is also --data"),
    ([*BENCH, '--data', 'd.txt', '--out', 'genome.json'],
     "--out genome.json is also ./genome.json, the genome `microgpt train` loads"),
    ([*SWEEP, '--data', 'd.txt', '--resume', 'd.txt'], "--resume d.txt is also --data"),
    (['analyze', 'r.png', '--plot', 'r.png'], "--plot r.png is also one of the FILES analyzed"),
    (['graph', '--checkpoint', 'c.dot', '--text', 'emma', '--out', 'c.dot'], "--out c.dot is also --checkpoint"),
    (['attention', '--checkpoint', 'c.png', '--text', 'emma', '--out', 'c.png'], "--out c.png is also --checkpoint"),
    (['embeddings', '--checkpoint', 'c.png', '--out', './c.png'], "--out ./c.png is also --checkpoint"),
    (['report', '--checkpoint', 'c.ckpt.json', '--data', 'd.html', '--out', 'd.html'], "--out d.html is also --data"),
])
def test_every_command_that_writes_refuses_an_output_that_is_an_input(folder, args, line):
    checkpoint = checkpoint_in(folder)
    for name in ('c.dot', 'c.png'):
        shutil.copy(checkpoint, folder / name)
    shutil.copy('d.txt', 'd.html')
    shutil.copy('d.txt', 'genome.candidate.json')
    (folder / 'r.png').write_text(json.dumps({'kind': 'steps'}) + '\n')
    refused(folder, args, f"{line}: choose another path")


def test_the_same_file_by_another_name_is_the_same_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the doctest's d.txt
    (tmp_path / 'a.txt').write_text('a\n')
    os.link(tmp_path / 'a.txt', tmp_path / 'hard.txt')
    with pytest.raises(MicrogptError, match=r"^--out .*hard.txt is also --data: choose another path$"):
        check_outputs([Output('--out', tmp_path / 'hard.txt')], [('--data', tmp_path / 'a.txt')])
    check_outputs([Output('--out', tmp_path / 'b.txt'), Output('--plot', None)], [('--data', tmp_path / 'a.txt'),
                                                                                 ('--genome', None)])
    check_outputs([Output('--out', tmp_path / 'a.txt', updates='--resume')], [('--resume', tmp_path / 'a.txt')])
    assert doctest.testmod(outputs).failed == 0


# --- an output that cannot be written: refused before any work -----------------------------

def microgpt(*args, cwd):
    """`microgpt ARGS` in a subprocess (its own start-up timed): the CompletedProcess, with .seconds."""
    t0 = time.monotonic()
    result = subprocess.run([sys.executable, '-m', 'microgpt', *map(str, args)], cwd=cwd, capture_output=True,
                            text=True, timeout=300, stdin=subprocess.DEVNULL,
                            env=dict(os.environ, PYTHONPATH=str(REPO)))
    result.seconds = time.monotonic() - t0
    return result


def protect(path):
    """Make the existing file at path one that cannot be replaced: immutable as root (who
    writes through permissions), read-only otherwise. Returns how to undo it."""
    if os.geteuid() == 0:
        if subprocess.run(['chattr', '+i', str(path)], capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available here")
        return ['chattr', '-i', str(path)]
    path.chmod(0o444)
    return ['chmod', '644', str(path)]


def refused_before_any_work(result, fragment):
    assert result.returncode == 1, result.stderr
    assert result.stderr.count('\n') == 1 and result.stderr.startswith('Error: '), result.stderr
    assert fragment in result.stderr, result.stderr
    assert result.stdout == '' and 'step' not in result.stderr
    assert result.seconds < FAST_SECONDS, f"took {result.seconds:.1f}s"


LONG_RUN = ['train', '--data', 'd.txt', '--steps', '1000000', *TINY]  # days, were it to start


@pytest.mark.parametrize('name, extra', [
    ('run.ckpt.json', []),
    ('run.best.ckpt.json', ['--val-split', '0.2', '--eval-every', '100']),
])
def test_an_existing_checkpoint_that_cannot_be_replaced_is_refused_before_training(folder, name, extra):
    target = folder / name
    target.write_text('keep me\n')
    undo = protect(target)
    try:
        before = snapshot(folder)
        result = microgpt(*LONG_RUN, '--out', 'run.ckpt.json', *extra, cwd=folder)
        refused_before_any_work(result, f"{name} cannot be replaced (")
        assert snapshot(folder) == before
    finally:
        subprocess.run(undo, check=True)


@pytest.mark.parametrize('out, line', [
    ('', "genome file: the file name is empty"),
    ('.', "genome file . is a folder"),
    ('/', "genome file / names a folder (it ends with /)"),
    ('new/', "genome file new/ names a folder (it ends with /): give a file name"),
])
def test_evolve_refuses_an_out_that_names_no_file_before_the_search(folder, out, line):
    result = microgpt('evolve', '--fitness', 'loss', '--data', 'd.txt', '--out', out, cwd=folder)
    refused_before_any_work(result, line)
    assert sorted(p.name for p in folder.iterdir()) == ['d.txt']


def test_a_plot_in_a_missing_folder_is_refused_before_training(folder):
    result = microgpt(*LONG_RUN, '--plot', 'nodir/loss.png', cwd=folder)
    refused_before_any_work(result, "plot nodir/loss.png: folder nodir does not exist")
    assert sorted(p.name for p in folder.iterdir()) == ['d.txt']


def test_analyze_refuses_an_unwritable_plot_before_the_fit(folder):
    """The fit of the shipped frontier takes half a minute: the plot's folder is looked at first."""
    [frontier] = (REPO / 'experiments').glob('sweep-frontier-*.jsonl')
    result = microgpt('analyze', frontier, '--fit', '--plot', 'nodir/fit.png', cwd=folder)
    refused_before_any_work(result, "plot nodir/fit.png: folder nodir does not exist")


def test_a_sweep_resumed_into_a_file_that_cannot_be_added_to_is_refused(folder):
    results = folder / 'results.jsonl'
    results.write_text('')
    undo = protect(results)
    try:
        result = microgpt('sweep', 'steps', '--data', 'd.txt', '--resume', 'results.jsonl', cwd=folder)
        refused_before_any_work(result, "results file results.jsonl cannot be added to (")
    finally:
        subprocess.run(undo, check=True)


def test_an_append_only_file_can_be_added_to_but_not_replaced(tmp_path):
    log = tmp_path / 'log.jsonl'
    log.write_text('{}\n')
    if os.geteuid() != 0 or subprocess.run(['chattr', '+a', str(log)], capture_output=True).returncode != 0:
        pytest.skip("needs root and chattr +a")
    try:
        assert fileio.check_writable(log, 'log', 'append') == log
        with pytest.raises(MicrogptError, match=r"^log .*log.jsonl cannot be replaced \(Operation not permitted\)"):
            fileio.check_writable(log, 'log')
    finally:
        subprocess.run(['chattr', '-a', str(log)], check=True)


# --- a write that fails at the end: said truthfully ------------------------------------------

def test_a_genome_that_cannot_be_written_at_the_end_is_recorded_as_not_written(folder, monkeypatch):
    """The disk fills as the search ends: stderr says so, the log's decision and result say no
    genome was written and why, and `analyze` tells the same."""
    monkeypatch.setitem(genes.SPACES, 'budget', TINY_BUDGET_SPACE)
    shutil.copy('d.txt', 'names.txt')
    real_write = fileio._atomic_write

    def disk_full_for_genomes(path, payload):
        if path.name.startswith('genome'):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(path, payload)

    monkeypatch.setattr(fileio, '_atomic_write', disk_full_for_genomes)
    result = evolve_cli()
    [log_path] = (folder / 'experiments').glob('evolve-*.jsonl')
    failure = f"cannot write genome.json: {os.strerror(errno.ENOSPC)}"
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (f"Error: {failure}; no genome written: the best organism's genes are "
                                              f"in the log {log_path.relative_to(folder)}")
    assert not (folder / 'genome.json').exists()
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    [decision] = [r for r in records if r['kind'] == 'decision']
    assert decision['genome_written'] is None and decision['replaced'] is False
    assert decision['write_error'] == failure and decision['winner']['genes']
    result_record = records[-1]
    assert result_record['kind'] == 'result' and result_record['genome_written'] is None
    assert result_record['write_error'] == failure and result_record['replaced'] is False
    analyzed = CliRunner().invoke(main, ['analyze', str(log_path)])
    assert analyzed.exit_code == 0, analyzed.output
    assert f"wrote no genome: {failure}" in analyzed.stdout and 'wrote genome.json' not in analyzed.stdout
