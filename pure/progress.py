"""A progress line for long epochs: samples done, running loss, samples/s, time left.

Standard library only, so pure/ can use it; native's trainer uses it too. The
trainer runs an epoch in pieces of whole mini-batches (the same pieces that let
Ctrl-C answer within a second) and calls ``update`` after each piece.

Nothing is shown for an epoch that ends within ``delay`` seconds. After that:
on a terminal, one line rewritten in place a few times a second; elsewhere
(a log, CI), a plain line every ``log_every`` seconds.
"""

import sys
import time


class Progress:
    def __init__(self, total, label="", stream=None, delay=1.0, log_every=10.0, clock=time.monotonic):
        self.total, self.label = total, label
        self.stream = stream if stream is not None else sys.stderr
        try:
            self.tty = self.stream.isatty()
        except (AttributeError, ValueError):
            self.tty = False
        self.delay, self.clock = delay, clock
        self.interval = 0.2 if self.tty else log_every
        self.start = clock()
        self.last_shown = None
        self.shown_width = 0

    def line(self, done, running_loss, now):
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else float("inf")
        pct = 100.0 * done / self.total if self.total else 100.0
        return (f"{self.label}{done:,}/{self.total:,} samples ({pct:3.0f} %)  loss {running_loss:.4f}  "
                f"{rate:,.0f} samples/s  {_duration(left)} left")

    def update(self, done, running_loss):
        """After each piece: `done` samples of the epoch so far, `running_loss` the mean so far."""
        now = self.clock()
        if done >= self.total or now - self.start < self.delay:   # the epoch's own line follows
            return
        if self.last_shown is not None and now - self.last_shown < self.interval:
            return
        self.last_shown = now
        text = self.line(done, running_loss, now)
        if self.tty:
            pad = " " * max(0, self.shown_width - len(text))
            self.stream.write("\r" + text + pad)
            self.shown_width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self):
        """Clears the in-place line, so the epoch's own line follows on a clean row."""
        if self.tty and self.shown_width:
            self.stream.write("\r" + " " * self.shown_width + "\r")
            self.stream.flush()
            self.shown_width = 0


def _duration(seconds):
    if seconds != seconds or seconds == float("inf"):
        return "?"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def batch_pieces(n, batch_size, seconds_per_batch, target=0.25):
    """Batches per piece so that one piece takes about `target` seconds (at least one)."""
    if seconds_per_batch <= 0:
        return max(1, n // batch_size)
    return max(1, int(target / seconds_per_batch))
