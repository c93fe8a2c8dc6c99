"""The feed connection's transport: what a user relies on, whichever WebSocket client carries it.

Loopback feeds go through picows (``runtime.transport``); a feed that a proxy from the environment
applies to goes through websockets. Both must keep: the proxy (and NO_PROXY), TLS verification,
fragmented messages reassembled, the frame cap counted over a whole message, and the same reasons.
Every server here is on loopback; the proxied URL names 127.0.0.2:9, where nothing listens, so the
feed can only come up through the proxy. The certificate is a throwaway one made with the openssl CLI.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Self

import orjson
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.http11 import USER_AGENT

from lcm_tui.config import default_venue
from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.runner import StreamRunner
from lcm_tui.runtime.transport import FastConnection, proxied
from lcm_tui.venues.registry import adapter_class
from tests.feeds.hostile import GUID, HostileVenue, read_frame

PROXY_VARS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy",
              "NO_PROXY", "no_proxy", "WS_PROXY", "ws_proxy", "WSS_PROXY", "wss_proxy", "SOCKS_PROXY", "socks_proxy")


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in PROXY_VARS:
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class _Server:
    """A loopback server for one test: ``_handle`` serves each connection; closed with its connections."""

    tls: ssl.SSLContext | None = None

    def __init__(self) -> None:
        self.requests: list[bytes] = []  # what the clients sent first, as received
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        for t in self.tasks:
            t.cancel()
        self.server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])


class _Relay(_Server):
    """A loopback server that forwards every connection to ``target_port``.

    ``connect=True``: an HTTP CONNECT proxy (it records the request line and ignores the target it
    names); ``tls``: a TLS terminator in front of the target.
    """

    def __init__(self, target_port: int, *, connect: bool = False, tls: ssl.SSLContext | None = None) -> None:
        super().__init__()
        self.target_port = target_port
        self.connect = connect
        self.tls = tls

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.connect:
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
            up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target_port)
            if self.connect:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            a = asyncio.ensure_future(_pipe(reader, up_w))
            b = asyncio.ensure_future(_pipe(up_r, writer))
            self.tasks |= {a, b}
            await asyncio.gather(a, b, return_exceptions=True)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            writer.close()


@contextlib.asynccontextmanager
async def _venue() -> AsyncIterator[HostileVenue]:
    venue = await HostileVenue("").start()  # a well-behaved Bybit spot venue
    try:
        yield venue
    finally:
        await venue.close()


@contextlib.asynccontextmanager
async def _running(url: str, fast_feeds: Any, **feeds: Any) -> AsyncIterator[StreamRunner]:
    vc = default_venue("bybit-spot")
    vc.ws_url = url
    vc.symbols = ["BTCUSDT"]
    cls = adapter_class("bybit-spot")
    runner = StreamRunner(lambda: cls(vc, ["BTCUSDT"]), fast_feeds(**feeds), seed=2)
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _port(url: str) -> int:
    return int(url.split(":")[2].split("/")[0])


# ------------------------------------------------------------------------------------------ proxies
async def test_a_proxy_from_the_environment_carries_the_feed(no_proxy_env: pytest.MonkeyPatch, fast_feeds: Any,
                                                             wait_until: Any) -> None:
    async with _venue() as venue, _Relay(_port(venue.url), connect=True) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        url = "ws://127.0.0.2:9/v5/public/spot"  # nothing listens there: only the proxy can reach the venue
        assert proxied(url)
        async with _running(url, fast_feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: st.status is StreamStatus.LIVE, 10,
                             f"live through the proxy ({st.status_detail!r})")
            assert proxy.requests[0].startswith(b"CONNECT 127.0.0.2:9 HTTP/1.1\r\n")
            assert runner._link is not None and isinstance(runner._link.ws, ClientConnection)
            assert [tuple(lv) for lv in st.book.bids] == [("100.5", "2")]


async def test_no_proxy_and_loopback_connect_directly(no_proxy_env: pytest.MonkeyPatch, fast_feeds: Any,
                                                      wait_until: Any) -> None:
    async with _venue() as venue, _Relay(_port(venue.url), connect=True) as proxy:
        no_proxy_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        no_proxy_env.setenv("NO_PROXY", "127.0.0.2")
        async with _running("ws://127.0.0.2:9/v5/public/spot", fast_feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: st.status_detail == "connection refused", 10, "refused, not proxied")
        # Loopback by name never goes through the proxy, and is carried by picows.
        assert not proxied(venue.url)
        async with _running(venue.url, fast_feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: st.status is StreamStatus.LIVE, 10, "live on loopback")
            assert runner._link is not None and isinstance(runner._link.ws, FastConnection)
        assert proxy.requests == []


# ---------------------------------------------------------------------------------------------- TLS
async def test_wss_verifies_the_venue(cert: tuple[Path, Path], no_proxy_env: pytest.MonkeyPatch, fast_feeds: Any,
                                      wait_until: Any) -> None:
    crt, key = cert
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)
    no_proxy_env.delenv("SSL_CERT_DIR", raising=False)
    async with _venue() as venue, _Relay(_port(venue.url), tls=ctx) as tls:
        url = f"wss://127.0.0.1:{tls.port}/v5/public/spot"
        no_proxy_env.delenv("SSL_CERT_FILE", raising=False)
        async with _running(url, fast_feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: "TLS certificate verify failed" in st.status_detail, 10,
                             f"refused without the CA ({st.status_detail!r})")
            assert st.status is StreamStatus.DOWN
        no_proxy_env.setenv("SSL_CERT_FILE", str(crt))  # the default trust store now holds our CA
        async with _running(url, fast_feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: st.status is StreamStatus.LIVE, 10, f"live over TLS ({st.status_detail!r})")
            assert runner._link is not None and isinstance(runner._link.ws, FastConnection)


# ------------------------------------------------------------------------- fragments and the frame cap
class _Fragmenting(_Server):
    """A Bybit spot venue that sends its snapshot as one message in ``parts`` fragments of ``size`` bytes
    of padding each (plus the book), then a delta a tick."""

    def __init__(self, parts: int, size: int) -> None:
        super().__init__()
        self.parts, self.size = parts, size

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v5/public/spot"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            self.requests.append(request)
            key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                       if line.lower().startswith(b"sec-websocket-key:"))
            accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
            writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                         b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")
            while True:
                op, data = await read_frame(reader)
                if op == 0x8:
                    writer.write(_raw(0x8, data[:2], fin=True))
                    return
                if op == 0x1 and orjson.loads(data).get("op") == "subscribe":
                    break
            topic = "orderbook.50.BTCUSDT"
            snap = orjson.dumps({"topic": topic, "type": "snapshot", "ts": 1, "pad": "x" * (self.parts * self.size),
                                 "data": {"s": "BTCUSDT", "b": [["100.5", "2"]], "a": [["101.5", "3"]], "u": 7}})
            cut = -(-len(snap) // self.parts)
            pieces = [snap[i:i + cut] for i in range(0, len(snap), cut)]
            for i, piece in enumerate(pieces):
                writer.write(_raw(0x1 if i == 0 else 0x0, piece, fin=i == len(pieces) - 1))
                if i == 0:
                    writer.write(_raw(0x9, b"mid-message ping", fin=True))  # control frames may interleave
            echo = asyncio.ensure_future(self._echo_close(reader, writer))
            self.tasks.add(echo)
            u = 7
            while not echo.done():
                await writer.drain()
                await asyncio.sleep(0.05)
                u += 1
                writer.write(_raw(0x1, orjson.dumps({"topic": topic, "type": "delta", "ts": 1, "data": {
                    "s": "BTCUSDT", "b": [], "a": [], "u": u}}), fin=True))
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.transport.abort()


    @staticmethod
    async def _echo_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Answer the client's close frame as a venue does (then the session ends)."""
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                op, data = await read_frame(reader)
                if op == 0x8:
                    writer.write(_raw(0x8, data[:2], fin=True))
                    await writer.drain()
                    return


