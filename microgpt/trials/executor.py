"""The one execution seam for many independent runs (evolution, sweeps): `make_executor`, then
`run_tasks`. A task's arguments carry all it needs (the documents, never a path), so it runs the
same inline, in a local worker process or on a Dask cluster."""
import contextlib
import functools
import gc
import os
import signal
import sys
import threading
from collections import deque
# BrokenExecutor, not concurrent.futures.process's BrokenProcessPool: that module imports
# multiprocessing, which would cost every `microgpt` command ~15 ms of start-up.
from concurrent.futures import FIRST_COMPLETED, BrokenExecutor, Executor, Future, wait
from dataclasses import dataclass

from ..errors import MicrogptError

CLUSTER_ENV = 'MICROGPT_CLUSTER'
INSTALL_CLUSTER = ("dask is not installed: pip install 'dask[distributed]' "
                   "(from a clone of microgpt: pip install -e '.[cluster]')")
# seconds a scheduler has to answer ($MICROGPT_CLUSTER_TIMEOUT overrides it)
CONNECT_TIMEOUT_ENV = 'MICROGPT_CLUSTER_TIMEOUT'
CONNECT_TIMEOUT_SECONDS = 10
# Runs are deterministic, so a task that raises would raise again: a cluster's retries are for a
# worker that broke under the task (out of memory, lost disk); one that dies outright is the
# scheduler's to rerun elsewhere. A local task whose worker dies is run again this many times.
TASK_RETRIES = 2
WORKER_RETRIES = 1


class StoppingExecutor(Executor):
    """Left by an error or Ctrl-C, a `with` block stops the work at once (stop) instead of waiting for it."""

    def __exit__(self, exc_type, exc_val, exc_tb):
        if exc_type is None:
            self.shutdown(wait=True)
        else:
            stop(self)
        return False


class InlineExecutor(Executor):
    """Runs each task at submit time in this process (workers=1: no pool to start)."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - the future carries it to the caller
            future.set_exception(e)
        return future


def default_workers():
    return os.cpu_count() or 1


class ClusterExecutor(StoppingExecutor):
    """Sends each task to a Dask scheduler; shutting it down closes the connection, not the cluster."""

    def __init__(self, client):
        self._client = client
        # pure=False: two runs with equal arguments are still two runs (never deduplicated).
        self._executor = client.get_executor(pure=False, retries=TASK_RETRIES)

    def submit(self, fn, /, *args, **kwargs):
        # bound here so that a task keyword such as `workers` is not read as a Dask option
        return self._executor.submit(functools.partial(fn, *args, **kwargs))

    def shutdown(self, wait=True, *, cancel_futures=False):
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self._client.close()


def connect_cluster(address):
    """A ClusterExecutor on the scheduler at `address`, or one line saying why not."""
    value = os.environ.get(CONNECT_TIMEOUT_ENV)
    try:
        timeout = CONNECT_TIMEOUT_SECONDS if value is None else float(value)
    except ValueError:
        timeout = float('nan')
    if not timeout > 0:
        raise MicrogptError(f"${CONNECT_TIMEOUT_ENV} must be a number of seconds > 0, got {value!r}")
    try:
        from distributed import Client
    except ImportError:
        raise MicrogptError(INSTALL_CLUSTER) from None
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, ValueError, TypeError) as e:
        detail = ' '.join(str(e).split()) or type(e).__name__
    else:
        return ClusterExecutor(client)
    # The half-made client closes itself when collected: do it now, while its event loop
    # still runs, not at exit, where it would print a traceback.
    gc.collect()
    raise MicrogptError(f"cannot reach the Dask scheduler at {address!r}: {detail}")


def make_executor(workers=None, cluster=None):
    """The Dask scheduler at `cluster` (default: $MICROGPT_CLUSTER) when one is named;
    otherwise local processes: `workers` of them (default: all cores); 1 runs inline."""
    cluster = cluster or os.environ.get(CLUSTER_ENV)
    if cluster:
        return connect_cluster(cluster)
    workers = workers or default_workers()
    return InlineExecutor() if workers == 1 else WorkerProcesses(workers)


def stop(executor):
    """Stop now (Ctrl-C, SIGTERM, an error): queued tasks cancelled, local workers killed."""
    if hasattr(executor, 'terminate'):
        executor.terminate()
    else:
        executor.shutdown(wait=False, cancel_futures=True)


PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _init_worker(parent_pid):
    """In each worker: Ctrl-C is the parent's to handle, SIGTERM just ends it (not the parent's
    handler, inherited through fork), and it dies with its parent."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith('linux'):
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            return
        if parent_pid is not None and os.getppid() != parent_pid:
            os._exit(1)  # the parent died before the line above: nobody wants our results


