"""Files: atomic writes (a reader sees the old file or the new one, never half of one), durable JSON lines
appended one whole line at a time, each output path checked before any work, JSON read with clear errors."""
import errno
import json
import math
import os
import signal
import stat
import tempfile
import threading
from contextlib import contextmanager, suppress
from pathlib import Path

from ..errors import MicrogptError, existing_file


def check_writable(path, what, kind='file'):
    """The one check of an output before any work: `path` as a Path, or one MicrogptError line naming
    `what`. kind 'file': replaced whole; 'append': added to; 'folder': files are made in it (made when
    missing). That it can be written is tried for real: permission bits do not tell it all."""
    noun = 'folder' if kind == 'folder' else 'file'
    if path is None or str(path).strip() == '':
        raise MicrogptError(f"{what}: the {noun} name is empty")
    if kind != 'folder' and str(path).endswith(('/', os.sep)):  # Path() would drop the slash
        raise MicrogptError(f"{what} {path} names a folder (it ends with /): give a file name")
    path = Path(path)
    if kind == 'folder':
        folder = path  # the nearest part of it that exists must be a folder
        while not folder.exists() and not folder.is_symlink() and folder != folder.parent:
            folder = folder.parent
        if not folder.is_dir():
            raise MicrogptError(f"{what} {path} is not a folder" if folder == path
                                else f"{what} {path}: {folder} is not a folder")
    else:
        folder = path.parent
        if not folder.exists():
            raise MicrogptError(f"{what} {path}: folder {folder} does not exist")
        if not folder.is_dir():
            raise MicrogptError(f"{what} {path}: {folder} is not a folder")
        if path.exists() or path.is_symlink():
            mode = os.stat(path).st_mode if path.exists() else 0
            if not stat.S_ISREG(mode):
                raise MicrogptError(f"{what} {path} is {'a folder' if stat.S_ISDIR(mode) else 'not a regular file'}")
            why = unreplaceable(path, append=kind == 'append')
            if why:
                verb = 'added to' if kind == 'append' else 'replaced'
                raise MicrogptError(f"{what} {path} cannot be {verb} ({why}): make it writable or choose another path")
    why = unwritable(folder)
    if why:
        raise MicrogptError(f"{what} {path}: folder {folder} is not writable ({why})")
    return path


def unreplaceable(path, append=False):
    """None if the existing file at path may be replaced (or, with append, added to), else why not: a
    write-protected file is not replaced unasked. Opening it for writing changes nothing."""
    link = os.lstat(path)
    folder = os.stat(os.path.dirname(os.path.abspath(path)))
    if folder.st_mode & stat.S_ISVTX and os.geteuid() not in (0, link.st_uid, folder.st_uid):
        return "another user's file in a folder where only the owner may replace a file"
    if stat.S_ISLNK(link.st_mode):
        return None  # the link is what is replaced, not the file it points to
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | (os.O_APPEND if append else 0)))
    except OSError as e:
        return e.strerror or str(e)
    return None


def unwritable(folder):
    """None if a new file can be created in folder (tried, leaving nothing behind), else why not."""
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


@contextmanager
def interrupts_deferred():
    """Ctrl-C and SIGTERM wait until the block is done (main thread only): an interrupt never lands
    between writing a file and putting it in place."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def atomic_write_bytes(path, payload):
    """Write a temporary file beside path, then rename it over path. A failure (disk full, folder gone)
    is one MicrogptError, and path is as it was."""
    path = Path(path)
    try:
        _atomic_write(path, payload)
    except OSError as e:
        raise MicrogptError(f"cannot write {path}: {e.strerror or e}") from None


def _atomic_write(path, payload):
    umask = os.umask(0)
    os.umask(umask)
    with interrupts_deferred():
        fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(payload)
                f.flush()
                os.fchmod(f.fileno(), 0o666 & ~umask)
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp)
            raise


def finite_or_null(obj):
    """obj with every float that is not finite replaced by None (strict JSON's "no value")."""
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
    """Append `record` as one JSON line, synced to disk before returning, after a newline if an earlier
    crash left the last line partial. A failure is one MicrogptError: `failure`, the path and why."""
    line = (json.dumps(record) + '\n').encode('utf-8')
    try:
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
    except OSError as e:
        raise MicrogptError(f"{failure} {path}: {e.strerror or e}") from None


def read_json(path, what, hint=''):
    """The JSON file at path, or one MicrogptError line naming `what` ("checkpoint")."""
    path = existing_file(path, what, hint)
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise MicrogptError(f"{what} {path} is not readable JSON: {' '.join(str(e).split())[:200]}") from None
