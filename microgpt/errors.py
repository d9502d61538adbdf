"""The one error type microgpt raises for bad input: the CLI prints it as a single line."""


class MicrogptError(Exception):
    """Bad input or state a user can fix (missing data, bad config, corrupt file)."""
