"""Optional PostgreSQL recorder (``--record`` / ``recorder.enabled``): see ``postgres.Recorder``.

The names are loaded on first use, so ``from lcm_tui.record import RecorderError`` (what the command
line needs to report a failure) does not import asyncpg, and the submodules never import this
package's ``__init__`` back (no import circle between it and ``postgres``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lcm_tui.record.dsn import redact_dsn
    from lcm_tui.record.errors import RecorderError
    from lcm_tui.record.postgres import Recorder
    from lcm_tui.record.status import RecorderStatus

__all__ = ["Recorder", "RecorderError", "RecorderStatus", "redact_dsn"]

_HOME = {
    "Recorder": "lcm_tui.record.postgres",
    "RecorderError": "lcm_tui.record.errors",
    "RecorderStatus": "lcm_tui.record.status",
    "redact_dsn": "lcm_tui.record.dsn",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value
