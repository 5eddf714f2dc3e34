"""Entry point of ``python -m native.train``; the code is in native/trainer.py.

(Import ``native.trainer``, not this module: importing ``native.train`` as a
module would rebind the ``native.train`` function of the package API.)
"""
import sys

if __name__ == "__main__":
    try:
        from native.trainer import main
    except KeyboardInterrupt:       # Ctrl-C while starting: one line, not a traceback
        import signal
        signal.signal(signal.SIGINT, signal.SIG_IGN)    # a second one may not cut this short
        sys.stderr.write("\ninterrupted while starting; nothing was done\n")
        raise SystemExit(130) from None
    raise SystemExit(main())