def _raw(opcode: int, payload: bytes, *, fin: bool) -> bytes:
    n = len(payload)
    b0 = (0x80 if fin else 0) | opcode
    if n < 126:
        return struct.pack("!BB", b0, n) + payload
    if n < 1 << 16:
        return struct.pack("!BBH", b0, 126, n) + payload
    return struct.pack("!BBQ", b0, 127, n) + payload


@pytest.mark.parametrize("fast", [True, False], ids=["picows", "websockets"])
async def test_a_fragmented_message_is_one_frame_to_the_adapter(fast: bool, fast_feeds: Any, wait_until: Any) -> None:
    async with _Fragmenting(parts=3, size=400) as venue, \
            _running(venue.url, fast_feeds, compression=not fast) as runner:
        st = runner.states["BTCUSDT"]
        await wait_until(lambda: st.status is StreamStatus.LIVE, 10, f"live ({st.status_detail!r})")
        assert [tuple(lv) for lv in st.book.bids] == [("100.5", "2")]
        assert st.counters.malformed == 0 and runner.adapter.unattributed_malformed == 0
        assert runner._link is not None and isinstance(runner._link.ws, FastConnection) is fast
        # Some venues' front ends refuse an upgrade without a User-Agent: both clients send the same one.
        assert f"\r\nUser-Agent: {USER_AGENT}\r\n".encode() in venue.requests[0]


