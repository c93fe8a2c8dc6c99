"""``lcm-tui attach [nats://HOST:4222]``: the TUI (or ``--headless`` JSON lines) over collectors on NATS.

The frontends read a :class:`~lcm_tui.core.view.MarketView` and nothing else, so the app and the
headless printer are the local ones, handed a ``RemoteMarketView`` instead of the engine's view. The
viewer's own sample clock runs the market-wide detector across shards (``RemoteMarketView.sample``).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from lcm_tui.config import Settings
from lcm_tui.frontends import jsonout
from lcm_tui.runtime.bus.connect import BusError, NatsOptions
from lcm_tui.runtime.bus.remote import RemoteMarketView
from lcm_tui.runtime.bus.run import install_stop, open_remote
from lcm_tui.runtime.engine import run_every


def run_attach(settings: Settings, opts: NatsOptions, *, headless: bool, down_after_s: float = 3.0) -> int:
    return asyncio.run(_main(settings, opts, headless, down_after_s))


async def _main(settings: Settings, opts: NatsOptions, headless: bool, down_after_s: float) -> int:
    try:
        async with open_remote(settings, opts, down_after_s=down_after_s) as view:
            exporter = None
            if settings.prometheus.port:
                from lcm_tui.runtime.prometheus import Exporter

                exporter = Exporter(view, settings.prometheus.port, settings.prometheus.host)
                try:
                    await exporter.start()
                except OSError as e:
                    print(f"lcm-tui: {e}", file=sys.stderr)
                    return 2
            if headless:
                await _headless(settings, view)
            else:
                await _tui(settings, view)
            if exporter is not None:
                await exporter.close()
    except BusError as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    return 0


async def _headless(settings: Settings, view: RemoteMarketView) -> None:
    stop = asyncio.Event()
    lines = jsonout.HeadlessLines(view)  # the local --headless lines: the market, then alert changes

    def tick() -> bool:
        t_ns = time.time_ns()
        view.sample(t_ns)
        return not jsonout.write(None, lines.encode(t_ns))  # True (stop) once the reader went away

    with install_stop(stop):
        await run_every(settings.metrics.sample_interval_s, stop, tick)


async def _tui(settings: Settings, view: RemoteMarketView) -> None:
    from lcm_tui.frontends.tui.app import LcmApp
    from lcm_tui.frontends.tui.lifecycle import run_with_exit_signals

    app = LcmApp(settings, view, sample=view.sample, freeze_gc=True)
    await run_with_exit_signals(app)


def run_record_from(settings: Settings, opts: NatsOptions, *, durable: str, ack_wait_s: float = 30.0) -> int:
    """``lcm-tui record --from nats://...``: the PostgreSQL recorder fed by a durable JetStream consumer."""
    return asyncio.run(_record(settings, opts, durable, ack_wait_s))


async def _record(settings: Settings, opts: NatsOptions, durable: str, ack_wait_s: float) -> int:
    from lcm_tui.record import Recorder, RecorderError
    from lcm_tui.runtime.bus.connect import connect
    from lcm_tui.runtime.bus.consume import RecordConsumer
    from lcm_tui.runtime.bus.subjects import Names, SubjectError

    try:
        names = Names(opts.prefix)
        nc = await connect(opts, name="lcm-tui record")
    except (BusError, SubjectError) as e:
        print(f"lcm-tui: {e}", file=sys.stderr)
        return 2
    rec = Recorder(settings.recorder)
    try:
        try:
            await rec.start()
        except RecorderError as e:
            print(f"lcm-tui: {e}", file=sys.stderr)
            return 2
        stop = asyncio.Event()
        with install_stop(stop):
            consumer = RecordConsumer(nc, names, rec, durable=durable, ack_wait_s=ack_wait_s)
            exporter = None
            if settings.prometheus.port:  # the recorder's status and what it acknowledged; it holds no streams
                from lcm_tui.runtime.bus.remote import RemoteMarketView
                from lcm_tui.runtime.prometheus import Exporter

                acked = consumer.acked
                exporter = Exporter(RemoteMarketView(settings, nc, names), settings.prometheus.port,
                                    settings.prometheus.host, recorder=rec.status,
                                    extra=lambda: {f"bus_acked_{k}s": float(v) for k, v in acked.items()})
                try:
                    await exporter.start()
                except OSError as e:
                    print(f"lcm-tui: {e}", file=sys.stderr)
                    return 2
            task = asyncio.create_task(consumer.run(stop))
            status = asyncio.create_task(_status_lines(rec, stop))
            await stop.wait()
            await task
            status.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await status
            if exporter is not None:
                await exporter.close()
    finally:
        await rec.close()
        with contextlib.suppress(Exception):
            await nc.close()
    return 0


async def _status_lines(rec: object, stop: asyncio.Event, every_s: float = 10.0) -> None:
    describe = getattr(rec, "describe", None)
    while not stop.is_set() and describe is not None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(every_s):
                await stop.wait()
        print(f"recorder: {describe()}", file=sys.stderr, flush=True)
