"""``--capture FILE``: every received frame, exactly as received, one JSON object a line.

A frame line is ``{"t_ns", "venue", "symbol", "frame", "conn"}``: ``frame`` is the text the adapter
got (snapshot replies included, since they go through ``on_frame`` too), ``t_ns`` the receive time
passed to the adapter, ``conn`` the connection it came on. A snapshot fetched out of band (REST body,
WebSocket-API reply) also carries ``"snapshot": true``, and its ``symbol`` is the one it was fetched
for: the reply itself may not say, so replay hands it to ``Adapter.on_snapshot`` with that symbol.
Connection lifecycle lines carry ``"frame": null`` and an ``"event"`` (``open`` with ``mode``
fresh|reuse|rollover, ``switch``,
``close``) so replay can rebuild exactly what the runner did, rollovers included. ``.gz`` files are
gzip-compressed. Writes are buffered and flushed on close (and every ``flush_every`` lines), so the
capture never costs a syscall per frame.
"""

from __future__ import annotations

import gzip
import io
from typing import Any, TextIO

import orjson


def open_text(path: str, mode: str) -> TextIO:
    """Open a capture for reading or writing, gzip when the name ends in ``.gz``."""
    if path.endswith(".gz"):
        raw: Any = gzip.open(path, mode + "b")  # noqa: SIM115 - the caller closes it
        return io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
    fh: Any = open(path, mode, encoding="utf-8", newline="\n")  # noqa: SIM115 - the caller closes it
    return fh


class Capture:
    def __init__(self, path: str, flush_every: int = 2000) -> None:
        self.path = path
        self.flush_every = flush_every
        self.lines = 0
        self._fh: TextIO | None = open_text(path, "w")
        self._buf: list[bytes] = []

    def _put(self, obj: dict[str, Any]) -> None:
        if self._fh is None:
            return
        self._buf.append(orjson.dumps(obj))
        self.lines += 1
        if len(self._buf) >= self.flush_every:
            self.flush()

    def frame(self, t_ns: int, venue: str, symbol: str, frame: str | bytes, conn: int = 0, *,
              snapshot: bool = False) -> None:
        if isinstance(frame, bytes):
            frame = frame.decode("utf-8", "replace")
        obj: dict[str, Any] = {"t_ns": t_ns, "venue": venue, "symbol": symbol, "frame": frame, "conn": conn}
        if snapshot:
            obj["snapshot"] = True
        self._put(obj)

    def event(self, t_ns: int, venue: str, conn: int, event: str, mode: str = "") -> None:
        obj: dict[str, Any] = {"t_ns": t_ns, "venue": venue, "symbol": "", "frame": None, "conn": conn, "event": event}
        if mode:
            obj["mode"] = mode
        self._put(obj)

    def flush(self) -> None:
        if self._fh is not None and self._buf:
            self._fh.write(b"\n".join(self._buf).decode() + "\n")
            self._buf.clear()
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
