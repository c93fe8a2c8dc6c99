"""The feeds' WebSocket connections: picows for the frames, websockets where a proxy is in the way.

A collector's CPU goes to frames, and the pure-Python ``websockets`` client costs more per frame than
parsing and applying it (frame parsing in Python, permessage-deflate, a queue and a task switch per
message). ``picows`` parses frames in Cython and calls back from ``data_received``, so a frame
reaches the adapter in the same event-loop step it arrived in, with no queue and no task switch
(benches/distributed.py, "collector frames per CPU-second").

What the runner relies on is kept on both paths:

* **Proxies.** A connection that a proxy from the environment applies to (``WSS_PROXY`` /
  ``WS_PROXY``, ``HTTPS_PROXY``, ``HTTP_PROXY``, SOCKS, with the ``NO_PROXY`` bypass: exactly as
  websockets decides it) goes through websockets as it always did; loopback never goes through a proxy.
* **TLS**: ``wss://`` verifies the server against the default trust store (``SSL_CERT_FILE`` works).
* **Keep-alive**: a WebSocket ping every ``ping_interval_s`` whatever the traffic, and the connection
  closes when its pong does not come within the same interval; the venue's pings are answered.
* **Frame cap**: a frame over ``max_frame_bytes`` is refused at its header with close code 1009,
  never buffered, and so is a fragmented message once its fragments add up to more; a text message
  that is not UTF-8 closes with 1007. Fragments are reassembled: the adapter sees whole messages.
* **Close codes**: the close frames sent and received are kept, so the runner says why a
  connection ended in the same words for both clients (``describe_closing``).
* **The upgrade request** carries the same ``User-Agent`` as before; redirects are followed (5 at most).

picows runs on the loop's own transports (``use_aiofastnet=False``): its optional aiofastnet
transport measured no gain on this path, and asyncio's keep TLS and name resolution as they were.

picows does not negotiate permessage-deflate: the frames cost more bytes on the wire (about four times
on a busy book) and no CPU to inflate. ``feeds.compression: true`` sends every feed connection through
websockets, which offers it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit

import picows
from picows import WSCloseCode, WSMsgType
from websockets.exceptions import InvalidURI
from websockets.http11 import USER_AGENT
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

log = logging.getLogger("lcm_tui.runtime.transport")

Deliver = Callable[[str | bytes], None]

_TEXT, _BINARY, _CONT = WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION
_CLOSE, _PING, _PONG = WSMsgType.CLOSE, WSMsgType.PING, WSMsgType.PONG
_CLOSE_TIMEOUT_S = 2.0
# The User-Agent the venues always saw from us (websockets'): some front ends refuse an upgrade without one.
_HEADERS = {"User-Agent": USER_AGENT}


def proxy_for(url: str) -> Literal[True] | None:
    """Loopback (demo, tests) never goes through a proxy from the environment; the rest may."""
    host = urlsplit(url).hostname or ""
    return None if host in ("127.0.0.1", "localhost", "::1") else True


def proxied(url: str) -> bool:
    """Whether a proxy from the environment applies to ``url`` (websockets' own rule, NO_PROXY included).

    A URL websockets cannot parse counts as proxied, so that websockets reports it as it always did.
    """
    if proxy_for(url) is None:
        return False
    try:
        return get_proxy(parse_uri(url)) is not None
    except InvalidURI:
        return True


class CloseFrame(Protocol):
    """A close frame as either client keeps it (picows' code is an IntEnum typed as an Enum)."""

    @property
    def code(self) -> Any: ...

    @property
    def reason(self) -> str: ...


def describe_closing(sent: CloseFrame | None, rcvd: CloseFrame | None, rcvd_then_sent: bool | None,
                     max_frame_bytes: int, ping_interval_s: float, *, too_big: bool = False) -> str:
    """Why an open connection ended, from its close frames (ours first: we closed for a reason)."""
    if sent is not None and (rcvd is None or rcvd_then_sent is False):
        code, reason = int(sent.code), sent.reason or ""
        if code == WSCloseCode.MESSAGE_TOO_BIG.value or too_big:
            return f"frame over max_frame_bytes ({max_frame_bytes} bytes)"
        if code == WSCloseCode.INVALID_TEXT.value:
            return "invalid UTF-8 in a text frame"
        if code in (WSCloseCode.INTERNAL_ERROR.value, WSCloseCode.GOING_AWAY.value) and "ping" in reason:
            return f"no pong within {ping_interval_s:g}s"
        if code == WSCloseCode.PROTOCOL_ERROR.value:
            return f"WebSocket protocol error ({reason[:80]})"
        return f"closed by us ({code} {reason[:80]})".rstrip()
    if rcvd is not None:
        code, reason = int(rcvd.code), rcvd.reason or ""
        return f"closed by the venue ({code}{' ' + reason[:80] if reason else ''})"
    return "connection lost without a close frame"


class _QuietLog(logging.LoggerAdapter):
    """picows' own log lines at DEBUG: the runner says why a connection ended, once per change."""

    def log(self, level: int, msg: object, *args: Any, **kwargs: Any) -> None:
        self.logger.log(min(level, logging.DEBUG), msg, *args, **kwargs)

    def isEnabledFor(self, level: int) -> bool:
        return self.logger.isEnabledFor(min(level, logging.DEBUG))


_picows_log = _QuietLog(log, {})


class _Listener(picows.WSListener):
    """Hands every data message to ``deliver`` from ``data_received``; keeps the closing for the reason."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__()
        self.max_bytes = max_bytes
        self.deliver: Deliver | None = None
        self.early: list[str | bytes] = []  # frames before the runner is ready for them (kept in order)
        self.parts: list[bytes] = []  # a fragmented message so far
        self.part_type: Any = None
        self.part_size = 0
        self.too_big = False
        loop = asyncio.get_running_loop()
        self.gone: asyncio.Future[None] = loop.create_future()  # the socket is closed
        self.ended: asyncio.Future[None] = loop.create_future()  # no more messages: refused or gone

    def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
        kind = frame.msg_type
        if kind == _TEXT and frame.fin and self.part_type is None:
            try:
                msg: str | bytes = frame.get_payload_as_utf8_text()
            except UnicodeDecodeError:
                self._refuse(transport, WSCloseCode.INVALID_TEXT, "invalid UTF-8")
                return
        elif kind == _BINARY and frame.fin and self.part_type is None:
            msg = frame.get_payload_as_bytes()
        elif kind == _CLOSE:
            if not transport.is_close_frame_sent:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
            transport.disconnect()
            return
        elif kind in (_PING, _PONG):
            return  # pings are answered and pongs counted by picows itself
        else:
            assembled = self._fragment(transport, frame)
            if assembled is None:
                return
            msg = assembled
        deliver = self.deliver
        if deliver is None:
            self.early.append(msg)
        else:
            deliver(msg)

    def _fragment(self, transport: picows.WSTransport, frame: picows.WSFrame) -> str | bytes | None:
        """One frame of a fragmented message; the message once its last frame is in."""
        kind = frame.msg_type
        if kind == _CONT:
            if self.part_type is None:
                self._refuse(transport, WSCloseCode.PROTOCOL_ERROR, "unexpected continuation frame")
                return None
        elif self.part_type is not None:
            self._refuse(transport, WSCloseCode.PROTOCOL_ERROR, "expected a continuation frame")
            return None
        else:
            self.part_type = kind
        self.part_size += frame.payload_size
        if self.part_size > self.max_bytes:
            self.too_big = True
            self._refuse(transport, WSCloseCode.MESSAGE_TOO_BIG, f"message over {self.max_bytes} bytes")
            return None
        self.parts.append(frame.get_payload_as_bytes())
        if not frame.fin:
            return None
        data, kind = b"".join(self.parts), self.part_type
        self.parts, self.part_type, self.part_size = [], None, 0
        if kind != _TEXT:
            return data
        try:
            return data.decode()
        except UnicodeDecodeError:
            self._refuse(transport, WSCloseCode.INVALID_TEXT, "invalid UTF-8")
            return None

    def _refuse(self, transport: picows.WSTransport, code: WSCloseCode, reason: str) -> None:
        self.parts, self.part_type, self.part_size = [], None, 0
        self.deliver = lambda msg: None  # nothing more is used from this connection
        transport.send_close(code, reason.encode())
        asyncio.get_running_loop().call_later(_CLOSE_TIMEOUT_S, transport.disconnect)
        if not self.ended.done():
            self.ended.set_result(None)  # the reader ends now, not when the venue answers our close

    def on_ws_disconnected(self, transport: picows.WSTransport) -> None:
        for fut in (self.gone, self.ended):
            if not fut.done():
                fut.set_result(None)


class FastConnection:
    """One picows connection, shaped as the few calls the runner makes on a websockets one."""

    def __init__(self, transport: picows.WSTransport, listener: _Listener) -> None:
        self.transport = transport
        self.listener = listener

    @classmethod
    async def open(cls, url: str, *, max_frame_bytes: int, open_timeout_s: float,
                   ping_interval_s: float) -> FastConnection:
        """Connect and complete the opening handshake within ``open_timeout_s`` (TimeoutError if not)."""
        ping = ping_interval_s > 0
        async with asyncio.timeout(open_timeout_s):
            transport, listener = await picows.ws_connect(
                lambda: _Listener(max_frame_bytes), url, websocket_handshake_timeout=open_timeout_s,
                logger_name=_picows_log, enable_auto_ping=ping,
                auto_ping_idle_timeout=ping_interval_s if ping else 10,
                auto_ping_reply_timeout=ping_interval_s if ping else 10,
                auto_ping_strategy=picows.WSAutoPingStrategy.PING_PERIODICALLY, enable_auto_pong=True,
                max_frame_size=max_frame_bytes, extra_headers=_HEADERS, use_aiofastnet=False)
        assert isinstance(listener, _Listener)
        return cls(transport, listener)

    def serve(self, deliver: Deliver) -> asyncio.Future[None]:
        """Hand every message to ``deliver`` from now on (those that came first, first); the returned
        future is done once no more will come (the connection is gone, or we refused a message)."""
        lst = self.listener
        early, lst.early = lst.early, []
        for msg in early:
            deliver(msg)
        if lst.deliver is None:  # not refused meanwhile
            lst.deliver = deliver
        return lst.ended

    def stop_delivery(self) -> None:
        self.listener.deliver = lambda msg: None

    def send_now(self, text: str) -> None:
        self.transport.send(_TEXT, text.encode())

    async def send(self, text: str) -> None:
        self.send_now(text)

    async def close(self) -> None:
        """Our close frame, then the venue's reply (or not, within 2 s), then the socket."""
        t = self.transport
        if t.is_disconnected:
            return
        if not t.is_close_frame_sent:
            t.send_close(WSCloseCode.OK)
        try:
            async with asyncio.timeout(_CLOSE_TIMEOUT_S):
                await asyncio.shield(self.listener.gone)
        except TimeoutError:
            pass
        finally:
            if not t.is_disconnected:  # no reply in time, or we were cancelled: drop the socket now
                t.disconnect(False)

    def why_closed(self, max_frame_bytes: int, ping_interval_s: float) -> str:
        hs = self.transport.close_handshake
        if hs is None:
            return describe_closing(None, None, None, max_frame_bytes, ping_interval_s)
        return describe_closing(hs.sent, hs.recv, hs.recv_then_sent, max_frame_bytes, ping_interval_s,
                                too_big=self.listener.too_big)


def describe_open_error(exc: BaseException) -> str | None:
    """Why picows could not open the connection, as one short stable sentence (None: not picows')."""
    if isinstance(exc, picows.WSInvalidStatusError) and exc.response is not None:
        code = int(exc.response.status)
        try:
            phrase = " " + HTTPStatus(code).phrase
        except ValueError:
            phrase = ""
        retry = exc.response.headers.get("Retry-After")
        return f"handshake refused: HTTP {code}{phrase}" + (f" (Retry-After {retry[:12]})" if retry else "")
    if isinstance(exc, picows.WSInvalidURL):
        return f"invalid URL ({exc})"[:160]
    if isinstance(exc, picows.WSInvalidMessageError):
        return "handshake failed: no valid HTTP response"
    if isinstance(exc, picows.WSHandshakeError):
        return f"handshake failed: {exc}"[:160]
    return None