class WorkerProcesses(StoppingExecutor):
    """`workers` local processes, each a one-process pool of its own, so a worker that dies breaks
    only its own task; a broken pool is replaced at the next submit (by the main thread: a worker's
    death signal is tied to it)."""

    def __init__(self, workers):
        import multiprocessing
        self.slots = workers
        self._context = multiprocessing.get_context()
        # With fork or spawn the worker's parent is this process; a fork server's is not.
        self._parent = os.getpid() if self._context.get_start_method() in ('fork', 'spawn') else None
        self._pools = [None] * workers
        self._futures = [None] * workers
        self._next = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn, /, *args, **kwargs):
        from concurrent.futures import ProcessPoolExecutor
        with self._lock:
            if self._closed:
                raise RuntimeError('cannot schedule new futures after shutdown')
            # a worker with nothing to do, else the next in turn
            i = next((i for i, future in enumerate(self._futures) if future is None or future.done()), None)
            if i is None:
                i, self._next = self._next, (self._next + 1) % self.slots
            for _ in range(2):
                pool = self._pools[i]
                if pool is None or getattr(pool, '_broken', False):
                    if pool is not None:
                        pool.shutdown(wait=False)
                    pool = self._pools[i] = ProcessPoolExecutor(max_workers=1, mp_context=self._context,
                                                                initializer=_init_worker, initargs=(self._parent,))
                try:
                    self._futures[i] = pool.submit(fn, *args, **kwargs)
                    return self._futures[i]
                except BrokenExecutor:  # it broke after the check above: replace it
                    self._pools[i] = None
                    pool.shutdown(wait=False)
            raise BrokenExecutor("cannot start a worker process")

    def _close(self):
        with self._lock:
            self._closed = True
            return [p for p in self._pools if p is not None]

    def shutdown(self, wait=True, *, cancel_futures=False):
        for pool in self._close():
            pool.shutdown(wait=wait, cancel_futures=cancel_futures)

    def terminate(self):
        """Kill the worker processes now (their tasks abandoned) and reap them."""
        pools = self._close()
        processes = [proc for pool in pools for proc in list((getattr(pool, '_processes', None) or {}).values())]
        for proc in processes:
            with contextlib.suppress(OSError, ValueError, AttributeError):
                proc.kill()
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            with contextlib.suppress(OSError, ValueError, AssertionError):
                proc.join(timeout=1)


@dataclass
class Task:
    """One call to run, fn(*args); `key` is the caller's handle on it."""
    key: object
    fn: object
    args: tuple = ()
    name: str = ''


@dataclass
class Outcome:
    """How a task ended: its result, or `error` ("Type: message")."""
    key: object
    result: object = None
    error: str = None
    attempts: int = 1

    @property
    def failed(self):
        return self.error is not None


def run_tasks(executor, tasks, on_retry=None):
    """Yield an Outcome for each task as it finishes (at once, inline), never raising for a task
    that fails; one whose worker died runs again up to WORKER_RETRIES times (on_retry(task, attempt)
    told). Ctrl-C goes through: the caller stops the executor (`stop`)."""
    queue = deque((task, 1) for task in tasks)
    limit = getattr(executor, 'slots', None)
    running = {}

    def settle(future, task, attempt):  # an Outcome, or None: the task goes back in the queue
        try:
            return Outcome(task.key, result=future.result(), attempts=attempt)
        except BrokenExecutor:  # a local worker process died (BrokenProcessPool)
            if attempt <= WORKER_RETRIES:
                if on_retry is not None:
                    on_retry(task, attempt + 1)
                queue.appendleft((task, attempt + 1))
                return None
            error = f"WorkerDied: its worker process died {attempt} times (killed, or out of memory?)"
        except Exception as e:  # noqa: BLE001 - a failed task is an outcome, not a crash
            error = f"{type(e).__name__}: {e}"
        return Outcome(task.key, error=error, attempts=attempt)

    while queue or running:
        while queue and (limit is None or len(running) < limit):
            task, attempt = queue.popleft()
            future = executor.submit(task.fn, *task.args)
            running[future] = (task, attempt)
            if future.done():  # ran inline: report it now, before the next one starts
                break
        done, _ = wait(list(running), return_when=FIRST_COMPLETED)
        for future in done:
            task, attempt = running.pop(future)
            outcome = settle(future, task, attempt)
            if outcome is not None:
                yield outcome
