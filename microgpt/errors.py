"""The one error type microgpt raises for bad input: the CLI prints it as a single line."""


class MicrogptError(Exception):
    """Bad input or state a user can fix (missing data, bad config, corrupt file)."""


def require_positive(name, value):
    """A count that must be at least 1 (None means: not given, nothing to check)."""
    if value is not None and value < 1:
        raise MicrogptError(f"{name} must be >= 1, got {value}")
