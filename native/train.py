"""Entry point of ``python -m native.train``; the code is in native/trainer.py.

(Import ``native.trainer``, not this module: importing ``native.train`` as a
module would rebind the ``native.train`` function of the package API.)
"""
import sys

if __name__ == "__main__":
    import signal
    try:
        from native.trainer import main
    except KeyboardInterrupt:       # Ctrl-C while starting: one line, not a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second one may not cut this short
        sys.stderr.write("\ninterrupted while starting; nothing was done\n")
        raise SystemExit(130) from None
    try:
        rc = main()
    finally:
        # The run is over (its files written, its last line said): Python's shutdown would
        # put Ctrl-C back to the system default, and one arriving then would end the process
        # by the signal, with no word and no exit status. Ignored, the exit is the run's own.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(rc)
