"""Fault injection: the real `microgpt` CLI in subprocesses, fed bad input, signals, dying
workers and closed pipes.

The rule under test: microgpt checks what it can before the work starts, stops bad input
with one clear line on stderr (`Error: ...`) and a non-zero exit (usage errors 2, other
errors 1), never loses or corrupts finished work or a file that already existed, and never
prints a traceback.
"""
import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(REPO))
ENV.pop('MICROGPT_CLUSTER', None)
TINY = ['--steps', '30', '--n-embd', '8', '--n-head', '2', '--block-size', '8']
FAST_SECONDS = 3.0  # a check before the work: Python start-up and imports, nothing more
STOP_SECONDS = 2.0  # from a signal to the exit of an interrupted parallel command

pytestmark = pytest.mark.skipif(not sys.platform.startswith('linux'), reason="signals and /proc: Linux")


# --- running the CLI -----------------------------------------------------------------------

@pytest.fixture(autouse=True, scope='module')
def children_take_ctrl_c():
    """A child inherits an ignored SIGINT (pytest started in the background): make it
    default, so that `microgpt` in the child installs its Ctrl-C handling."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield


def command(args, umask=None):
    argv = [sys.executable, '-m', 'microgpt', *map(str, args)]
    if umask is not None:
        argv = ['/bin/sh', '-c', f'umask {umask:03o} && exec "$@"', 'sh', *argv]
    return argv


def microgpt(*args, cwd, timeout=120, umask=None, env=None):
    """Run `microgpt ARGS` to its end in cwd; the CompletedProcess, with .seconds."""
    t0 = time.monotonic()
    result = subprocess.run(command(args, umask), cwd=cwd, env=env or ENV, stdin=subprocess.DEVNULL,
                            capture_output=True, text=True, timeout=timeout)
    result.seconds = time.monotonic() - t0
    return result


class Child:
    """A running `microgpt` in its own session (so a signal to its group is a terminal's
    Ctrl-C): its stdout and stderr lines are collected as they come."""

    def __init__(self, args, cwd, umask=None):
        self.proc = subprocess.Popen(command(args, umask), cwd=cwd, env=ENV, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.pid = self.proc.pid
        self.out, self.err = [], []
        self.workers = set()  # every child process seen, to check that none outlives us
        self._pumps = [threading.Thread(target=self._pump, args=(s, lines), daemon=True)
                       for s, lines in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for pump in self._pumps:
            pump.start()
        self.signalled_at = None

    @staticmethod
    def _pump(stream, lines):
        for line in stream:
            lines.append(line.rstrip('\n'))

    @property
    def stdout(self):
        return '\n'.join(self.out)

    @property
    def stderr(self):
        return '\n'.join(self.err)

    def wait_for(self, predicate, stream='out', timeout=60):
        """Until a line of stdout (or stderr) satisfies predicate; returns that line."""
        lines = self.out if stream == 'out' else self.err
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.children()
            for line in list(lines):
                if predicate(line):
                    return line
            if self.proc.poll() is not None:
                self._join()
                pytest.fail(f"microgpt ended ({self.proc.returncode}) before the awaited line:\n"
                            f"{self.stdout[-2000:]}\n{self.stderr[-2000:]}")
            time.sleep(0.01)
        pytest.fail(f"no awaited line within {timeout}s:\n{self.stdout[-2000:]}\n{self.stderr[-2000:]}")

    def children(self):
        """The child processes now (and remembered in self.workers)."""
        now = child_pids(self.pid)
        self.workers |= now
        return now

    def wait_for_children(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.children()) >= count:
                return self.children()
            if self.proc.poll() is not None:
                break
            time.sleep(0.01)
        pytest.fail(f"no {count} worker processes appeared:\n{self.stderr[-2000:]}")

    def send(self, sig, group=False):
        self.children()
        self.signalled_at = time.monotonic()
        if group:
            os.killpg(self.pid, sig)
        else:
            os.kill(self.pid, sig)

    def finish(self, timeout=60):
        """Wait for the exit; returns (status, seconds since the signal)."""
        try:
            status = self.proc.wait(timeout=timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
        seconds = time.monotonic() - self.signalled_at if self.signalled_at else None
        self._join()
        return status, seconds

    def _join(self):
        for pump in self._pumps:
            pump.join(timeout=10)

    def kill_leftovers(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.workers:
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


@pytest.fixture
def spawn():
    """Start Children; whatever they leave running is killed after the test."""
    started = []

    def start(*args, cwd, umask=None):
        child = Child(args, cwd, umask)
        started.append(child)
        return child

    yield start
    for child in started:
        child.kill_leftovers()


def child_pids(pid):
    pids = set()
    for children in Path(f'/proc/{pid}/task').glob('*/children'):
        try:
            pids.update(int(p) for p in children.read_text().split())
        except OSError:
            pass
    return pids


def alive(pid):
    """Running (a zombie that nobody reaped has finished)."""
    try:
        state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ('Z', 'X')


def busy_worker(child, timeout=30):
    """A worker process of child that is running a task (on a CPU, not waiting for work)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pid in sorted(child.children()):
            try:
                state = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if state == 'R':
                return pid
        time.sleep(0.005)
    pytest.fail(f"no worker process got busy:\n{child.stderr[-2000:]}")


