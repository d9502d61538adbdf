"""Where a file came from, recorded in every checkpoint, genome and results file: microgpt's version and
git commit, Python and numpy, the data's SHA-256, the engine, the command (the arguments after `microgpt`)
and the machine (reproducibility.machine()), which decides the numpy engine's last bits."""
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .reproducibility import machine, numpy_version


def git_commit():
    """The commit of the checkout microgpt runs from, or None (installed, or no git)."""
    root = Path(__file__).resolve().parent.parent
    if not (root / '.git').exists():
        return None
    try:
        done = subprocess.run(['git', '-C', str(root), 'rev-parse', 'HEAD'], capture_output=True,
                              text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = done.stdout.strip()
    return commit if done.returncode == 0 and commit else None


def provenance(command, data_sha256=None, engine=None):
    """The provenance record; `command` is the argument list after `microgpt`."""
    record = {'microgpt': __version__}
    commit = git_commit()
    if commit:
        record['git_commit'] = commit
    record.update(python=platform.python_version(), numpy=numpy_version(), data_sha256=data_sha256,
                  engine=engine, command=list(command) if command is not None else None,
                  machine=machine(with_blas=engine != 'val'),
                  created=datetime.now(timezone.utc).isoformat(timespec='seconds'))
    return record
