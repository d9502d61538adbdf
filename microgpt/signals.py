"""Interrupts: Ctrl-C (SIGINT) and SIGTERM end every command the same way, keeping what was done, each
with its own exit status (128 + the signal's number: 130 and 143)."""
import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C but with its own exit status."""


def exit_status(interrupt):
    return 128 + int(signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


def raise_on_sigterm():
    """From now on SIGTERM raises Terminated in the main thread, as SIGINT raises KeyboardInterrupt."""
    def handler(signum, frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, handler)


class StopRequests:
    """Within this block Ctrl-C and SIGTERM are noted, not raised: the work stops at its next safe point
    (`requested`), e.g. between two training steps, so what is saved is never half an update."""

    def __init__(self):
        self.signum = None

    @property
    def requested(self):
        return self.signum is not None

    def exception(self):
        return Terminated() if self.signum == signal.SIGTERM else KeyboardInterrupt()

    def __enter__(self):
        def note(signum, frame):
            self.signum = signum
        self._previous = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False


class JobInterrupted(Exception):
    """A job stopped by Ctrl-C or SIGTERM after keeping its work; carries the exit status."""

    def __init__(self, status):
        super().__init__(status)
        self.status = status
