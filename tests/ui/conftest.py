"""UI test fixtures; snapshot SVGs are kept in the top-level ``snapshots/`` folder.

pytest-textual-snapshot's ``snap_compare`` asks syrupy for ``snapshot.use_extension(SVGImageExtension)``,
whose files would land in ``tests/ui/__snapshots__``. Overriding the ``snapshot`` fixture with an
assertion class that swaps in a subclass with another ``dirname`` moves them without patching the plugin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_textual_snapshot import SVGImageExtension  # type: ignore[import-untyped]
from syrupy.assertion import SnapshotAssertion
from syrupy.location import PyTestLocation

SNAPSHOTS = Path(__file__).resolve().parents[2] / "snapshots"


class TopLevelSVGExtension(SVGImageExtension):
    @classmethod
    def dirname(cls, *, test_location: PyTestLocation) -> str:
        return str(SNAPSHOTS / test_location.basename)


class TopLevelSnapshotAssertion(SnapshotAssertion):
    def use_extension(self, extension_class: Any = None) -> SnapshotAssertion:
        if extension_class is SVGImageExtension:
            extension_class = TopLevelSVGExtension
        return super().use_extension(extension_class)


@pytest.fixture
def snapshot(request: pytest.FixtureRequest) -> SnapshotAssertion:
    return TopLevelSnapshotAssertion(
        update_snapshots=request.config.option.update_snapshots,
        extension_class=TopLevelSVGExtension,
        test_location=PyTestLocation(request.node),
        session=request.session.config._syrupy,  # type: ignore[attr-defined]
    )


@pytest.fixture(autouse=True)
def config_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The app remembers the theme in the user's config directory: never the real one in a test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    return home / ".config"
