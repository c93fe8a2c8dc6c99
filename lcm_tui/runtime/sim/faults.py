"""Faults the simulator can inject, scheduled by tests or sprinkled at a low random rate in the demo.

Frame-level faults hit the next step frame(s) of one symbol on one connection; connection-level
faults hit every stream connection of a venue; ``reset_sequence`` asks the venue handler to restart
its sequence. A fault the venue cannot express (a checksum on a venue without one) is skipped and
stays scheduled, so a test never passes because its fault silently did nothing: it can assert
``plan.pending()`` is empty and read ``plan.fired``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable
from dataclasses import dataclass, field


class FaultKind(enum.StrEnum):
    DROP = "drop"  # the frame is never sent: a sequence gap
    CORRUPT_CHECKSUM = "corrupt_checksum"
    MALFORMED = "malformed"  # replaced by text that is not valid JSON
    TRUNCATED = "truncated"  # cut in half, as a broken proxy would
    DISCONNECT = "disconnect"  # TCP-level close without a close frame
    STALL = "stall"  # the connection goes silent for duration_s (frames held, then released)
    SERVER_SHUTDOWN = "server_shutdown"  # venue notice, then a close shortly after
    RESET_SEQUENCE = "reset_sequence"


FRAME_FAULTS = frozenset({FaultKind.DROP, FaultKind.CORRUPT_CHECKSUM, FaultKind.MALFORMED, FaultKind.TRUNCATED})
CONN_FAULTS = frozenset({FaultKind.DISCONNECT, FaultKind.STALL, FaultKind.SERVER_SHUTDOWN})


@dataclass(slots=True)
class Fault:
    kind: FaultKind
    venue: str
    symbol: str | None = None  # None: any symbol of the venue
    count: int = 1  # frames (frame faults) or occurrences (the others)
    duration_s: float = 1.0  # STALL only

    def matches(self, venue: str, symbol: str | None) -> bool:
        return self.venue == venue and (self.symbol is None or symbol is None or self.symbol == symbol)


@dataclass(slots=True)
class FaultPlan:
    """Scheduled faults plus an optional random background rate (demo mode)."""

    scheduled: list[Fault] = field(default_factory=list)
    fired: list[tuple[FaultKind, str, str | None]] = field(default_factory=list)
    random_rate: float = 0.0  # probability per step and venue of one random fault
    random_kinds: tuple[FaultKind, ...] = (FaultKind.DROP, FaultKind.MALFORMED, FaultKind.DISCONNECT)
    rng: random.Random = field(default_factory=lambda: random.Random(0))

    def schedule(self, kind: FaultKind | str, venue: str, symbol: str | None = None, count: int = 1,
                 duration_s: float = 1.0) -> Fault:
        f = Fault(FaultKind(kind), venue, symbol, count, duration_s)
        self.scheduled.append(f)
        return f

    def pending(self) -> list[Fault]:
        return [f for f in self.scheduled if f.count > 0]

    def roll(self, venue: str, symbol: str) -> None:
        """Demo mode: maybe schedule one random fault for this venue+symbol."""
        if self.random_rate and self.rng.random() < self.random_rate:
            self.schedule(self.rng.choice(self.random_kinds), venue, symbol)

    def peek(self, kinds: frozenset[FaultKind] | set[FaultKind], venue: str, symbol: str | None) -> Fault | None:
        for f in self.scheduled:
            if f.count > 0 and f.kind in kinds and f.matches(venue, symbol):
                return f
        return None

    def consume(self, f: Fault, symbol: str | None) -> None:
        f.count -= 1
        self.fired.append((f.kind, f.venue, symbol))
        if f.count <= 0:
            self.scheduled.remove(f)

    def apply_to_frames(self, venue: str, symbol: str, frames: list[str],
                        corrupt_checksum: Callable[[str], str | None]) -> list[str]:
        """One subscriber's frames for a market step, with the due frame faults applied.

        A corrupt-checksum fault waits for a frame that carries a checksum (``corrupt_checksum``
        returns None for the others), so it stays pending on venues without one.
        """
        out = []
        for fr in frames:
            f = self.peek(FRAME_FAULTS, venue, symbol)
            if f is None:
                out.append(fr)
                continue
            if f.kind is FaultKind.MALFORMED:
                out.append(MALFORMED_FRAME)
            elif f.kind is FaultKind.TRUNCATED:
                out.append(fr[: len(fr) // 2])
            elif f.kind is FaultKind.CORRUPT_CHECKSUM:
                bad = corrupt_checksum(fr)
                if bad is None:
                    out.append(fr)
                    continue
                out.append(bad)
            # DROP: the frame is not sent.
            self.consume(f, symbol)
        return out


MALFORMED_FRAME = '{"oops": [1, 2,'
