"""Files: atomic writes (a reader sees the old file or the new one, never half of one),
durable JSON lines appended one whole line at a time, each output path checked before any
work (check_writable), and JSON read with clear errors."""
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


def check_output_path(path, what='output file', append=False):
    """Raise MicrogptError now, before any work, if file `path` cannot be written (replaced
    whole, or with `append` added to): see check_writable."""
    return check_writable(path, what, 'append' if append else 'file')


def check_output_dir(path, what='output folder'):
    """Raise MicrogptError now if files cannot be created in folder `path` (made when
    missing): see check_writable."""
    return check_writable(path, what, 'folder')


def check_writable(path, what, kind='file'):
    """The one check of an output before any work; returns path as a Path, or raises one
    MicrogptError line naming `what`. kind 'file': a file written whole (a new file put in
    place of the old); 'append': a file added to; 'folder': a folder files are made in (made
    when missing, so the nearest part of it that exists must be a folder).

    Refused: an empty name; a file name that ends with / (a folder's); a file's folder that is missing or not a folder; a file that is
    a folder, a FIFO, a device or a dangling link; an existing file that cannot be replaced
    (immutable, read-only, or another user's in a sticky folder such as /tmp); a folder that
    takes no new file (tried for real: root passes every permission check, yet not into an
    immutable folder or /proc)."""
    noun = 'folder' if kind == 'folder' else 'file'
    if path is None or str(path).strip() == '':
        raise MicrogptError(f"{what}: the {noun} name is empty")
    if kind != 'folder' and str(path).endswith(('/', os.sep)):  # Path() would drop the slash
        raise MicrogptError(f"{what} {path} names a folder (it ends with /): give a file name")
    path = Path(path)
    if kind == 'folder':
        folder = _nearest_existing(path)
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
                kind_of = 'a folder' if stat.S_ISDIR(mode) else 'not a regular file'
                raise MicrogptError(f"{what} {path} is {kind_of}")
            why = unreplaceable(path, append=kind == 'append')
            if why:
                verb = 'added to' if kind == 'append' else 'replaced'
                raise MicrogptError(f"{what} {path} cannot be {verb} ({why}): make it writable or choose "
                                    f"another path")
    why = unwritable(folder)
    if why:
        raise MicrogptError(f"{what} {path}: folder {folder} is not writable ({why})")
    return path


def _nearest_existing(path):
    while not path.exists() and not path.is_symlink() and path != path.parent:
        path = path.parent
    return path


def unreplaceable(path, append=False):
    """None if the existing file at path can be replaced by a new one put in its place (or,
    with append, added to), else why not. Opening it for writing, and closing it at once,
    changes nothing; it fails on a file that is immutable, append-only (unless appending),
    on a read-only file system, or read-only to this user: a write-protected file is not
    replaced unasked, though renaming over it would succeed."""
    link = os.lstat(path)
    folder = os.stat(os.path.dirname(os.path.abspath(path)))
    me = os.geteuid()
    if folder.st_mode & stat.S_ISVTX and me not in (0, link.st_uid, folder.st_uid):
        return "another user's file in a folder where only the owner may replace a file"
    if stat.S_ISLNK(link.st_mode):
        return None  # the link is what is replaced, not the file it points to
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY | (os.O_APPEND if append else 0)))
    except OSError as e:
        return e.strerror or str(e)
    return None


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
