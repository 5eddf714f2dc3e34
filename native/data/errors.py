"""The data package's exceptions: one base class, so a caller can catch them all."""


class DataError(RuntimeError):
    """The data could not be obtained or is not what it should be.

    When raised by ``load`` after every source failed, ``failures`` holds
    ``(source, reason)`` pairs in the order the sources were tried, where
    ``reason`` is the exception that source raised.
    """

    def __init__(self, message: str, failures=()):
        super().__init__(message)
        self.failures = list(failures)


class IdxFormatError(DataError, ValueError):
    """A file is not a well-formed uint8 IDX file (or holds a bad label)."""


class ChecksumError(DataError):
    """A file is well formed but its SHA-256 is not the canonical one."""


class SourceUnavailable(DataError):
    """A source could not be reached at all (network, pip, missing package)."""
