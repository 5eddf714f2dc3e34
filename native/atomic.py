"""Writing files safely.

replace_atomically: write a temporary file in the target's folder, fsync it,
rename it over the target. A crash or Ctrl-C mid-write leaves the old file whole,
and the temporary file is removed on any failure. Checkpoints, --results files
and pictures are all written this way.

TargetLock: one writer per target. Two runs started together with one --save
path would both pass the start-time checks and then replace each other's
checkpoint; the lock makes the second one refuse. It is an OS lock on a small
``<target>.lock`` file next to the target (flock on POSIX, msvcrt.locking on
Windows): the OS drops it when the process ends however it ends (even SIGKILL),
so a lock left behind by a killed run never blocks a later one.
"""

import os
import tempfile

try:
    import fcntl
except ImportError:             # Windows
    fcntl = None
    import msvcrt


def replace_atomically(path, write, *, binary=True, prefix=None, mode=None):
    """Calls write(f) on a temporary file next to `path`, then renames it to `path`.

    prefix: the temporary file's name prefix (default: "<name>."); mode: permission
    bits to give the file. By default the file gets what an ordinary write would give
    it: the replaced file's bits, or for a new file 0666 less the umask (never
    mkstemp's 0600, which would hide a user's checkpoint or picture from the others
    who can read the folder)."""
    folder = os.path.dirname(os.path.abspath(path))
    if prefix is None:
        prefix = os.path.basename(path) + "."
    if mode is None:
        mode = usual_mode(path)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
    try:
        if hasattr(os, "fchmod"):               # POSIX; Windows has only the read-only bit
            os.fchmod(fd, mode)
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8")) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def usual_mode(path):
    """Permission bits for writing `path`: an existing regular file's own, else 0666 & ~umask."""
    import stat
    try:
        st = os.stat(path)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    mask = os.umask(0o022)          # the only way to read it; set back at once
    os.umask(mask)
    return 0o666 & ~mask


class TargetBusy(OSError):
    """Another live process holds the lock of this target."""


def _try_lock(fd):
    try:
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        return True
    except OSError:
        return False


class TargetLock:
    """Holds ``<path>.lock`` until release() (or the process's end).

    acquire() raises TargetBusy naming the holder's pid when another process holds
    it. The file holds the holder's pid, for the message only: the OS lock, not
    the file's presence, decides."""

    def __init__(self, path):
        self.path = os.path.realpath(os.fspath(path)) + ".lock"
        self.fd = None

    def acquire(self):
        for _ in range(10):
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            if not _try_lock(fd):
                try:
                    holder = os.read(fd, 32).decode("ascii", "replace").strip() or "?"
                except OSError:
                    holder = "?"
                os.close(fd)
                raise TargetBusy(f"another run (process {holder}) is writing "
                                 f"{self.path[:-len('.lock')]} right now")
            # The holder we waited for may have removed the file between our open and
            # our lock: then we hold a lock on a name nobody else will see. Retry.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(self.path))
            except OSError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
                self.fd = fd
                return self
            os.close(fd)
        raise TargetBusy(f"{self.path} keeps changing: another run is starting on the same file")

    def release(self):
        if self.fd is None:
            return
        try:        # remove the name while still holding the lock (see acquire)
            os.unlink(self.path)
        except OSError:
            pass
        try:
            os.close(self.fd)
        finally:
            self.fd = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()
