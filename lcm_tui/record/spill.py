"""The local append-only spill journal: every record the database has not confirmed in time.

One JSON line per record, appended in arrival order and replayed from the front in that order. It is
truncated only once every line has been committed, so a crash at any point leaves at worst lines that
are written again on the next start, which the database's idempotent keys absorb. The recorder
calls ``sync`` once per flush interval, so what reached the file survives a crash of the machine too.

The file is bounded by ``spill_max_bytes``. When the next line does not fit it is dropped, counted
and logged: the recorder shows the count in its status line rather than losing rows silently.
An exclusive ``flock`` stops two processes from appending to (and replaying) the same file.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

import orjson

from lcm_tui.record.rows import Record

log = logging.getLogger("lcm_tui.record")

_CHUNK = 1 << 20


class SpillInUseError(RuntimeError):
    """Another process holds the spill file."""


class SpillFile:
    def __init__(self, path: str | os.PathLike[str], max_bytes: int) -> None:
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.size = 0  # bytes in the file
        self.pending = 0  # complete lines not yet committed
        self.dropped = 0  # records refused because the file was full
        self.corrupt = 0  # lines that could not be parsed (e.g. a torn write before a crash)
        self._read_offset = 0
        self._head_t: float | None = None  # enqueue time of the first pending line, read lazily
        self._synced = True
        self._w: IO[bytes] | None = None
        self._r: IO[bytes] | None = None

    @property
    def is_open(self) -> bool:
        return self._w is not None

    def open(self) -> None:
        """Open (creating if needed), lock, drop a torn last line, and count what is waiting."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        w = open(self.path, "ab")  # noqa: SIM115 - held open for the recorder's lifetime
        try:
            fcntl.flock(w.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            w.close()
            raise SpillInUseError(f"spill file {self.path} is in use by another process") from None
        self._w = w
        self._r = open(self.path, "rb")  # noqa: SIM115
        self.size, self.pending = self._scan()

    def _scan(self) -> tuple[int, int]:
        assert self._r is not None and self._w is not None
        r = self._r
        r.seek(0)
        lines = 0
        last_nl = -1
        pos = 0
        while chunk := r.read(_CHUNK):
            lines += chunk.count(b"\n")
            i = chunk.rfind(b"\n")
            if i >= 0:
                last_nl = pos + i
            pos += len(chunk)
        if last_nl + 1 < pos:
            # A line without its newline was torn by a crash mid-write; appending after it would glue
            # the next record onto it. Cut it off and count it.
            self.corrupt += 1
            log.warning("spill file %s: dropping a torn last line (%d bytes)", self.path, pos - last_nl - 1)
            self._w.truncate(last_nl + 1)
            pos = last_nl + 1
        return pos, lines

    def append(self, records: Iterable[Record]) -> int:
        """Append records; returns how many were dropped because the file is full."""
        assert self._w is not None
        dropped = 0
        write = self._w.write
        dumps = orjson.dumps
        size = self.size
        limit = self.max_bytes
        added = 0
        for rec in records:
            line = dumps(rec) + b"\n"
            if size + len(line) > limit:
                dropped += 1
                continue
            write(line)
            size += len(line)
            added += 1
        self.size = size
        self.pending += added
        self.dropped += dropped
        if added:
            self._synced = False
        return dropped

    def flush(self) -> None:
        if self._w is not None:
            self._w.flush()

    def sync(self) -> int | None:
        """Flush to the OS; the descriptor to ``os.fsync`` if anything was appended since the last call.

        The caller runs the fsync off the event loop (a slow disk must not stall the sample clock);
        appending while it runs is safe, the kernel syncs what was written before the call.
        """
        if self._w is None or self._synced:
            return None
        self._w.flush()
        self._synced = True
        return self._w.fileno()

    def head_time(self) -> float | None:
        """When the oldest pending record was enqueued (wall seconds): what the lag is measured from."""
        if not self.pending or self._r is None:
            return None
        if self._head_t is None:
            self.flush()
            self._r.seek(self._read_offset)
            line = self._r.readline()
            try:
                rec = orjson.loads(line)
                self._head_t = float(rec[1])
            except (orjson.JSONDecodeError, ValueError, TypeError, LookupError):
                return None
        return self._head_t

    def read_batch(self, n: int) -> tuple[list[Any], int, int]:
        """Up to ``n`` records from the front: (records, end offset, lines consumed) for ``commit``."""
        assert self._r is not None
        self.flush()
        r = self._r
        r.seek(self._read_offset)
        out: list[Any] = []
        consumed = 0
        offset = self._read_offset
        while len(out) < n and offset < self.size:
            line = r.readline()
            if not line:
                break
            offset += len(line)
            consumed += 1
            try:
                rec = orjson.loads(line)
                if not (isinstance(rec, list) and len(rec) == 3):
                    raise ValueError("not a [kind, time, payload] record")
            except (orjson.JSONDecodeError, ValueError) as e:
                self.corrupt += 1
                log.warning("spill file %s: skipping an unreadable line at byte %d (%s)", self.path,
                            offset - len(line), e)
                continue
            out.append(rec)
        return out, offset, consumed

    def commit(self, end_offset: int, consumed: int) -> None:
        """The lines up to ``end_offset`` are in the database; once all are, empty the file."""
        assert self._w is not None
        self._read_offset = end_offset
        self.pending -= consumed
        self._head_t = None
        if self._read_offset >= self.size:
            self._w.truncate(0)
            self._read_offset = 0
            self.size = 0
            self.pending = 0
            # The reader's buffer still holds the old bytes at offsets the next lines will reuse, and
            # a seek inside the buffer serves them: a stale batch would be written instead of the new
            # one. A fresh reader has no buffer.
            assert self._r is not None
            self._r.close()
            self._r = open(self.path, "rb")  # noqa: SIM115

    def close(self) -> None:
        """Sync and close; an empty file is removed (unlinked while still locked) so none lingers."""
        if self._w is not None:
            self._w.flush()
            if self.size == 0:
                self.path.unlink(missing_ok=True)
            else:
                os.fsync(self._w.fileno())
            self._w.close()  # also releases the flock
            self._w = None
        if self._r is not None:
            self._r.close()
            self._r = None