def assert_all_gone(pids, within=3.0):
    deadline = time.monotonic() + within
    while time.monotonic() < deadline and any(alive(p) for p in pids):
        time.sleep(0.02)
    assert not [p for p in pids if alive(p)], "worker processes outlived microgpt"


# --- what the checks look at -----------------------------------------------------------------

@pytest.fixture
def names(tmp_path):
    """200 names from the project's data, as a data file in the test's folder."""
    path = tmp_path / 'names.txt'
    lines = (REPO / 'input.txt').read_text(encoding='utf-8').splitlines()[:200]
    path.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    return path


def snapshot(folder):
    """Every entry under folder with its size and modification time."""
    entries = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            entries[str(path.relative_to(folder))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns)
    return entries


def temp_files(folder):
    return [str(p) for p in Path(folder).rglob('.*.tmp')]


def assert_no_traceback(text):
    assert 'Traceback' not in text and 'BrokenProcessPool' not in text, text


def error_line(result, status, fragment='', alone=False):
    """The one `Error:` line of a failed command, checked: exit status, no traceback, and
    (alone, other errors than usage) nothing else on stderr."""
    assert result.returncode == status, (result.returncode, result.stdout[-1000:], result.stderr[-3000:])
    assert_no_traceback(result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith('Error:')]
    assert len(errors) == 1, result.stderr
    if alone and status == 1:
        assert result.stderr.strip().splitlines() == errors, result.stderr
    assert fragment.lower() in errors[0].lower(), errors[0]
    return errors[0]


def assert_fails_fast(result, status, fragment, before, folder):
    """Refused before the work: in seconds, with nothing printed on stdout or written."""
    line = error_line(result, status, fragment, alone=True)
    assert result.stdout == '', result.stdout[:1000]
    assert result.seconds < FAST_SECONDS, f"took {result.seconds:.1f}s"
    assert snapshot(folder) == before
    return line


def train_args(names, *extra):
    return ['train', '--data', names, *TINY, '--samples', '0', *extra]


# --- before the work: output paths -----------------------------------------------------------

def test_train_out_under_a_regular_file_fails_fast(tmp_path, names):
    (tmp_path / 'afile').write_text('keep me\n')
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', 'afile/x.ckpt'), cwd=tmp_path)
    assert_fails_fast(result, 1, 'afile', before, tmp_path)


def test_train_out_empty_name_fails_fast(tmp_path, names):
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', ''), cwd=tmp_path)
    assert_fails_fast(result, 1, 'empty', before, tmp_path)


def test_train_out_fifo_fails_fast(tmp_path, names):
    os.mkfifo(tmp_path / 'pipe')
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', 'pipe'), cwd=tmp_path, timeout=20)
    assert_fails_fast(result, 1, 'pipe', before, tmp_path)


