"""The one execution seam for many independent runs (evolution, sweeps).

Everything that fans out work calls `make_executor` and uses the returned
`concurrent.futures.Executor`: tasks are top-level functions whose arguments carry
everything they need (the documents themselves, never a path), so a task runs the same
in a local process or on another machine.
"""
import os
from concurrent.futures import Executor, Future, ProcessPoolExecutor


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


def make_executor(workers=None):
    """Local processes: `workers` of them (default: all cores); 1 runs inline."""
    workers = workers or default_workers()
    if workers == 1:
        return InlineExecutor()
    return ProcessPoolExecutor(max_workers=workers)
