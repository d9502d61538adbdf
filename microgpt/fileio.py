"""Files: atomic writes (a reader sees the old file or the new one, never half of one),
output paths checked before any work, and JSON read with clear errors."""
import json
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

from .errors import MicrogptError

INTERRUPTS = {signal.SIGINT, signal.SIGTERM}


def check_output_path(path, what='output file'):
    """Raise MicrogptError now, before any work, if `path` cannot be written: an empty
    name, a parent that is missing, not a folder or not writable, or a target that exists
    but is not a regular file (a folder, a FIFO, a device)."""
    if path is None or str(path).strip() == '':
        raise MicrogptError(f"{what}: the file name is empty")
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise MicrogptError(f"{what} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise MicrogptError(f"{what} {path}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise MicrogptError(f"{what} {path}: folder {parent} is not writable")
    if path.exists() or path.is_symlink():
        mode = os.stat(path).st_mode if path.exists() else 0
        if not stat.S_ISREG(mode):
            kind = 'a folder' if stat.S_ISDIR(mode) else 'not a regular file'
            raise MicrogptError(f"{what} {path} is {kind}")
    return path


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextmanager
def interrupts_deferred():
    """Ctrl-C and SIGTERM wait until the block is done (main thread only), so an
    interrupt never lands between writing a file and putting it in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, INTERRUPTS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def atomic_write_bytes(path, payload):
    """Write to a temporary file beside path, then rename it over path. The file gets the
    mode the umask gives a new file (0644 under umask 022); no temporary file is left."""
    path = Path(path)
    with interrupts_deferred():
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(payload)
                f.flush()
                os.fchmod(f.fileno(), 0o666 & ~_umask())
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
            raise


def atomic_write_json(path, obj, indent=None):
    text = json.dumps(obj, indent=indent, allow_nan=False)
    atomic_write_bytes(path, (text + '\n').encode('utf-8'))


def read_json(path, what, hint=''):
    """Parse the JSON file at path; one MicrogptError line if it is missing or not JSON.

    `what` names the file for the user ("checkpoint", "genome file"); hint follows a
    not-found message.
    """
    path = Path(path)
    if not path.exists():
        raise MicrogptError(f"{what} not found: {path}{hint}")
    if path.is_dir():
        raise MicrogptError(f"{what} {path} is a folder, not a file")
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise MicrogptError(f"{what} {path} is not readable JSON: {' '.join(str(e).split())[:200]}") from None
