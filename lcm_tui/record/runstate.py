"""A small file next to the spill journal that says which run is recording and when it was last alive.

Why: after a crash the next start must say what may be missing, and close the alerts the dead
process left open. The journal alone cannot say that: records the dead process still held in memory
left no trace. So each flush tick rewrites ``<spill>.run`` with the run id, the pid, the time and the
newest sample already stored (committed or journaled); a clean close removes it. Finding the file at
start therefore means the previous run died, and the span between its last stored sample and its
last sign of life (plus one tick) is what may be lost.

The file is replaced atomically (write a temporary file, then rename), so a crash mid-write leaves
the previous version. It survives a killed process; after a power loss it may be one rename behind.
"""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import orjson

log = logging.getLogger("lcm_tui.record")


@dataclass(frozen=True, slots=True)
class RunState:
    run_id: str
    pid: int
    started_ns: int
    seen_ns: int  # wall time of the last tick
    stored_ns: int | None  # ts_ns of the newest sample committed or journaled by then
    tick_s: float


def state_path(spill_path: str | os.PathLike[str]) -> Path:
    p = Path(spill_path)
    return p.with_name(p.name + ".run")


def read_state(path: Path) -> RunState | None:
    """The previous run's state, or None when there is none (or it is unreadable: said in the log)."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as e:
        log.warning("recorder: cannot read %s (%s); a previous crash may go unreported", path, e.strerror)
        return None
    try:
        d = orjson.loads(raw)
        return RunState(str(d["run_id"]), int(d["pid"]), int(d["started_ns"]), int(d["seen_ns"]),
                        None if d["stored_ns"] is None else int(d["stored_ns"]), float(d["tick_s"]))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        log.warning("recorder: %s is not a run state file; a previous crash may go unreported", path)
        return None


def write_state(path: Path, st: RunState) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(orjson.dumps(asdict(st)))
    os.replace(tmp, path)


def remove_state(path: Path) -> None:
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".tmp").unlink(missing_ok=True)
