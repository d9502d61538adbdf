"""The one execution seam for many independent runs (evolution, sweeps).

Everything that fans out work calls `make_executor` and uses the returned
`concurrent.futures.Executor`: tasks are top-level functions whose arguments carry
everything they need (the documents themselves, never a path), so a task runs the same
in a local process or on another machine: a Dask cluster (`cluster=ADDRESS`).
"""
import functools
import gc
import os
from concurrent.futures import Executor, Future

from ..errors import MicrogptError

CLUSTER_ENV = 'MICROGPT_CLUSTER'
INSTALL_CLUSTER = "dask is not installed: pip install 'microgpt[cluster]'"
# A scheduler that does not answer within this many seconds is reported, not waited on.
CONNECT_TIMEOUT_SECONDS = 10
# Runs are deterministic, so a task that raises would raise again: these retries are for a
# worker that broke under the task (out of memory, lost disk). A worker that dies outright is
# handled by the scheduler itself, which reruns its tasks elsewhere.
TASK_RETRIES = 2


class InlineExecutor(Executor):
    """Runs each task at submit time in this process (workers=1: no pool to start)."""

    def submit(self, fn, /, *args, **kwargs):
        future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as e:  # noqa: BLE001 - the future carries it to the caller
            if isinstance(e, KeyboardInterrupt):
                raise
            future.set_exception(e)
        return future


def default_workers():
    return os.cpu_count() or 1


class ClusterExecutor(Executor):
    """Sends each task to a Dask distributed scheduler; its futures are concurrent.futures
    futures (`as_completed`, `wait`, `.result()`, `map` work as with local processes).
    Shutting it down closes the connection to the scheduler, not the cluster."""

    def __init__(self, client):
        self._client = client
        # pure=False: two runs with equal arguments are still two runs (never deduplicated).
        self._executor = client.get_executor(pure=False, retries=TASK_RETRIES)

    def submit(self, fn, /, *args, **kwargs):
        # Bound here so that a task keyword such as `workers` or `key` reaches the task
        # instead of being read as a Dask option.
        return self._executor.submit(functools.partial(fn, *args, **kwargs))

    def shutdown(self, wait=True, *, cancel_futures=False):
        try:
            self._executor.shutdown(wait=wait and not cancel_futures)
        finally:
            self._client.close()

    def __exit__(self, exc_type, exc_val, exc_tb):
        # On an error or Ctrl-C, stop the cluster's pending runs instead of waiting for them.
        self.shutdown(wait=exc_type is None)
        return False


def connect_cluster(address):
    """A ClusterExecutor on the scheduler at `address`, or one line saying why not."""
    try:
        from distributed import Client
    except ImportError:
        raise MicrogptError(INSTALL_CLUSTER) from None
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_SECONDS, set_as_default=False)
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
    if workers == 1:
        return InlineExecutor()
    # imported here: multiprocessing costs every `microgpt` command ~15 ms of start-up
    from concurrent.futures import ProcessPoolExecutor
    return ProcessPoolExecutor(max_workers=workers)
