"""The real recordings live beside the checkout (``../shared/realdata``), never inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO.parent / "shared" / "realdata"


@pytest.fixture(scope="session")
def realdata() -> Path:
    """The folder of recordings: skipped with a reason where it is absent, a failure under CI."""
    if not (REALDATA / "README.md").is_file():
        why = f"real recordings not found at {REALDATA} (third-party data, kept beside the checkout)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    return REALDATA
