"""The recorder's state as one value, and the one line every frontend shows for it.

Kept apart from the writer (no asyncpg here) so a frontend can format a status without importing
the database driver, and so the headless stderr line and the TUI header cannot drift apart again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

_ERR_MAX = 80


@dataclass(slots=True, frozen=True)
class RecorderStatus:
    rows_written: int  # records committed (a sample with its depth and slippage rows counts once)
    queue_depth: int  # records in memory, including the batch in flight
    lag_s: float  # age of the oldest record not yet committed (memory or journal)
    spilled_rows: int  # records waiting in the spill journal
    down_since: float | None  # wall-clock time the database became unreachable, None while it is up
    last_error: str | None  # the last database error, password removed
    dropped_rows: int = 0  # records lost: queue full, spill journal full or torn, or rejected by the server
    spill_bytes: int = 0
    spilled_total: int = 0  # records that went through the spill journal since start (slow or down database)
    target: str = ""
    # What the previous run may have lost when it died (None: it stopped cleanly, or this is the first run).
    previous_loss: str | None = None
    failed: str | None = None  # the writer stopped for good: nothing more will be recorded

    @property
    def state(self) -> str:
        """``FAILED``, ``DOWN``, ``SPILLING`` (up, replaying the journal) or ``UP``."""
        if self.failed is not None:
            return "FAILED"
        if self.down_since is not None:
            return "DOWN"
        return "SPILLING" if self.spilled_rows else "UP"

    def describe(self, now: float | None = None) -> str:
        """One line for the TUI header and headless stderr: state, backlog, loss, and why when DOWN."""
        now = time.time() if now is None else now
        if self.failed is not None:
            text = "rec FAILED"
        elif self.down_since is not None:
            text = f"rec DOWN {max(0.0, now - self.down_since):.0f}s"
        else:
            text = f"rec {self.rows_written:,} rows"
        text += f" | q {self.queue_depth:,} | lag {self.lag_s:.1f}s"
        if self.spilled_rows:
            text += f" | spill {self.spilled_rows:,} rows ({self.spill_bytes / 1e6:.1f} MB)"
        if self.dropped_rows:
            text += f" | {self.dropped_rows:,} DROPPED"
        if self.previous_loss:
            text += f" | {self.previous_loss}"
        why = self.failed if self.failed is not None else (self.last_error if self.down_since is not None else None)
        if why:
            err = " ".join(why.split())
            text += f" | {err[:_ERR_MAX - 3]}..." if len(err) > _ERR_MAX else f" | {err}"
        return text
