"""A NATS server that restarts under a running collector and viewer (a private ``nats-server -js`` on a
free port, with its store in the test's temp dir: the machine's server is never touched)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

from harness import RunningCollector, running, shard_settings
from natsenv import NATS_SERVER, PrivateNats, _need, wait_for

from lcm_tui.core.model import MetricSample, StreamStatus
from lcm_tui.runtime.bus import codec
from lcm_tui.runtime.bus.connect import BusError, NatsOptions, connect
from lcm_tui.runtime.bus.run import open_remote
from lcm_tui.runtime.bus.subjects import Names


async def test_nats_restart_loses_and_duplicates_no_sample(private_nats: PrivateNats) -> None:
    opts = NatsOptions(url=private_nats.url, prefix="restart")
    rc = RunningCollector(shard_settings(["coinbase"]), opts, "col-r")
    async with running(rc) as col, open_remote(shard_settings(["coinbase"]), replace(opts)) as view:
        await wait_for(lambda: col.samples_published >= 10, 20)
        await wait_for(lambda: len(view.states) == 2, 10)
        private_nats.stop()
        during = col.samples_published
        await wait_for(lambda: col.samples_published >= during + 8, 20)  # the sample clock never waits for NATS
        assert col.outbox.queue  # ...while what it produced waits in the outbox
        private_nats.start()
        await wait_for(lambda: col.samples_published >= during + 15, 20)
        # The viewer reconnects and follows again: fresh samples arrive after the restart.
        key = ("coinbase", "BTC-USDT")
        last = col.monitor.latest[key].ts_ns
        await wait_for(lambda: (view.latest(*key) or MetricSample("", "", 0, None, None, None, None)).ts_ns > last,
                       20)
        assert view.stream(*key).status is StreamStatus.LIVE  # type: ignore[union-attr]
    published = col.samples_published
    assert not col.outbox.queue and col.outbox.dropped == 0
    nc = await connect(opts, name="check")
    try:
        js = nc.jetstream()
        names = Names("restart")
        n = (await js.stream_info(names.stream("sample"))).state.messages
        sub = await js.subscribe(names.all("sample"), ordered_consumer=True, stream=names.stream("sample"))
        keys = []
        for _ in range(n):
            s = codec.decode((await sub.next_msg(timeout=5)).data, MetricSample)
            keys.append((s.venue, s.symbol, s.ts_ns))
        assert len(keys) == len(set(keys)) == published  # every sample once: none lost, none twice
    finally:
        await nc.close()


async def test_a_wrong_password_is_one_line_without_the_password(tmp_path: Path) -> None:
    _need(f"no nats-server binary at {NATS_SERVER}", None if os.path.exists(NATS_SERVER) else "not found")
    srv = PrivateNats(tmp_path, config='authorization { user: "collector", password: "right-horse" }\n')
    srv.start()
    try:
        secret = "Tr0ub4dor-and-3"
        for opts in (NatsOptions(url=srv.url, user="collector", password=secret),
                     NatsOptions(url=srv.url.replace("nats://", f"nats://collector:{secret}@"))):
            try:
                nc = await connect(opts, name="t")
            except BusError as e:
                text = str(e)
            else:  # pragma: no cover - the server must refuse
                await nc.close()
                raise AssertionError("a wrong password was accepted")
            assert secret not in text and "\n" not in text
            assert "authorization" in text.lower()
        ok = await connect(NatsOptions(url=srv.url, user="collector", password="right-horse"), name="t")
        await ok.close()
    finally:
        srv.stop()
