"""Entry point of ``python -m native.train``; the code is in native/trainer.py.

(Import ``native.trainer``, not this module: importing ``native.train`` as a
module would rebind the ``native.train`` function of the package API.)
"""
if __name__ == "__main__":
    from native.trainer import main     # (Ctrl-C is held until exit_with's try: native/__init__)
    from pure import checks
    checks.exit_with(main)
