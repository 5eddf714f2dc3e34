"""Entry point of ``python -m native.train``; the code is in native/trainer.py.

(Import ``native.trainer``, not this module: importing ``native.train`` as a
module would rebind the ``native.train`` function of the package API.)
"""
from native.trainer import main

if __name__ == "__main__":
    raise SystemExit(main())
