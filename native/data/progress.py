"""What a long fetch tells the user on stderr: status lines and a progress bar."""

from __future__ import annotations

import sys
import time
from typing import Optional


class Progress:
    """A one-line progress display on stderr.

    ``enabled=None`` shows it only when stderr is a terminal; in any case a
    line appears only once the operation has run for ``delay`` seconds.
    """

    def __init__(self, label: str, total: Optional[int], enabled, delay=1.0):
        if enabled is None:
            enabled = bool(getattr(sys.stderr, "isatty", lambda: False)())
        self.enabled, self.label, self.total = enabled, label, total
        self.start, self.delay, self.shown = time.monotonic(), delay, False

    def update(self, done: int) -> None:
        if not self.enabled or time.monotonic() - self.start < self.delay:
            return
        mb = done / 1e6
        if self.total:
            text = f"{mb:.1f}/{self.total / 1e6:.1f} MB ({100 * done // self.total}%)"
        else:
            text = f"{mb:.1f} MB"
        sys.stderr.write(f"\r{self.label}: {text}  ")
        sys.stderr.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            sys.stderr.write("\n")
            sys.stderr.flush()


def say(message: str, progress) -> None:
    """A status line on stderr, unless progress=False: unlike a progress bar it
    reads well in a log too, so a first run that fetches data says so."""
    if progress is not False:
        print(message, file=sys.stderr, flush=True)


def warn(message: str) -> None:
    print(f"backprop-ch5 data: warning: {message}", file=sys.stderr, flush=True)
