"""The two paths of lcm_tui.core.book and core.bands (C extension or pure Python), for tests that must hold on both.

The C extension is optional at install time, so its tests skip when it is not built, except under
CI=true, where the install command builds it and a missing module means the C path went untested.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import lcm_tui.core.bands as bands_module
import lcm_tui.core.book as book_module

try:
    from lcm_tui.core._fastbook import apply_levels as C_APPLY
    from lcm_tui.core._fastbook import prefix_extend as C_PREFIX
    from lcm_tui.core._fastbook import side_sample as C_SIDE
except ImportError:
    C_APPLY = C_PREFIX = C_SIDE = None

_IN_CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
NO_C = "lcm_tui.core._fastbook is not built: install with `pip install -e '.[dev]'` on a machine with a C compiler"

NEEDS_C = pytest.mark.skipif(C_APPLY is None and not _IN_CI, reason=NO_C)
IMPLS = [pytest.param("c", marks=NEEDS_C), "python"]


@contextmanager
def use_impl(name: str) -> Iterator[None]:
    """Run the book and the band sums on the C path ("c") or the pure-Python path ("python") in the block."""
    if name == "c" and C_APPLY is None:
        pytest.fail(f"{NO_C} (CI=true requires it)")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(book_module, "_fast_apply", C_APPLY if name == "c" else None)
        mp.setattr(bands_module, "_fast_prefix", C_PREFIX if name == "c" else None)
        mp.setattr(bands_module, "_fast_side", C_SIDE if name == "c" else None)
        yield