def test_train_out_directory_fails_fast(tmp_path, names):
    (tmp_path / 'folder').mkdir()
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', 'folder'), cwd=tmp_path)
    assert_fails_fast(result, 1, 'folder', before, tmp_path)


def test_train_out_in_missing_folder_fails_fast(tmp_path, names):
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', 'missing/x.ckpt'), cwd=tmp_path)
    assert_fails_fast(result, 1, 'missing', before, tmp_path)


def test_train_out_in_read_only_folder_fails_fast(tmp_path, names):
    locked = tmp_path / 'locked'
    locked.mkdir()
    if os.geteuid() == 0:  # root writes through permissions, not into an immutable folder
        if subprocess.run(['chattr', '+i', str(locked)], capture_output=True).returncode != 0:
            pytest.skip("running as root and chattr +i is not available here")
        undo = ['chattr', '-i', str(locked)]
    else:
        locked.chmod(0o555)
        undo = ['chmod', '755', str(locked)]
    try:
        before = snapshot(tmp_path)
        result = microgpt(*train_args(names, '--out', 'locked/x.ckpt'), cwd=tmp_path)
        assert_fails_fast(result, 1, 'locked', before, tmp_path)
    finally:
        subprocess.run(undo, check=True)


def test_train_out_where_no_file_can_be_created_fails_fast(tmp_path, names):
    """/proc says it is writable (os.access) but takes no new file: found before training,
    not at the end when the checkpoint is written."""
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--out', '/proc/microgpt-test.ckpt'), cwd=tmp_path)
    assert_fails_fast(result, 1, '/proc', before, tmp_path)


def test_evolve_out_under_a_regular_file_fails_fast(tmp_path, names):
    (tmp_path / 'afile').write_text('keep me\n')
    before = snapshot(tmp_path)
    result = microgpt('evolve', '--fitness', 'loss', '--population', '2', '--generations', '1',
                      '--workers', '1', '--data', names, '--out', 'afile/genome.json', cwd=tmp_path)
    assert_fails_fast(result, 1, 'afile', before, tmp_path)


def test_evolve_log_folder_that_is_a_file_fails_fast(tmp_path, names):
    (tmp_path / 'experiments').write_text('not a folder\n')
    before = snapshot(tmp_path)
    result = microgpt('evolve', '--fitness', 'loss', '--population', '2', '--generations', '1',
                      '--workers', '1', '--data', names, cwd=tmp_path)
    assert_fails_fast(result, 1, 'experiments', before, tmp_path)


@pytest.mark.parametrize('out_dir, status', [('afile', 2), ('afile/results', 1)])
def test_sweep_out_dir_that_is_a_file_fails_fast(tmp_path, names, out_dir, status):
    (tmp_path / 'afile').write_text('keep me\n')
    before = snapshot(tmp_path)
    result = microgpt('sweep', 'steps', '--size', 'small', '--from', '5', '--to', '10', '--every', '5',
                      '--workers', '1', '--data', names, '--out-dir', out_dir, cwd=tmp_path)
    assert_fails_fast(result, status, 'afile', before, tmp_path)


def test_train_plot_with_unknown_suffix_fails_fast(tmp_path, names):
    before = snapshot(tmp_path)
    result = microgpt(*train_args(names, '--plot', 'loss.bmp'), cwd=tmp_path)
    line = assert_fails_fast(result, 1, '', before, tmp_path)
    assert 'loss.bmp' in line or 'matplotlib' in line


# --- before the work: numbers --------------------------------------------------------------------

NEEDS_CHECKPOINT = object()


