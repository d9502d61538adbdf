"""Runs sent to a Dask cluster (`make_executor(cluster=ADDRESS)`) give the local results,
and a worker dying mid-run loses nothing. The cluster lives on loopback only."""
import json
import os
import random
import sys
from concurrent.futures import as_completed

import pytest
from click.testing import CliRunner

from microgpt.cli import main
from microgpt.errors import MicrogptError
from microgpt.trials import executor as executor_module
from microgpt.trials.executor import ClusterExecutor, InlineExecutor, make_executor

distributed = pytest.importorskip('distributed')


@pytest.fixture(scope='module')
def cluster_address():
    # Everything on loopback; the scheduler's web server too (on a free port, not 8787).
    cluster = distributed.LocalCluster(
        host='127.0.0.1', n_workers=2, processes=True, threads_per_worker=1,
        dashboard_address='127.0.0.1:0', silence_logs=50)
    try:
        yield cluster.scheduler_address
    finally:
        cluster.close()


def shuffled_summary(docs, seed):
    """A seeded run in miniature: its result depends on the documents sent with the task."""
    rng = random.Random(seed)
    order = list(docs)
    rng.shuffle(order)
    return seed, order[:3], sum(len(doc) * rng.random() for doc in order)


class KillFirstExecution(distributed.WorkerPlugin):
    """Kills the worker process the first time any worker starts a task (once per cluster
    lifetime, marked by a file), as a crash in the middle of a run would."""

    def __init__(self, marker):
        self.marker = marker

    def transition(self, key, start, finish, **kwargs):
        if finish != 'executing':
            return
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return
        os.write(fd, str(key).encode())
        os.close(fd)
        os._exit(1)


@pytest.fixture
def kill_one_worker(cluster_address, tmp_path):
    """Arms the cluster so that the next task to start kills its worker; yields the marker
    file that says it happened."""
    marker = tmp_path / 'killed'
    with distributed.Client(cluster_address, set_as_default=False) as client:
        client.register_plugin(KillFirstExecution(str(marker)), name='kill-first-execution')
        try:
            yield marker
        finally:
            client.unregister_worker_plugin('kill-first-execution')


def local_results(docs, seeds):
    with InlineExecutor() as ex:
        return [ex.submit(shuffled_summary, docs, seed).result() for seed in seeds]


def test_cluster_runs_equal_local_runs(cluster_address, names_docs):
    docs, seeds = names_docs[:500], list(range(6))
    with make_executor(cluster=cluster_address) as ex:
        assert isinstance(ex, ClusterExecutor)
        futures = [ex.submit(shuffled_summary, docs, seed) for seed in seeds]
        completed = sorted((f.result() for f in as_completed(futures)), key=lambda r: r[0])
        mapped = list(ex.map(shuffled_summary, [docs] * len(seeds), seeds))
    expected = local_results(docs, seeds)
    assert completed == expected
    assert mapped == expected


def test_cluster_address_from_environment(cluster_address, names_docs, monkeypatch):
    monkeypatch.setenv('MICROGPT_CLUSTER', cluster_address)
    with make_executor(workers=1) as ex:
        assert isinstance(ex, ClusterExecutor)
        assert ex.submit(shuffled_summary, names_docs[:50], 7).result() == local_results(names_docs[:50], [7])[0]


def test_task_error_reaches_the_caller(cluster_address):
    with make_executor(cluster=cluster_address) as ex:
        with pytest.raises(ValueError, match='invalid literal'):
            ex.submit(int, 'not a number').result()


def test_killed_worker_loses_no_run(cluster_address, names_docs, kill_one_worker):
    docs, seeds = names_docs[:500], list(range(8))
    with make_executor(cluster=cluster_address) as ex:
        results = [f.result() for f in as_completed([ex.submit(shuffled_summary, docs, s) for s in seeds])]
    assert kill_one_worker.exists(), "no worker was killed during the runs"
    assert sorted(results, key=lambda r: r[0]) == local_results(docs, seeds)


def test_without_dask_the_error_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'distributed', None)
    with pytest.raises(MicrogptError) as error:
        make_executor(cluster='tcp://127.0.0.1:8786')
    assert str(error.value) == ("dask is not installed: pip install 'dask[distributed]' "
                                  "(from a clone of microgpt: pip install -e '.[cluster]')")


@pytest.mark.parametrize('address', ['tcp://127.0.0.1:1', 'no-port-here'])
def test_unreachable_scheduler_is_one_line(address, monkeypatch):
    monkeypatch.setattr(executor_module, 'CONNECT_TIMEOUT_SECONDS', 1)
    with pytest.raises(MicrogptError) as error:
        make_executor(cluster=address)
    message = str(error.value)
    assert message.startswith(f"cannot reach the Dask scheduler at {address!r}")
    assert '\n' not in message


# --- evolve and sweep through --cluster ---------------------------------------------------------

