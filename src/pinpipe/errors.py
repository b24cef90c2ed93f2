"""One error root for the whole project.

Every error a user can cause or fix derives from :class:`PinpipeError`; the CLI prints its message
as one line (plus its hint) and exits non-zero, without a traceback unless ``--debug`` is given.
Retryable errors are a plain subclass so callers (the emulators, the gateway) can decide on retry
or backpressure without parsing messages.
"""

from __future__ import annotations


class PinpipeError(Exception):
    """An error with a message a user can act on."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"


class ConfigError(PinpipeError):
    """Settings that cannot work: an unknown URL scheme, a bad value, a missing file."""


class MissingDependencyError(PinpipeError):
    """An optional extra is not installed; the message carries the exact install line."""

    def __init__(self, what: str, extra: str, package: str) -> None:
        super().__init__(
            f"{what} needs the optional package '{package}'",
            hint=f"pip install 'pinpipe[{extra}]'",
        )


class RetryableError(PinpipeError):
    """A transient failure (backend down, overloaded); the same call may succeed later.

    ``retry_after`` is a hint in seconds, which the gateway turns into a ``Retry-After`` header.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class BackendUnavailableError(RetryableError):
    """The event log, lake or database cannot be reached."""


class ValidationError(PinpipeError):
    """Input that does not fit its contract (a bad row, a bad topic name)."""


class DiskFullError(PinpipeError):
    """A disk pinpipe writes to is full; what was not committed is re-read or re-written by the rerun."""


#: How the C, Rust and Java libraries under pinpipe say ENOSPC.
_DISK_FULL_WORDS = ("No space left on device", "os error 28", "Errno 28")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a full disk, whichever library raised it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno == 28:
            return True
        if any(words in str(seen) for words in _DISK_FULL_WORDS):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
