"""A closed pipe on stdout (`… | head -1`) is the reader's choice, not an error."""
import os


def point_at_devnull(stream):
    """Points `stream`'s file descriptor at os.devnull, so that the interpreter's own flush
    at exit finds nothing to write (and prints no BrokenPipeError of its own)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):     # ValueError: the stream was closed
        pass
