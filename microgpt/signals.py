"""Interrupts: Ctrl-C (SIGINT) and SIGTERM end every command the same way, keeping what was
done; SIGTERM's exit status is its own (130 for Ctrl-C, 143 for SIGTERM)."""
import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled like Ctrl-C (SIGINT) but with its own exit status."""


EXIT_INTERRUPTED = 130  # 128 + SIGINT
EXIT_TERMINATED = 143   # 128 + SIGTERM


def exit_status(interrupt):
    return EXIT_TERMINATED if isinstance(interrupt, Terminated) else EXIT_INTERRUPTED


def raise_on_sigterm():
    """From now on SIGTERM raises Terminated in the main thread, as SIGINT raises
    KeyboardInterrupt, so every command saves what it has on either."""
    def handler(signum, frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, handler)


class StopRequests:
    """Within this block Ctrl-C and SIGTERM do not interrupt: they are noted, and the work
    stops at its next safe point (`requested`), e.g. between two training steps, so what is
    saved is never half an update. Handlers are restored on leaving."""

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
