"""Only the optional C extension lives here; all other metadata is in pyproject.toml.

``optional=True``: without a C compiler or Python headers the build warns and lcm-tui installs and
runs on the pure-Python book (lcm_tui/book.py). Install editable (``pip install -e '.[dev]'``) to get
the compiled module inside the source tree, where the tests and benchmark_test.py import it from.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("lcm_tui.core._fastbook", ["lcm_tui/core/_fastbook.c"], optional=True)])
