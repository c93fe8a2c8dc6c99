"""Alert routing against a local HTTP server of the test's own (no internet): payload, retries, rate
limit, filters, close after open, the command hook, and secrets never shown."""

from __future__ import annotations

import asyncio
import logging
import random
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from lcm_tui.core.model import Alert, AlertAction, AlertChange, Severity
from lcm_tui.core.settings import AlertsConfig, WebhookConfig
from lcm_tui.runtime.alerting import AlertRouter, redact_url


class Receiver:
    """A minimal HTTP/1.1 server: records each POST and answers with the next scripted status."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = (await reader.readline()).decode()
        headers: dict[str, str] = {}
        while True:
            h = (await reader.readline()).decode().strip()
            if not h:
                break
            k, _, v = h.partition(":")
            headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.requests.append((line.split(" ")[1], headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        writer.write(f"HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
        await writer.drain()
        writer.close()

    async def __aenter__(self) -> Receiver:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def alert(venue: str = "binance", symbol: str = "BTCUSDT", signal: str = "depth", opened: int = 1_000,
          sev: Severity = Severity.WARNING, z: float = -3.4) -> Alert:
    return Alert(venue, symbol, signal, opened, z, sev)


async def _router(cfg: AlertsConfig, clock: Clock | None = None) -> tuple[AlertRouter, list[float]]:
    slept: list[float] = []

    async def sleep(d: float) -> None:
        slept.append(d)

    r = AlertRouter(cfg, source="test-host", clock=clock or Clock(), backoff_min_s=0.5, backoff_max_s=4.0,
                    sleep=sleep, rand=random.Random(3).random)
    await r.start()
    return r, slept


async def test_an_open_alert_is_posted_as_json(receiver: Receiver) -> None:
    r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=receiver.url())]))
    a = alert(sev=Severity.HIGH, z=-4.25)
    r.on_alert(a)
    await r.drain()
    await r.close()
    assert len(receiver.requests) == 1
    path, headers, body = receiver.requests[0]
    assert path == "/hook" and headers["content-type"] == "application/json"
    got = orjson.loads(body)
    assert got == {"action": "open", "venue": "binance", "symbol": "BTCUSDT", "signal": "depth", "severity": "high",
                   "peak_z": -4.25, "opened_ns": 1000, "closed_ns": None, "source": "test-host",
                   "text": "HIGH depth crunch open on binance BTCUSDT: peak z -4.25"}


async def test_5xx_and_429_are_retried_with_the_backoff_4xx_is_not() -> None:
    async with Receiver([500, 429, 503, 200]) as rx:
        r, slept = await _router(AlertsConfig(webhooks=[WebhookConfig(url=rx.url())], retries=5))
        r.on_alert(alert())
        await r.drain()
        assert len(rx.requests) == 4 and r.stats.sent == 1 and r.stats.retries == 3
        # core.retry with min 0.5 / max 4, jitter 0.5: delay n within [min, min(max, min * 2**n + min * 0.5)],
        # and growing: the third wait is longer than the first.
        assert len(slept) == 3
        for n, d in enumerate(slept):
            assert 0.5 <= d <= min(4.0, 0.5 * 2**n + 0.25)
        assert slept[2] > slept[0]
        await r.close()
    async with Receiver([400]) as rx:
        r, slept = await _router(AlertsConfig(webhooks=[WebhookConfig(url=rx.url())], retries=5))
        r.on_alert(alert())
        await r.drain()
        await r.close()
        assert len(rx.requests) == 1 and r.stats.failed == 1 and not slept


async def test_retries_are_bounded() -> None:
    async with Receiver([500] * 10) as rx:
        r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=rx.url())], retries=2))
        r.on_alert(alert())
        await r.drain()
        await r.close()
        assert len(rx.requests) == 3 and r.stats.failed == 1


async def test_one_notification_per_alert_key_per_rate_limit_window(receiver: Receiver) -> None:
    clock = Clock()
    r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=receiver.url())], rate_limit_s=60), clock)
    r.on_alert(alert(opened=1))
    r.on_alert(alert(opened=2))  # same venue/symbol/signal, 0 s later: suppressed
    r.on_alert(alert(signal="spread", opened=3))  # another key: sent
    clock.t += 61
    r.on_alert(alert(opened=4))  # the window has passed: sent
    await r.drain()
    await r.close()
    sent = [(orjson.loads(b)["signal"], orjson.loads(b)["opened_ns"]) for _, _, b in receiver.requests]
    assert sent == [("depth", 1), ("spread", 3), ("depth", 4)]
    assert r.stats.suppressed == 1


async def test_filters_by_severity_venue_and_symbol(receiver: Receiver) -> None:
    cfg = AlertsConfig(webhooks=[
        WebhookConfig(url=receiver.url("/high"), min_severity="high"),
        WebhookConfig(url=receiver.url("/okx"), venues=["okx"]),
        WebhookConfig(url=receiver.url("/eth"), symbols=["ETHUSDT"]),
    ], rate_limit_s=0)
    r, _ = await _router(cfg)
    r.on_alert(alert("binance", "BTCUSDT", sev=Severity.WARNING, opened=1))
    r.on_alert(alert("okx", "BTC-USDT", sev=Severity.CRITICAL, opened=2))
    r.on_alert(alert("binance", "ETHUSDT", sev=Severity.HIGH, opened=3))
    await r.drain()
    await r.close()
    got = sorted((p, orjson.loads(b)["opened_ns"]) for p, _, b in receiver.requests)
    assert got == [("/eth", 3), ("/high", 2), ("/high", 3), ("/okx", 2)]


async def test_escalation_and_close_follow_an_open_that_was_sent(receiver: Receiver) -> None:
    r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=receiver.url(), min_severity="high")],
                                      rate_limit_s=0))
    quiet = alert(signal="spread", opened=5, sev=Severity.WARNING)
    r.on_alert(quiet)  # filtered: its close must not be sent either
    a = alert(opened=7, sev=Severity.HIGH, z=-4.1)
    r.on_alert(a)
    a.peak_z, a.severity = -5.6, Severity.CRITICAL  # the detector escalates it, and the monitor says so
    r.on_alert_change(AlertChange(AlertAction.ESCALATE, a))
    a.closed_ns = 9
    quiet.closed_ns = 9
    r.on_alert(a)
    r.on_alert(quiet)
    await r.drain()
    await r.close()
    got = [(orjson.loads(b)["action"], orjson.loads(b)["severity"]) for _, _, b in receiver.requests]
    assert got == [("open", "high"), ("escalate", "critical"), ("close", "critical")]


async def test_the_command_hook_gets_the_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "got.json"
    script = tmp_path / "hook.py"
    script.write_text(f"import sys; open({str(out)!r}, 'wb').write(sys.stdin.buffer.read())\n")
    r, _ = await _router(AlertsConfig(command=f"{sys.executable} {script}", min_severity="warning"))
    r.on_alert(alert(venue="kraken", symbol="BTC/USD", opened=11))
    await r.drain()
    await r.close()
    got = orjson.loads(out.read_bytes())
    assert (got["action"], got["venue"], got["symbol"], got["opened_ns"]) == ("open", "kraken", "BTC/USD", 11)
    assert r.stats.sent == 1


def test_redact_url_hides_every_secret_form() -> None:
    url = ("https://bot:p4ssw0rd@hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX"
           "?token=s3cr3t-t0k3n&channel=desk")
    red = redact_url(url)
    for secret in ("p4ssw0rd", "bot", "XXXXXXXXXXXXXXXXXXXXXXXX", "s3cr3t-t0k3n"):
        assert secret not in red
    assert red == "https://***@hooks.slack.com/services/T00000000/B00000000/***?token=***&channel=***"


async def test_a_failing_webhook_never_logs_its_secret(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="lcm_tui.runtime.alerting")
    async with Receiver([404]) as rx:
        secret = "abcdefghijklmnopqrstuvwx1234"
        url = f"http://user:pw-{secret}@127.0.0.1:{rx.port}/hook/{secret}?key={secret}"
        r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=url)]))
        r.on_alert(alert())
        await r.drain()
        await r.close()
        assert len(rx.requests) == 1 and r.stats.failed == 1
    text = " ".join(rec.getMessage() for rec in caplog.records)
    assert "HTTP 404" in text and secret not in text and "pw-" not in text
    # ...and an unreachable one neither (the transport error's text may quote the URL).
    caplog.clear()
    url = f"http://127.0.0.1:1/hook/{secret}"
    r, _ = await _router(AlertsConfig(webhooks=[WebhookConfig(url=url)], retries=1))
    r.on_alert(alert())
    await r.drain()
    await r.close()
    text = " ".join(rec.getMessage() for rec in caplog.records)
    assert "failed after 2 attempts" in text and secret not in text


async def test_the_local_engine_routes_its_monitors_alerts(receiver: Receiver) -> None:
    from lcm_tui.config import load_settings
    from lcm_tui.runtime.engine import open_live

    s = load_settings(None)
    for name, vc in s.venues.items():
        vc.enabled = name == "coinbase"
    s.alerts = AlertsConfig(webhooks=[WebhookConfig(url=receiver.url("/local"))])
    async with open_live(s, demo=True, demo_step_interval_s=0) as eng:
        assert eng.router is not None
        a = alert("coinbase", "BTC-USDT", opened=42, sev=Severity.CRITICAL, z=-6.0)
        eng.monitor.report([AlertChange(AlertAction.OPEN, a)])  # what the detector does when it opens one
        await eng.router.drain()
    assert [orjson.loads(b)["opened_ns"] for p, _, b in receiver.requests if p == "/local"] == [42]