@pytest.mark.parametrize('args, option', [
    (['train', '--lr', 'nan'], '--lr'),
    (['train', '--lr', 'inf'], '--lr'),
    (['train', '--lr', '-0.01'], '--lr'),
    (['train', '--lr', '0'], '--lr'),
    (['train', '--steps', '0'], '--steps'),
    (['train', '--n-embd', '0'], '--n-embd'),
    (['train', '--n-head', '0'], '--n-head'),
    (['train', '--n-layer', '0'], '--n-layer'),
    (['train', '--block-size', '0'], '--block-size'),
    (['train', '--ff-mult', '0'], '--ff-mult'),
    (['train', '--batch-size', '0'], '--batch-size'),
    (['train', '--samples', '-1'], '--samples'),
    (['train', '--temperature', '0'], '--temperature'),
    (['train', '--clip', 'nan'], '--clip'),
    (['evolve', '--fitness', 'loss', '--population', '1'], '--population'),
    (['evolve', '--fitness', 'loss', '--generations', '0'], '--generations'),
    (['evolve', '--fitness', 'loss', '--workers', '0'], '--workers'),
    (['sweep', 'steps', '--workers', '0'], '--workers'),
    (['sweep', 'steps', '--every', '0'], '--every'),
    (['sweep', 'params', '--steps', '0'], '--steps'),
    (['sweep', 'params', '--lr', 'nan'], '--lr'),
    (['sample', '--top-k', '0'], '--top-k'),
    (['sample', '--top-p', '0'], '--top-p'),
    (['sample', '--top-p', '1.5'], '--top-p'),
    (['sample', '--temperature', '0'], '--temperature'),
    (['sample', '--num', '-1'], '--num'),
])
def test_bad_number_is_a_usage_error(tmp_path, names, args, option):
    before = snapshot(tmp_path)
    result = microgpt(*args, '--data' if args[0] != 'sample' else '--seed',
                      names if args[0] != 'sample' else '1', cwd=tmp_path)
    assert_fails_fast(result, 2, option, before, tmp_path)


def test_model_too_big_for_memory_is_one_line(tmp_path, names):
    before = snapshot(tmp_path)
    result = microgpt('train', '--data', names, '--n-embd', '100000', '--n-head', '2', cwd=tmp_path)
    assert_fails_fast(result, 1, 'smaller --n-embd', before, tmp_path)


def assert_diverged(result, folder):
    line = error_line(result, 1, 'diverged at step')
    assert '--lr' in line
    assert not (Path(folder) / 'microgpt.ckpt.json').exists()  # no checkpoint of non-finite numbers
    assert not temp_files(folder)


def test_divergence_names_the_step_and_saves_nothing(tmp_path, names):
    result = microgpt(*train_args(names, '--lr', '1.0'), cwd=tmp_path)
    assert_diverged(result, tmp_path)


def write_genome(path, **genes):
    base = dict(n_embd=8, n_head=2, n_layer=1, block_size=8, ff_mult=4, learning_rate=0.01, num_steps=30)
    path.write_text(json.dumps({'format': 'microgpt-genome', 'version': 1, 'genes': dict(base, **genes),
                                'provenance': {}}, indent=2))
    return path


def test_genome_with_a_huge_learning_rate_diverges_or_is_refused(tmp_path, names):
    write_genome(tmp_path / 'genome.json', learning_rate=5.0)
    result = microgpt('train', '--data', names, '--samples', '0', cwd=tmp_path)
    line = error_line(result, 1)
    if 'diverged' in line:
        assert_diverged(result, tmp_path)
    else:
        assert 'genome.json' in line and 'learning_rate' in line
    assert not (tmp_path / 'microgpt.ckpt.json').exists()


@pytest.mark.parametrize('gene, value', [('n_layer', '2'), ('learning_rate', 'fast'), ('num_steps', 0),
                                         ('n_embd', 2.5)])
def test_genome_gene_of_wrong_type_names_file_and_field(tmp_path, names, gene, value):
    write_genome(tmp_path / 'my.genome.json', **{gene: value})
    before = snapshot(tmp_path)
    result = microgpt('train', '--data', names, '--genome', 'my.genome.json', cwd=tmp_path)
    line = assert_fails_fast(result, 1, 'my.genome.json', before, tmp_path)
    assert f'genes.{gene}' in line


# --- before the work: data ---------------------------------------------------------------------