# What a wall clock or where the runs went decides; everything else must match.
# What differs between equal runs: wall clocks, where they ran, and the command that said so.
WALL_CLOCK_FIELDS = {'seconds', 'cpu_seconds', 'eval_seconds', 'finished_at', 'started', 'finished', 'created', 'log',
                     'workers', 'cluster', 'command',
                     # the plan's estimates, from steps timed before the search
                     'organism_seconds', 'baseline_seconds', 'estimated_cpu_seconds', 'estimated_seconds',
                     'step_seconds'}


def comparable(record):
    if isinstance(record, dict):
        return {k: comparable(v) for k, v in record.items() if k not in WALL_CLOCK_FIELDS}
    if isinstance(record, list):
        return [comparable(v) for v in record]
    return record


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope='module')
def tiny_data(tmp_path_factory, names_docs):
    path = tmp_path_factory.mktemp('data') / 'tiny.txt'
    path.write_text('\n'.join(names_docs[:150]) + '\n')
    return path


def run_cli(args, cwd, monkeypatch):
    """Runs `microgpt ARGS` in the folder cwd; returns its stdout."""
    cwd.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(cwd)
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def tiny_evolve(tiny_data, cwd, monkeypatch, where):
    """A tiny evolution: its stdout, genome.json and log, minus what wall clocks decide."""
    stdout = run_cli(['evolve', '--fitness', 'loss', '--population', '3', '--generations', '2', '--budget', '1e7',
                      '--seed', '5', '--data', str(tiny_data), '--out', 'genome.json', *where],
                     cwd, monkeypatch)
    [log] = (cwd / 'experiments').glob('evolve-*.jsonl')
    records = read_jsonl(log)
    organisms = sorted((r for r in records if r['kind'] == 'organism'),
                       key=lambda r: (r['scored_in'], r['generation'], r['index'], r['seed']))
    others = [r for r in records if r['kind'] != 'organism']
    genome = json.loads((cwd / 'genome.json').read_text())
    return stdout, comparable(genome), comparable(organisms), comparable(others)


def tiny_sweep(tiny_data, cwd, monkeypatch, where):
    """A tiny steps sweep: its rows, minus what wall clocks decide, in step order."""
    run_cli(['sweep', 'steps', '--from', '5', '--to', '45', '--every', '10', '--size', 'small',
             '--seed', '3', '--data', str(tiny_data), '--out-dir', 'results', *where], cwd, monkeypatch)
    [results] = (cwd / 'results').glob('sweep-steps-*.jsonl')
    rows = [row for row in read_jsonl(results) if row.get('kind') != 'header']
    return sorted(comparable(rows), key=lambda row: row['steps'])


@pytest.fixture(scope='module')
def local_evolve(tiny_data, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv('MICROGPT_CLUSTER', raising=False)
        return tiny_evolve(tiny_data, tmp_path_factory.mktemp('local-evolve'), monkeypatch, ['--workers', '1'])


@pytest.fixture(scope='module')
def local_sweep(tiny_data, tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.delenv('MICROGPT_CLUSTER', raising=False)
        return tiny_sweep(tiny_data, tmp_path_factory.mktemp('local-sweep'), monkeypatch, ['--workers', '1'])


def test_evolve_through_cluster_equals_local(cluster_address, tiny_data, local_evolve, tmp_path, monkeypatch):
    stdout, genome, organisms, others = local_evolve
    assert all(o['score'] is not None and not o.get('error') for o in organisms), "the local run itself failed"
    assert tiny_evolve(tiny_data, tmp_path, monkeypatch, ['--cluster', cluster_address]) == local_evolve


def test_sweep_through_cluster_equals_local(cluster_address, tiny_data, local_sweep, tmp_path, monkeypatch):
    assert [row['steps'] for row in local_sweep] == [5, 15, 25, 35, 45]
    assert tiny_sweep(tiny_data, tmp_path, monkeypatch, ['--cluster', cluster_address]) == local_sweep


def test_killed_worker_loses_no_organism(cluster_address, tiny_data, local_evolve, kill_one_worker, tmp_path,
                                         monkeypatch):
    result = tiny_evolve(tiny_data, tmp_path / 'run', monkeypatch, ['--cluster', cluster_address])
    assert kill_one_worker.exists(), "no worker was killed during the evolution"
    assert result == local_evolve


def test_killed_worker_loses_no_sweep_row(cluster_address, tiny_data, local_sweep, kill_one_worker, tmp_path,
                                          monkeypatch):
    monkeypatch.setenv('MICROGPT_CLUSTER', cluster_address)  # the address may come from the environment
    rows = tiny_sweep(tiny_data, tmp_path / 'run', monkeypatch, [])
    assert kill_one_worker.exists(), "no worker was killed during the sweep"
    assert rows == local_sweep


@pytest.mark.parametrize('command', [
    ['sweep', 'params', '--sizes', 'small', '--steps', '5', '--out-dir', 'experiments'],
    ['evolve', '--fitness', 'loss', '--population', '2', '--generations', '1', '--out', 'genome.json'],
])
def test_bad_cluster_address_is_one_line_and_writes_nothing(command, tiny_data, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, [*command, '--data', str(tiny_data), '--cluster', 'no-port-here'])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith("Error: cannot reach the Dask scheduler at 'no-port-here'")
    assert list(tmp_path.iterdir()) == []