@pytest.mark.parametrize("compression", [False, True])
async def test_feeds_compression_asks_the_venue_for_compressed_frames(compression: bool, fast_feeds: Any,
                                                                      wait_until: Any) -> None:
    """``feeds.compression``: the upgrade offers permessage-deflate (RFC 7692), which picows cannot."""
    async with _Fragmenting(parts=1, size=400) as venue, \
            _running(venue.url, fast_feeds, compression=compression) as runner:
        st = runner.states["BTCUSDT"]
        await wait_until(lambda: st.status is StreamStatus.LIVE, 10, f"live ({st.status_detail!r})")
        assert runner._link is not None and isinstance(runner._link.ws, FastConnection) is not compression
        offered = b"\r\nsec-websocket-extensions: permessage-deflate" in venue.requests[0].lower()
        assert offered is compression


@pytest.mark.parametrize("fast", [True, False], ids=["picows", "websockets"])
async def test_the_frame_cap_counts_the_whole_message(fast: bool, fast_feeds: Any, wait_until: Any) -> None:
    """Three fragments each under the cap, together over it: refused, and the reason says so."""
    async with _Fragmenting(parts=3, size=400) as venue, \
            _running(venue.url, fast_feeds, max_frame_bytes=1000, compression=not fast) as runner:
        st = runner.states["BTCUSDT"]
        reason = "frame over max_frame_bytes (1000 bytes)"
        await wait_until(lambda: reason in st.status_detail, 10, f"{reason!r} shown ({st.status_detail!r})")
        assert st.status is not StreamStatus.LIVE


# ------------------------------------------------------------------------- the same reasons on both
@pytest.mark.parametrize(("misbehave", "reason", "feeds"), [
    ("status:429", "handshake refused: HTTP 429 Too Many Requests (Retry-After 30)", {}),
    ("big:2000000", "frame over max_frame_bytes (1000000 bytes)", {"max_frame_bytes": 1_000_000}),
    ("bad_utf8", "invalid UTF-8 in a text frame", {}),
    ("no_pong", "no pong within 0.2s", {"ping_interval_s": 0.2}),
])
async def test_websockets_gives_the_same_reasons(misbehave: str, reason: str, feeds: dict[str, Any],
                                                 fast_feeds: Any, wait_until: Any) -> None:
    """The websockets path (proxies, compression) says why in the same words as the picows one
    (tests/feeds/test_runner.py)."""
    venue = await HostileVenue(misbehave).start()
    try:
        async with _running(venue.url, fast_feeds, compression=True, **feeds) as runner:
            st = runner.states["BTCUSDT"]
            await wait_until(lambda: reason in st.status_detail, 10, f"{reason!r} shown ({st.status_detail!r})")
            venue.behave()
            await wait_until(lambda: st.status is StreamStatus.LIVE, 10, "live once the venue behaves")
            assert runner._link is not None and isinstance(runner._link.ws, ClientConnection)
    finally:
        await venue.close()
