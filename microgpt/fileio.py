"""Files: atomic writes (a reader sees the old file or the new one, never half of one),
durable JSON lines appended one whole line at a time, output paths checked before any work,
and JSON read with clear errors."""
import errno
import json
import math
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
    name, a parent that is missing, not a folder or not writable (tried: root passes every
    permission check, yet not into an immutable folder or /proc), or a target that exists
    but is not a regular file (a folder, a FIFO, a device), or a dangling link."""
    if path is None or str(path).strip() == '':
        raise MicrogptError(f"{what}: the file name is empty")
    path = Path(path)
    parent = path.parent
    if not parent.exists():
        raise MicrogptError(f"{what} {path}: folder {parent} does not exist")
    if not parent.is_dir():
        raise MicrogptError(f"{what} {path}: {parent} is not a folder")
    if path.exists() or path.is_symlink():
        mode = os.stat(path).st_mode if path.exists() else 0
        if not stat.S_ISREG(mode):
            kind = 'a folder' if stat.S_ISDIR(mode) else 'not a regular file'
            raise MicrogptError(f"{what} {path} is {kind}")
    why = unwritable(parent)
    if why:
        raise MicrogptError(f"{what} {path}: folder {parent} is not writable ({why})")
    return path


def check_output_dir(path, what='output folder'):
    """Raise MicrogptError now if files cannot be created in folder `path` (made when
    missing): it, or the nearest part of it that exists, must be a writable folder."""
    if path is None or str(path).strip() == '':
        raise MicrogptError(f"{what}: the folder name is empty")
    path = Path(path)
    existing = path
    while not existing.exists() and not existing.is_symlink() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        if existing == path:
            raise MicrogptError(f"{what} {path} is not a folder")
        raise MicrogptError(f"{what} {path}: {existing} is not a folder")
    why = unwritable(existing)
    if why:
        raise MicrogptError(f"{what} {path}: folder {existing} is not writable ({why})")
    return path


def unwritable(folder):
    """None if a new file can be created in folder, else why not. Tried for real (and
    leaving nothing behind): permission bits do not tell the whole story."""
    folder = str(folder) or '.'
    if not os.access(folder, os.W_OK | os.X_OK):
        return 'permission denied'
    tmpfile = getattr(os, 'O_TMPFILE', None)
    if tmpfile is not None:  # an unnamed file: the folder does not even change
        try:
            os.close(os.open(folder, tmpfile | os.O_WRONLY, 0o600))
            return None
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
                return e.strerror or str(e)
    try:
        fd, probe = tempfile.mkstemp(prefix='.microgpt-probe.', suffix='.tmp', dir=folder)
    except OSError as e:
        return e.strerror or str(e)
    os.close(fd)
    os.unlink(probe)
    return None


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
    mode the umask gives a new file (0644 under umask 022); no temporary file is left. A
    failure (disk full, folder gone) is one MicrogptError; path is then as it was."""
    path = Path(path)
    try:
        _atomic_write(path, payload)
    except OSError as e:
        raise MicrogptError(f"cannot write {path}: {e.strerror or e}") from None


def _atomic_write(path, payload):
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


def finite_or_null(obj):
    """obj with every float that is not finite replaced by None (JSON has no inf or nan:
    strict JSON says "no value" as null), through dicts, lists and tuples."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {key: finite_or_null(value) for key, value in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [finite_or_null(value) for value in obj]
    return obj


def atomic_write_json(path, obj, indent=None):
    text = json.dumps(obj, indent=indent, allow_nan=False)
    atomic_write_bytes(path, (text + '\n').encode('utf-8'))


def append_json_line(path, record, failure):
    """Append `record` as one JSON line in a single write, synced to disk before returning:
    an interrupted writer keeps every line it finished. A partial last line left by an
    earlier crash gets a newline first, so this line stays whole. A failure is one
    MicrogptError: `failure`, the path and why ("cannot append to results file x: ...")."""
    line = (json.dumps(record) + '\n').encode('utf-8')
    try:
        _append_line(path, line)
    except OSError as e:
        raise MicrogptError(f"{failure} {path}: {e.strerror or e}") from None


def _append_line(path, line):
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b'\n':
            line = b'\n' + line
        while line:
            line = line[os.write(fd, line):]
        os.fsync(fd)
    finally:
        os.close(fd)


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
