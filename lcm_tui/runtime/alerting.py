"""Alert routing: webhooks (POST JSON) and a command hook, from the local app and from collectors.

Every alert change (open, escalate: its peak z or severity rose, close) is offered to each route.
A route takes it when the alert passes its filters (at least ``min_severity``; venue and symbol in its
lists when they are not empty) and its rate limit: at most one notification per alert key
(venue, symbol, signal) per ``rate_limit_s``, except that a close always goes to a route that sent the
open (a desk must learn that what it was paged for is over). A notification is never sent from the
sample clock: listeners only queue it, one task delivers.

Webhooks retry on network errors, 5xx and 429 with the project's one backoff (``core.retry``), up to
``retries`` times; another 4xx is the receiver refusing the payload, not retried. The command runs
with the JSON on stdin (``shlex`` split, no shell) and a timeout. URLs carry secrets (a token in the
query, a Slack-style key in the path, ``user:pass@``): logs and errors show :func:`redact_url` only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import orjson

from lcm_tui.core.model import Alert, AlertChange, Severity
from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff
from lcm_tui.core.settings import AlertsConfig

log = logging.getLogger("lcm_tui.runtime.alerting")

_RANK = {str(s): i for i, s in enumerate(Severity)}
_TOKENISH = re.compile(r"^[A-Za-z0-9_\-]{16,}$")
COMMAND_TIMEOUT_S = 10.0


def redact_url(url: str) -> str:
    """The URL with its secrets replaced by ``***``: user info, every query value, token-like path segments.

    A path segment of 16 or more letters, digits, ``_`` or ``-`` is taken for a key (Slack's
    ``/services/T000/B000/XXXX``, Discord's ``/api/webhooks/ID/TOKEN``); shorter words stay readable.
    """
    try:
        p = urlsplit(url)
        host = p.hostname or ""
        port = p.port
    except ValueError:
        return "<unparseable url>"
    if port:
        host = f"{host}:{port}"
    if p.username is not None or p.password is not None:
        host = f"***@{host}"
    path = "/".join("***" if _TOKENISH.match(seg) else seg for seg in p.path.split("/"))
    query = urlencode([(k, "***") for k, _ in parse_qsl(p.query, keep_blank_values=True)], safe="*")
    return urlunsplit((p.scheme, host, path, query, ""))


def alert_payload(action: str, a: Alert, source: str) -> dict[str, Any]:
    """The JSON a webhook and the command receive (docs/nats.md "Alert notifications")."""
    text = (f"{str(a.severity).upper()} {a.signal} crunch {action} on {a.venue} {a.symbol}: "
            f"peak z {a.peak_z:.2f}")
    return {"action": action, "venue": a.venue, "symbol": a.symbol, "signal": a.signal,
            "severity": str(a.severity), "peak_z": a.peak_z, "opened_ns": a.opened_ns, "closed_ns": a.closed_ns,
            "source": source, "text": text}


@dataclass(slots=True)
class Route:
    """One destination with its filters and its per-key rate limit."""

    name: str  # what logs show: a redacted URL or the command's program
    min_severity: str = "warning"
    venues: Sequence[str] = ()
    symbols: Sequence[str] = ()
    last_sent: dict[tuple[str, str, str], float] = field(default_factory=dict)
    opened: set[tuple[str, str, str, int]] = field(default_factory=set)  # alerts whose open this route sent

    def passes(self, a: Alert) -> bool:
        return (_RANK.get(str(a.severity), 0) >= _RANK.get(self.min_severity, 0)
                and (not self.venues or a.venue in self.venues) and (not self.symbols or a.symbol in self.symbols))


@dataclass(slots=True)
class Webhook(Route):
    url: str = ""
    timeout_s: float = 5.0


@dataclass(slots=True)
class CommandHook(Route):
    argv: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Stats:
    sent: int = 0
    failed: int = 0  # given up after the retries, or refused
    suppressed: int = 0  # rate limit
    filtered: int = 0
    retries: int = 0


class AlertRouter:
    """A monitor listener (``on_alert_change``: the core reports each open, escalation and close once);
    ``start()`` / ``close()`` its sender."""

    def __init__(self, cfg: AlertsConfig, *, source: str = "lcm-tui", client: Any = None,
                 clock: Callable[[], float] = time.monotonic, backoff_min_s: float = 0.5,
                 backoff_max_s: float = 30.0, sleep: Callable[[float], Any] = asyncio.sleep,
                 rand: Callable[[], float] | None = None) -> None:
        self.cfg = cfg
        self.source = source
        self.clock = clock
        self.sleep = sleep
        self.stats = Stats()
        self.routes: list[Route] = [
            Webhook(redact_url(w.url), w.min_severity, list(w.venues), list(w.symbols), url=w.url,
                    timeout_s=w.timeout_s) for w in cfg.webhooks]
        if cfg.command:
            argv = shlex.split(cfg.command)
            self.routes.append(CommandHook(argv[0] if argv else "", cfg.min_severity, list(cfg.venues),
                                           list(cfg.symbols), argv=argv))
        self._client = client
        self._own_client = client is None
        self._queue: asyncio.Queue[tuple[Route, dict[str, Any]]] = asyncio.Queue(maxsize=10_000)
        self._task: asyncio.Task[None] | None = None
        self._bmin, self._bmax = backoff_min_s, backoff_max_s
        self._rand = rand  # the backoff's jitter source (tests make it deterministic)
        self._ratelog = RateLimitedLog(log, every=30.0)

    @property
    def enabled(self) -> bool:
        return bool(self.routes)

    async def start(self) -> None:
        if self._client is None and any(isinstance(r, Webhook) for r in self.routes):
            import httpx

            self._client = httpx.AsyncClient(follow_redirects=False)
        self._task = asyncio.create_task(self._run(), name="alert-router")

    async def close(self, timeout: float = 5.0) -> None:
        """Deliver what is queued (up to ``timeout``), then stop."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._queue.join()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._own_client and self._client is not None:
            await self._client.aclose()

    async def drain(self) -> None:
        await self._queue.join()

    # ---- monitor listener ------------------------------------------------------------------
    def on_alert_change(self, change: AlertChange) -> None:
        self.offer(str(change.action), change.alert)

    def on_alert(self, alert: Alert) -> None:
        """An open or a close, by the alert's state: for a caller that has no :class:`AlertChange`."""
        self.offer("open" if alert.closed_ns is None else "close", alert)

    def offer(self, action: str, a: Alert) -> None:
        """Queue ``action`` of ``a`` for every route that takes it (filters, then the rate limit)."""
        now = self.clock()
        rkey = (a.venue, a.symbol, a.signal)
        akey = (a.venue, a.symbol, a.signal, a.opened_ns)
        payload = alert_payload(action, a, self.source)
        for r in self.routes:
            if action == "close":
                if akey not in r.opened:
                    self.stats.filtered += 1
                    continue
                r.opened.discard(akey)
            else:
                if not r.passes(a):
                    self.stats.filtered += 1
                    continue
                last = r.last_sent.get(rkey)
                if last is not None and now - last < self.cfg.rate_limit_s:
                    self.stats.suppressed += 1
                    continue
                if action == "open":
                    r.opened.add(akey)
            r.last_sent[rkey] = now
            try:
                self._queue.put_nowait((r, payload))
            except asyncio.QueueFull:
                self.stats.failed += 1
                self._ratelog.warn("full", "alerts: queue full, dropping a notification to %s", r.name)

    # ---- delivery ----------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            route, payload = await self._queue.get()
            try:
                if isinstance(route, Webhook):
                    ok = await self._post(route, payload)
                elif isinstance(route, CommandHook):
                    ok = await self._command(route, payload)
                else:
                    ok = False
                if ok:
                    self.stats.sent += 1
                else:
                    self.stats.failed += 1
            except Exception as e:  # a bug in a route must not stop the others
                self.stats.failed += 1
                self._ratelog.warn("route", "alerts: %s failed: %s", route.name, type(e).__name__)
            finally:
                self._queue.task_done()

    async def _post(self, hook: Webhook, payload: dict[str, Any]) -> bool:
        import httpx

        backoff = Backoff(self._bmin, self._bmax, rand=self._rand)
        body = orjson.dumps(payload)
        for attempt in range(self.cfg.retries + 1):
            why: str
            try:
                resp = await self._client.post(hook.url, content=body, timeout=hook.timeout_s,
                                               headers={"content-type": "application/json"})
                if 200 <= resp.status_code < 300:
                    return True
                why = f"HTTP {resp.status_code}"
                if 400 <= resp.status_code < 500 and resp.status_code != 429:
                    self._ratelog.warn(hook.name, "alerts: webhook %s refused the alert: %s", hook.name, why)
                    return False
            except httpx.HTTPError as e:
                why = type(e).__name__  # the exception text may quote the URL: never shown
            if attempt < self.cfg.retries:
                self.stats.retries += 1
                await self.sleep(backoff.next())
        self._ratelog.warn(hook.name, "alerts: webhook %s failed after %d attempts: %s", hook.name,
                           self.cfg.retries + 1, why)
        return False

    async def _command(self, hook: CommandHook, payload: dict[str, Any]) -> bool:
        if not hook.argv:
            return False
        try:
            proc = await asyncio.create_subprocess_exec(*hook.argv, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
        except OSError as e:
            self._ratelog.warn(hook.name, "alerts: cannot run %s: %s", hook.name, e.strerror or e)
            return False
        try:
            async with asyncio.timeout(COMMAND_TIMEOUT_S):
                await proc.communicate(orjson.dumps(payload) + b"\n")
        except TimeoutError:
            proc.kill()
            await proc.wait()
            self._ratelog.warn(hook.name, "alerts: %s took over %.0fs: killed", hook.name, COMMAND_TIMEOUT_S)
            return False
        if proc.returncode != 0:
            self._ratelog.warn(hook.name, "alerts: %s exited %s", hook.name, proc.returncode)
            return False
        return True
