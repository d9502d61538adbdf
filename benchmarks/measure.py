"""Running a measured child process: its wall time, CPU time and its own peak RSS."""
import os
import subprocess
import tempfile
import time

from microgpt.errors import MicrogptError

# Variables a child would inherit from this session that a user's run does not have, or
# that would override microgpt's own defaults (one BLAS/OpenMP thread): children run
# without them, as an installed microgpt runs. Without PYTHONDONTWRITEBYTECODE, timed
# processes run with their bytecode cached (the first of the repeated runs writes it).
UNSET_IN_CHILDREN = ('PYTHONDONTWRITEBYTECODE', 'PYTHONUNBUFFERED', 'OPENBLAS_NUM_THREADS',
                     'OMP_NUM_THREADS', 'MKL_NUM_THREADS')
# A child's ru_maxrss starts from its parent's peak (Linux carries the forked image's high-water
# mark across exec), so each child reports its own peak, VmHWM, on stderr as it exits.
PEAK_RSS_MARK = 'microgpt-bench peak RSS KiB: '
PEAK_RSS_REPORTER = f'''import atexit as _atexit, sys as _sys
def _report_peak_rss():
    try:
        with open('/proc/self/status') as status:
            kib = next(line.split()[1] for line in status if line.startswith('VmHWM:'))
    except (OSError, StopIteration):
        return
    _sys.stderr.write('\\n{PEAK_RSS_MARK}' + kib + '\\n')
_atexit.register(_report_peak_rss)
'''
# `microgpt ARGS`, as the console script runs it, plus the report of its peak RSS.
CLI_WITH_PEAK_RSS = PEAK_RSS_REPORTER + '''_sys.argv[0] = 'microgpt'
from microgpt.cli import main
main()
'''


def child_env():
    env = dict(os.environ)
    for name in UNSET_IN_CHILDREN:
        env.pop(name, None)
    return env


class Measured:
    """What run_measured saw of one child: seconds (wall), cpu_seconds (user + system, all
    its threads), peak_rss_mb, stdout, stderr."""

    def __init__(self, seconds, cpu_seconds, peak_rss_mb, stdout, stderr):
        self.seconds, self.cpu_seconds, self.peak_rss_mb = seconds, cpu_seconds, peak_rss_mb
        self.stdout, self.stderr = stdout, stderr

    @property
    def cpu_per_wall(self):
        return self.cpu_seconds / self.seconds


def run_measured(command, cwd):
    """Run command; a Measured. Raises MicrogptError if it fails.

    The peak is the one the child reported (PEAK_RSS_REPORTER), else wait4's ru_maxrss.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, cwd=cwd, env=child_env(), stdout=out, stderr=err,
                                   stdin=subprocess.DEVNULL)
        try:
            _, status, usage = os.wait4(process.pid, 0)
        except BaseException:
            process.kill()
            process.wait()
            raise
        seconds = time.perf_counter() - t0
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if process.returncode != 0:
        tail = stderr.strip().splitlines()[-1:] or ['(no message)']
        raise MicrogptError(f"benchmark step failed ({' '.join(command[1:4])} ...): {tail[0]}")
    reported = [line for line in stderr.splitlines() if line.startswith(PEAK_RSS_MARK)]
    kib = int(reported[-1][len(PEAK_RSS_MARK):]) if reported else usage.ru_maxrss  # KiB on Linux
    return Measured(seconds, usage.ru_utime + usage.ru_stime, kib / 1024, stdout, stderr)
