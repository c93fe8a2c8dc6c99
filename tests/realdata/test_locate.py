"""Without the recordings the real-data tests skip, except under CI, where they fail."""

from __future__ import annotations

import pytest

from .conftest import locate


def test_absent_folder_skips_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="real recordings not found"):
        locate(tmp_path / "nope")


def test_absent_folder_fails_under_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true: real recordings not found"):
        locate(tmp_path / "nope")


def test_present_folder_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    (tmp_path / "README.md").write_text("x")
    assert locate(tmp_path) == tmp_path
