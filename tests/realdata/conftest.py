"""The real recordings live beside the checkout (``../shared/realdata``), never inside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
REALDATA = REPO.parent / "shared" / "realdata"


def locate(folder: Path | None = None) -> Path:
    """The folder of recordings: a skip with the reason where it is absent, a failure under CI=true
    (CI has ``../shared/`` beside the checkout, so a missing folder there is a broken setup)."""
    folder = REALDATA if folder is None else folder
    if not (folder / "README.md").is_file():
        why = f"real recordings not found at {folder} (third-party data, kept beside the checkout)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true: {why}")
        pytest.skip(why)
    return folder


@pytest.fixture(scope="session")
def realdata() -> Path:
    return locate()
