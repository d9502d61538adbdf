"""A command's files, checked together before any work: no file it writes is a file it reads,
another file it writes, or a file it must leave alone (the genome `microgpt train` loads),
and every file it writes can be written (fileio.check_writable). Paths are compared as the
files they name: ./d.txt and d.txt, a link and the file it points to, are one file.

    >>> check_outputs([Output('--out', 'd.txt', 'checkpoint')], [('--data', './d.txt')])
    Traceback (most recent call last):
    ...
    microgpt.errors.MicrogptError: --out d.txt is also --data: choose another path
"""
import os
from dataclasses import dataclass, replace
from pathlib import Path

from ..errors import MicrogptError
from .fileio import check_writable


@dataclass(frozen=True)
class Output:
    """A file (or folder) a command writes: the flag that names it (`label`), its name in a message (`what`),
    check_writable's `kind`, and the label of the input it `updates` in place (train --resume without --out)."""
    label: str
    path: object  # or a function giving it (see check_outputs)
    what: str = 'output file'
    kind: str = 'file'
    updates: str = None


def check_outputs(outputs, inputs=()):
    """Refuse, in one MicrogptError line, an output that cannot be written, is an input or is another output.
    A path may be a function, called once the outputs before it passed (the best checkpoint's name is made from
    --out's); `inputs` are (label, path); a path of None is not given."""
    written = []
    for output in outputs:
        path = output.path() if callable(output.path) else output.path
        if path is not None:
            check_writable(path, output.what, output.kind)
            written.append(replace(output, path=path))
    inputs = [(label, path) for label, path in inputs if path is not None]
    files = [output for output in written if output.kind != 'folder']
    for i, output in enumerate(files):
        others = [(label, path) for label, path in inputs if label != output.updates]
        others += [(earlier.label, earlier.path) for earlier in files[:i]]
        for label, path in others:
            if same_file(output.path, path):
                raise MicrogptError(f"{output.label} {output.path} is also {label}: choose another path")


def same_file(a, b):
    """Whether paths a and b name one file: once resolved, or on disk (a hard link, a bind mount)."""
    if resolved(a) == resolved(b):
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):
        return False


def resolved(path):
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):  # a loop of links: compare the path as written
        return Path(os.path.abspath(path))
