"""The one error type microgpt raises for bad input (the CLI prints it as a single line), and the checks of
input that every floor makes."""
from pathlib import Path


class MicrogptError(Exception):
    """Bad input or state a user can fix (missing data, bad config, corrupt file)."""


def require_positive(name, value):
    """A count that must be at least 1 (None means: not given, nothing to check)."""
    if value is not None and value < 1:
        raise MicrogptError(f"{name} must be >= 1, got {value}")


def existing_file(path, what, hint=''):
    """path as a Path, or one MicrogptError line naming `what` if nothing is there (then `hint`) or a folder."""
    path = Path(path)
    if not path.exists():
        raise MicrogptError(f"{what} not found: {path}{hint}")
    if path.is_dir():
        raise MicrogptError(f"{what} {path} is a folder, not a file")
    return path