def test_bom_and_crlf_are_not_vocabulary(tmp_path, names):
    windows = tmp_path / 'windows.txt'
    windows.write_bytes(b'\xef\xbb\xbf' + names.read_bytes().replace(b'\n', b'\r\n'))
    plain = microgpt(*train_args(names, '--steps', '5', '--out', 'plain.ckpt'), cwd=tmp_path)
    bom = microgpt(*train_args(windows, '--steps', '5', '--out', 'bom.ckpt'), cwd=tmp_path)
    assert plain.returncode == 0 and bom.returncode == 0, bom.stderr
    assert 'vocab size: 27' in plain.stdout.splitlines()
    assert bom.stdout == plain.stdout  # same documents, same vocabulary, same steps


@pytest.mark.parametrize('kind', ['not-utf8', 'binary', 'folder', 'empty', 'blank'])
def test_bad_data_is_one_line_naming_the_file(tmp_path, kind):
    data = tmp_path / f'{kind}.data'
    if kind == 'not-utf8':
        data.write_bytes('anna\nbéa\n'.encode('latin-1'))
    elif kind == 'binary':
        data.write_bytes(bytes(range(256)) * 4)
    elif kind == 'folder':
        data.mkdir()
    elif kind == 'empty':
        data.write_bytes(b'')
    else:
        data.write_bytes(b'\xef\xbb\xbf  \r\n\t\n\r\n\n')
    before = snapshot(tmp_path)
    result = microgpt(*train_args(data), cwd=tmp_path)
    assert_fails_fast(result, 1, data.name, before, tmp_path)


# --- before the work: sweep --resume refuses what is not its results file ------------------------

SWEEP = ['sweep', 'steps', '--size', 'small', '--from', '5', '--to', '15', '--every', '5', '--workers', '1']


@pytest.fixture
def results_file(tmp_path, names):
    result = microgpt(*SWEEP, '--data', names, '--out-dir', 'results', cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    [path] = (tmp_path / 'results').glob('sweep-steps-*.jsonl')
    return path


def an_evolve_log(folder, names):
    result = microgpt('evolve', '--fitness', 'loss', '--population', '2', '--generations', '1', '--space', 'seed',
                      '--workers', '1', '--data', names, '--out', 'evolved.json', cwd=folder)
    assert result.returncode == 0, result.stderr
    [log] = (folder / 'experiments').glob('evolve-*.jsonl')
    return log


@pytest.mark.parametrize('which', ['data file', 'evolve log', 'params sweep', 'other lr', 'other seed'])
def test_sweep_resume_refuses_a_foreign_file_untouched(tmp_path, names, results_file, which):
    args = list(SWEEP)
    if which == 'data file':
        target = names
    elif which == 'evolve log':
        target = an_evolve_log(tmp_path, names)
    else:
        target = results_file
        if which == 'params sweep':
            args = ['sweep', 'params', '--sizes', 'small', '--steps', '5', '--workers', '1']
        elif which == 'other lr':
            args += ['--lr', '0.02']
        else:
            args += ['--seed', '7']
    content, before = target.read_bytes(), snapshot(tmp_path)
    result = microgpt(*args, '--data', names, '--resume', target, cwd=tmp_path)
    assert_fails_fast(result, 1, target.name, before, tmp_path)
    assert target.read_bytes() == content


# --- during the work: train interrupted and resumed --------------------------------------------

RESUMABLE = ['--steps', '250', '--n-embd', '8', '--n-head', '2', '--block-size', '8', '--samples', '5']


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory):
    """The same run, never stopped: its stdout lines and final checkpoint."""
    folder = tmp_path_factory.mktemp('uninterrupted')
    lines = (REPO / 'input.txt').read_text(encoding='utf-8').splitlines()[:200]
    (folder / 'names.txt').write_text('\n'.join(lines) + '\n', encoding='utf-8')
    result = microgpt('train', '--data', 'names.txt', *RESUMABLE, '--engine', 'val', '--out', 'full.ckpt',
                      cwd=folder)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines(), json.loads((folder / 'full.ckpt').read_text())


def step_lines(lines):
    return [line for line in lines if line.startswith('step ')]


