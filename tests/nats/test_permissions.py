"""The least-privilege permissions of docs/nats.md, on a private server: each role works with its own
rights, and a viewer cannot publish samples."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from harness import RunningCollector, running, shard_settings
from natsenv import PrivateNats, wait_for

from lcm_tui.core.model import MetricSample, StreamStatus
from lcm_tui.runtime.bus.connect import NatsOptions, connect
from lcm_tui.runtime.bus.consume import RecordConsumer
from lcm_tui.runtime.bus.run import open_remote
from lcm_tui.runtime.bus.subjects import Names


class Sink:
    """Records what the consumer hands over; commits at once."""

    def __init__(self) -> None:
        self.samples: list[tuple[str, str, int]] = []

    def on_sample(self, sample: MetricSample, state: object = None) -> None:
        self.samples.append((sample.venue, sample.symbol, sample.ts_ns))

    def on_alert(self, alert: object, run_id: str | None = None) -> None:
        pass

    def on_event(self, ev: object, event_id: str | None = None) -> None:
        pass

    async def flush(self, timeout: float | None = None) -> None:
        pass


DOC = Path(__file__).resolve().parents[2] / "docs" / "nats.md"


def _authorization_block() -> str:
    """The ``authorization { ... }`` block of docs/nats.md, with each ``$ROLE_PASS`` replaced by a password."""
    text = DOC.read_text()
    start = text.index("authorization {")
    end = text.index("```", start)
    block = text[start:end]
    return re.sub(r"\$([A-Z]+)_PASS", lambda m: f'"{m.group(1).lower()}-pw"', block)


async def test_documented_permissions_let_each_role_work_and_nothing_more(tmp_path: Path) -> None:
    srv = PrivateNats(tmp_path, config=_authorization_block())
    try:
        srv.start()
    except RuntimeError:
        pytest.fail("nats-server refused the authorization block of docs/nats.md", pytrace=False)
    try:
        col_opts = NatsOptions(url=srv.url, prefix="lcm", user="collector", password="collector-pw")
        view_opts = NatsOptions(url=srv.url, prefix="lcm", user="viewer", password="viewer-pw")
        rc = RunningCollector(shard_settings(["okx"]), col_opts, "perm-col")
        async with running(rc) as col, open_remote(shard_settings(["okx"]), view_opts) as view:
            await wait_for(lambda: col.outbox.sent > 10 and not col.outbox.retried, 20)
            await wait_for(lambda: len(view.states) == 2 and all(
                sv.status is StreamStatus.LIVE for sv in view.streams()), 20)
            await wait_for(lambda: view.samples > 0, 10)  # its own consumer on the samples stream
            view.watch("okx", "BTC-USDT")
            await wait_for(lambda: ("okx", "BTC-USDT") in view.books, 10)
        # The recorder reads every sample through its own durable consumer.
        rec_opts = NatsOptions(url=srv.url, prefix="lcm", user="recorder", password="recorder-pw")
        sink = Sink()
        rnc = await connect(rec_opts, name="recorder")
        try:
            consumer = RecordConsumer(rnc, Names("lcm"), sink, ack_wait_s=5.0)
            stop = asyncio.Event()
            task = asyncio.create_task(consumer.run(stop))
            await wait_for(lambda: len(sink.samples) >= col.samples_published, 20)
            stop.set()
            await asyncio.wait_for(task, 10)
        finally:
            await rnc.close()
        assert len(set(sink.samples)) == col.samples_published and consumer.acked["sample"] == col.samples_published
        # A viewer may not publish into the samples stream.
        errors: list[Exception] = []

        async def err(e: Exception) -> None:
            errors.append(e)
        nc = await connect(view_opts, name="intruder", error_cb=err)
        try:
            await nc.publish("lcm.v1.sample.okx.BTC-USDT", b"forged")
            await nc.flush()
            await asyncio.sleep(0.5)
        finally:
            await nc.close()
        assert any("permissions violation" in str(e).lower() for e in errors)
    finally:
        srv.stop()
