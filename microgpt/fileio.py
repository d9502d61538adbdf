"""Atomic file writes: a reader sees the old file or the new one, never half of one."""
import json
import os
import tempfile
from pathlib import Path

from .errors import MicrogptError


def atomic_write_bytes(path, payload):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(payload)
            f.flush()
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
    try:
        return json.loads(path.read_text(encoding='utf-8'))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise MicrogptError(f"{what} {path} is not readable JSON: {e}") from None