@pytest.mark.parametrize('sig, status, wait_steps', [(signal.SIGINT, 130, 7), (signal.SIGTERM, 143, 23)],
                         ids=['SIGINT', 'SIGTERM'])
def test_train_interrupted_then_resumed_equals_uninterrupted(tmp_path, names, spawn, uninterrupted,
                                                             sig, status, wait_steps):
    reference, reference_ckpt = uninterrupted
    child = spawn('train', '--data', names, *RESUMABLE, '--engine', 'val', '--out', 'part.ckpt', cwd=tmp_path)
    child.wait_for(lambda line: line.startswith(f'step {wait_steps:4d} /'))
    child.send(sig)
    code, _ = child.finish()
    assert code == status, child.stderr
    assert_no_traceback(child.stderr)
    part = json.loads((tmp_path / 'part.ckpt').read_text())
    done = part['training']['steps_done']
    assert wait_steps <= done < 250
    assert len(step_lines(child.out)) == done  # every step printed is saved, and no other
    assert f"interrupted after {done} of 250 steps" in child.stderr
    assert 'microgpt train --resume part.ckpt' in child.stderr

    # same engine: the rest of the run, line for line, and the very same weights
    resumed = microgpt('train', '--data', names, '--resume', 'part.ckpt', '--out', 'val.ckpt', '--engine', 'val',
                       cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout.splitlines()[3:] == reference[3 + done:]
    final = json.loads((tmp_path / 'val.ckpt').read_text())
    assert final['state_dict'] == reference_ckpt['state_dict']
    assert final['losses'] == reference_ckpt['losses']

    # the other engine: the same step lines
    other = microgpt('train', '--data', names, '--resume', 'part.ckpt', '--out', 'numpy.ckpt',
                     '--engine', 'numpy', '--samples', '0', cwd=tmp_path)
    assert other.returncode == 0, other.stderr
    assert step_lines(other.stdout.splitlines()) == step_lines(reference)[done:]
    assert not temp_files(tmp_path)


# --- during the work: evolve interrupted, workers that die ---------------------------------------

EVOLVE = ['evolve', '--fitness', 'loss', '--population', '4', '--workers', '2', '--space', 'seed']


@pytest.mark.parametrize('sig, status, group', [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
                         ids=['ctrl-c-in-a-terminal', 'sigterm-to-microgpt'])
def test_evolve_interrupted_keeps_the_existing_genome(tmp_path, names, spawn, sig, status, group):
    existing = write_genome(tmp_path / 'genome.json').read_bytes()
    child = spawn(*EVOLVE, '--generations', '40', '--data', names, cwd=tmp_path)
    child.wait_for(lambda line: line.startswith('gen  1/40'))
    child.wait_for_children(2)
    child.send(sig, group=group)
    code, seconds = child.finish()
    assert code == status, child.stderr
    assert seconds < STOP_SECONDS, f"took {seconds:.1f}s to stop"
    assert_no_traceback(child.stderr)
    assert (tmp_path / 'genome.json').read_bytes() == existing
    interrupted = tmp_path / 'genome.interrupted.json'
    assert json.loads(interrupted.read_text())['format'] == 'microgpt-genome'
    assert 'mv genome.interrupted.json genome.json' in child.stderr
    assert_all_gone(child.workers)
    assert not temp_files(tmp_path)


def test_evolve_workers_die_with_a_killed_parent(tmp_path, names, spawn):
    child = spawn(*EVOLVE, '--generations', '40', '--data', names, cwd=tmp_path)
    workers = child.wait_for_children(2)
    time.sleep(0.2)
    child.send(signal.SIGKILL)
    child.finish()
    assert_all_gone(workers | child.workers)


def organisms(folder):
    [log] = (folder / 'experiments').glob('evolve-*.jsonl')
    records = [json.loads(line) for line in log.read_text().splitlines()]
    return [r for r in records if r['kind'] == 'organism']


def test_killed_worker_costs_only_its_organism(tmp_path, names, spawn):
    child = spawn(*EVOLVE, '--generations', '2', '--data', names, cwd=tmp_path)
    child.wait_for_children(2)
    time.sleep(0.2)
    os.kill(busy_worker(child), signal.SIGKILL)
    code, _ = child.finish()
    assert code == 0, child.stderr
    assert_no_traceback(child.stderr)
    assert 'a worker process died running organism' in child.stderr
    assert 'gen  2/2' in child.stdout
    assert json.loads((tmp_path / 'genome.json').read_text())['format'] == 'microgpt-genome'
    records = organisms(tmp_path)
    # generation 1, generation 2 (the elite again), then the final: 3 finalists and the primordial, 3 seeds each
    scored = [r['scored_in'] for r in records]
    assert (scored.count(1), scored.count(2), scored.count(3)) == (4, 4, 12) and len(scored) == 20
    assert all(r['error'] is None and r['score'] is not None for r in records), records
    assert [r.get('attempts', 1) for r in records].count(2) == 1  # the killed one ran again
    assert_all_gone(child.workers)


def rows_of(path):
    return [json.loads(line) for line in path.read_text().splitlines() if json.loads(line).get('kind') != 'header']


def test_killed_worker_costs_only_its_sweep_run(tmp_path, names, spawn):
    child = spawn('sweep', 'params', '--sizes', 'small,medium', '--steps', '30', '--engine', 'val',
                  '--workers', '2', '--data', names, '--out-dir', 'results', cwd=tmp_path)
    child.wait_for_children(2)
    os.kill(busy_worker(child), signal.SIGKILL)
    code, _ = child.finish()
    assert code == 0, child.stderr
    assert_no_traceback(child.stderr)
    assert 'a worker process died running the' in child.stderr
    [path] = (tmp_path / 'results').glob('sweep-params-*.jsonl')
    assert sorted(row['size'] for row in rows_of(path)) == ['medium', 'small']
    assert_all_gone(child.workers)


def suicide(_):
    os.kill(os.getpid(), signal.SIGKILL)


def square(x):
    time.sleep(0.05)
    return x * x


def test_task_that_kills_its_worker_twice_is_reported_failed():
    """The mechanism under evolve and sweep: a task whose worker dies is retried once on a
    fresh worker; one that kills it again is reported failed; the others are unharmed."""
    from microgpt.trials.executor import Task, make_executor, run_tasks
    tasks = [Task(key=i, fn=suicide if i == 2 else square, args=(i,)) for i in range(6)]
    with make_executor(workers=2) as executor:
        outcomes = {o.key: o for o in run_tasks(executor, tasks)}
    assert sorted(outcomes) == list(range(6))
    assert outcomes[2].error is not None and 'died' in outcomes[2].error
    assert outcomes[2].attempts == 2
    assert {k: o.result for k, o in outcomes.items() if k != 2} == {0: 0, 1: 1, 3: 9, 4: 16, 5: 25}



def test_an_error_inside_a_with_block_stops_the_workers_without_waiting():
    """Leaving `with make_executor(...)` by an error kills the running task's worker at once,
    as stop() does, instead of waiting for the task to end."""
    from microgpt.trials.executor import make_executor
    with pytest.raises(RuntimeError):
        with make_executor(workers=2) as executor:
            executor.submit(time.sleep, 60)
            pids = [pid for pool in executor._pools if pool for pid in pool._processes]
            started = time.monotonic()
            raise RuntimeError("stop")
    assert time.monotonic() - started < STOP_SECONDS
    assert pids
    assert_all_gone(pids)

# --- during the work: a sweep stopped ----------------------------------------------------------

@pytest.mark.slow
def test_sweep_interrupted_stops_fast_and_resume_runs_each_once(tmp_path, names, spawn):
    args = ['sweep', 'params', '--sizes', 'small,medium,large', '--steps', '40', '--engine', 'val',
            '--workers', '2', '--data', names, '--out-dir', 'results']
    child = spawn(*args, cwd=tmp_path)
    child.wait_for(lambda line: line.startswith('[1/3]'), stream='err')
    child.send(signal.SIGINT)  # to microgpt only: the workers must be stopped by it
    code, seconds = child.finish()
    assert code == 130, child.stderr
    assert seconds < STOP_SECONDS, f"took {seconds:.1f}s to stop"
    assert_no_traceback(child.stderr)
    assert_all_gone(child.workers)
    [path] = (tmp_path / 'results').glob('sweep-params-*.jsonl')
    finished = rows_of(path)
    assert 1 <= len(finished) < 3 and 'large' not in [row['size'] for row in finished]
    assert f"--resume {path.relative_to(tmp_path)}" in child.stderr

    resumed = microgpt(*args, '--resume', path.relative_to(tmp_path), cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert sorted(row['size'] for row in rows_of(path)) == ['large', 'medium', 'small']
    assert rows_of(path)[:len(finished)] == finished


def test_unreachable_cluster_is_one_line_after_a_short_timeout(tmp_path, names):
    pytest.importorskip('distributed')
    before = snapshot(tmp_path)
    env = dict(ENV, MICROGPT_CLUSTER_TIMEOUT='1')
    t0 = time.monotonic()
    result = microgpt(*SWEEP, '--data', names, '--cluster', 'tcp://127.0.0.1:9', cwd=tmp_path, env=env)
    line = error_line(result, 1, 'cannot reach the Dask scheduler')
    assert 'tcp://127.0.0.1:9' in line
    assert time.monotonic() - t0 < 8
    assert snapshot(tmp_path) == before


# --- during the work: pipes, modes, Ctrl-C while sampling ---------------------------------------

def test_closed_stdout_trains_on_quietly(tmp_path, names):
    """`microgpt train | head -2`: the reader goes away, training goes on and saves."""
    proc = subprocess.Popen(command(['train', '--data', names, '--steps', '300', '--n-embd', '8', '--n-head', '2',
                                     '--block-size', '8', '--engine', 'val']),
                            cwd=tmp_path, env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    head = [proc.stdout.readline() for _ in range(2)]
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert head == [b'num docs: 200\n', b'vocab size: 27\n']
    assert proc.returncode == 0, err.decode()
    assert_no_traceback(err.decode())
    assert 'Broken pipe' not in err.decode() and 'Exception ignored' not in err.decode()
    assert json.loads((tmp_path / 'microgpt.ckpt.json').read_text())['training']['steps_done'] == 300


@pytest.mark.parametrize('umask, mode', [(0o022, 0o644), (0o077, 0o600)], ids=['umask-022', 'umask-077'])
def test_files_get_the_umask_mode(tmp_path, names, umask, mode):
    runs = [train_args(names, '--out', 'model.ckpt'),
            ['evolve', '--fitness', 'loss', '--population', '2', '--generations', '1', '--workers', '1', '--budget', '1e7',
             '--data', names, '--out', 'genome.json'],
            [*SWEEP, '--data', names, '--out-dir', 'results']]
    for args in runs:
        result = microgpt(*args, cwd=tmp_path, umask=umask)
        assert result.returncode == 0, result.stderr
    written = [tmp_path / 'model.ckpt', tmp_path / 'genome.json', *(tmp_path / 'experiments').glob('*.jsonl'),
               *(tmp_path / 'results').glob('*.jsonl')]
    assert len(written) == 4
    assert {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.stat().st_mode)) for p in written} == \
        {str(p.relative_to(tmp_path)): oct(mode) for p in written}
    assert not temp_files(tmp_path)


@pytest.mark.parametrize('sig, status, group', [(signal.SIGINT, 130, True), (signal.SIGTERM, 143, False)],
                         ids=['ctrl-c-in-a-terminal', 'sigterm-to-microgpt'])
def test_sample_interrupted_exits_quietly(tmp_path, names, spawn, sig, status, group):
    assert microgpt(*train_args(names), cwd=tmp_path).returncode == 0
    child = spawn('sample', '--num', '1000000', '--engine', 'val', cwd=tmp_path)
    child.wait_for(lambda line: line.startswith('sample  5:'))
    child.send(sig, group=group)
    code, seconds = child.finish()
    assert code == status, child.stderr
    assert seconds < STOP_SECONDS
    assert_no_traceback(child.stderr)
