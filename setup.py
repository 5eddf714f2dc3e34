# Everything declarative lives in pyproject.toml; setup.py exists only because
# cffi's setuptools hook is configured through the cffi_modules keyword.
from setuptools import setup

setup(cffi_modules=["build_ffi.py:ffibuilder"])
