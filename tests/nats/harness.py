"""Collectors and viewers run in-process exactly as ``lcm-tui collect`` / ``attach`` run them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from lcm_tui.config import Settings, load_settings
from lcm_tui.core.model import Alert, MetricSample, Severity
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.collector import Collector
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.run import collect
from lcm_tui.runtime.bus.subjects import Names

SAMPLE_S = 0.2  # a fast sample clock keeps the suite short; nothing depends on its value


def shard_settings(venues: list[str], *, sample_s: float = SAMPLE_S, seed: int = 7) -> Settings:
    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name in venues
    s.metrics.sample_interval_s = sample_s
    s.demo.seed = seed
    return s


@dataclass
class RunningCollector:
    settings: Settings
    opts: NatsOptions
    collector_id: str
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[int] | None = None
    col: Collector | None = None
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> Collector:
        self.stop = asyncio.Event()
        self.ready = asyncio.Event()

        def on_ready(c: Collector) -> None:
            self.col = c
            self.ready.set()

        self.task = asyncio.create_task(collect(self.settings, self.opts, demo=True, collector_id=self.collector_id,
                                                stop=self.stop, on_ready=on_ready, demo_fault_rate=0.0,
                                                demo_step_interval_s=0.05))
        done, _ = await asyncio.wait({self.task, asyncio.create_task(self.ready.wait())}, timeout=20,
                                     return_when=asyncio.FIRST_COMPLETED)
        if self.task in done:
            raise AssertionError(f"collector exited early: {self.task.result()}")
        assert self.col is not None
        return self.col

    async def halt(self) -> int:
        self.stop.set()
        assert self.task is not None
        return await asyncio.wait_for(self.task, 20)


@contextlib.asynccontextmanager
async def running(rc: RunningCollector) -> AsyncIterator[Collector]:
    col = await rc.start()
    try:
        yield col
    finally:
        if rc.task is not None and not rc.task.done():
            await rc.halt()


_RANK = {str(s): i for i, s in enumerate(Severity)}

SampleKey = tuple[str, str, int]
AlertKey = tuple[str, str, str, int]


@dataclass
class Published:
    """What the streams hold: the reference the tables are compared with."""

    samples: dict[int, SampleKey] = field(default_factory=dict)  # stream sequence -> natural key
    events: set[str] = field(default_factory=set)
    alerts: dict[AlertKey, tuple[int | None, str, float | None]] = field(default_factory=dict)  # merged state
    alert_messages: int = 0


def _merge(old: tuple[int | None, str, float | None] | None, a: Alert) -> tuple[int | None, str, float | None]:
    """The state the tables must end with: first close, highest severity, largest |peak_z| (order-free)."""
    if old is None:
        return a.closed_ns, str(a.severity), a.peak_z
    closed, sev, peak = old
    if closed is None:
        closed = a.closed_ns
    if _RANK[str(a.severity)] > _RANK[sev]:
        sev = str(a.severity)
    if a.peak_z is not None and (peak is None or abs(a.peak_z) > abs(peak)):
        peak = a.peak_z
    return closed, sev, peak


async def read_streams(opts: NatsOptions) -> Published:
    """Everything the sample, alert and event streams hold, read back: what the tables must hold."""
    nc = await connect(opts, name="reference")
    names = Names(opts.prefix)
    out = Published()
    try:
        js = nc.jetstream()
        for kind in ("sample", "alert", "event"):
            n = (await js.stream_info(names.stream(kind))).state.messages
            sub = await js.subscribe(names.all(kind), ordered_consumer=True, stream=names.stream(kind))
            for _ in range(n):
                m = await sub.next_msg(timeout=5)
                if kind == "sample":
                    s = codec.decode(m.data, MetricSample)
                    out.samples[m.metadata.sequence.stream] = (s.venue, s.symbol, s.ts_ns)
                elif kind == "alert":
                    a = codec.decode(m.data, codec.AlertMsg).alert
                    key = (a.venue, a.symbol, a.signal, a.opened_ns)
                    out.alerts[key] = _merge(out.alerts.get(key), a)
                    out.alert_messages += 1
                else:
                    out.events.add(codec.decode(m.data, codec.EventMsg).id)
            await sub.unsubscribe()
    finally:
        await nc.close()
    return out
