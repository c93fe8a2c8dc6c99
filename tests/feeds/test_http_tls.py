"""The REST snapshot client: TLS, proxies from the environment, redirects and compressed bodies.

The venues' https endpoints (USD-M depth, OKX books) use this path. A throwaway self-signed
certificate for 127.0.0.1 is made with the openssl CLI; the client must verify it against the given CA
and refuse it without one. The proxy test runs a plain-HTTP forward proxy on loopback and asks for a
target at 127.0.0.2:9 where nothing listens (no name to resolve, nothing leaves the machine), so the
request can only succeed through the proxy.
"""

from __future__ import annotations

import asyncio
import gzip
import shutil
import ssl
from pathlib import Path

import pytest

from lcm_tui.runtime.http import HttpError, http_get

BODY = b'{"lastUpdateId":7,"bids":[["100.0","1"]],"asks":[["101.0","2"]]}'

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


async def _serve_tls(crt: Path, key: Path) -> asyncio.Server:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()  # the client refused our certificate
            return
        assert request.startswith(b"GET /fapi/v1/depth?symbol=BTCUSDT HTTP/1.1\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


@needs_openssl
async def test_https_get_verifies_the_server(cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("SSL_CERT_FILE", "SSL_CERT_DIR"):
        monkeypatch.delenv(var, raising=False)
    crt, key = cert
    server = await _serve_tls(crt, key)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/fapi/v1/depth?symbol=BTCUSDT"
    async with server:
        status, body = await http_get(url, ssl_context=ssl.create_default_context(cafile=str(crt)))
        assert (status, body) == (200, BODY.decode())
        # Without the CA (the system store only), the self-signed server is refused, and the reason says so.
        with pytest.raises(HttpError, match="TLS certificate verify failed") as err:
            await http_get(url, timeout=5)
        assert isinstance(err.value.__cause__, Exception)


class _Origin:
    """A loopback HTTP/1.1 server answering from a table of path -> raw response, recording requests."""

    def __init__(self, replies: dict[str, bytes]) -> None:
        self.replies = replies
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> _Origin:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests.append(head)
                target = head.split(b" ", 2)[1].decode()
                path = target.split("://", 1)[1].split("/", 1)[1] if "://" in target else target.lstrip("/")
                writer.write(self.replies.get("/" + path, b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def _ok(body: bytes, *headers: str) -> bytes:
    head = "".join(h + "\r\n" for h in headers)
    status = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{head}\r\n"
    return status.encode() + body


async def test_the_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _Origin({"/fapi/v1/depth?symbol=BTCUSDT": _ok(BODY)}) as proxy:
        for var in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "HTTPS_PROXY", "https_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.port}")
        url = "http://127.0.0.2:9/fapi/v1/depth?symbol=BTCUSDT"
        assert await http_get(url, timeout=5) == (200, BODY.decode())
        # A forward proxy gets the absolute URL in the request line (RFC 9112 §3.2.2).
        assert proxy.requests[0].startswith(b"GET http://127.0.0.2:9/fapi/v1/depth?symbol=BTCUSDT HTTP/1.1")
        monkeypatch.delenv("HTTP_PROXY")
        with pytest.raises(HttpError, match="connection refused"):
            await http_get(url, timeout=5)  # without the proxy nothing answers


async def test_loopback_never_goes_through_the_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with _Origin({"/x": _ok(b"{}")}) as origin:
        monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")  # discard port: nothing answers there
        assert await http_get(f"http://127.0.0.1:{origin.port}/x", timeout=5) == (200, "{}")


async def test_gzip_bodies_and_redirects_are_followed() -> None:
    packed = gzip.compress(BODY)
    async with _Origin({}) as origin:
        origin.replies.update({
            "/old": f"HTTP/1.1 301 Moved Permanently\r\nLocation: http://127.0.0.1:{origin.port}/new\r\n"
                    "Content-Length: 0\r\n\r\n".encode(),
            "/new": b"HTTP/1.1 302 Found\r\nLocation: /gz\r\nContent-Length: 0\r\n\r\n",
            "/gz": _ok(packed, "Content-Encoding: gzip"),
            "/loop": b"HTTP/1.1 302 Found\r\nLocation: /loop\r\nContent-Length: 0\r\n\r\n",
        })
        assert await http_get(f"http://127.0.0.1:{origin.port}/old", timeout=5) == (200, BODY.decode())
        assert b"gzip" in next(r for r in origin.requests if r.startswith(b"GET /gz")).lower()
        with pytest.raises(HttpError, match="redirects"):
            await http_get(f"http://127.0.0.1:{origin.port}/loop", timeout=5)


async def test_a_body_over_the_cap_is_refused_after_decompression() -> None:
    bomb = gzip.compress(b" " * (4 * 1024 * 1024))  # ~4 KB on the wire, 4 MB unpacked
    async with _Origin({"/bomb": _ok(bomb, "Content-Encoding: gzip")}) as origin:
        with pytest.raises(HttpError, match="over 1048576 bytes"):
            await http_get(f"http://127.0.0.1:{origin.port}/bomb", timeout=5, max_bytes=1024 * 1024)


async def test_connection_refused_is_named() -> None:
    sock_server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = sock_server.sockets[0].getsockname()[1]
    sock_server.close()
    await sock_server.wait_closed()
    with pytest.raises(HttpError, match="connection refused"):
        await http_get(f"http://127.0.0.1:{port}/x", timeout=5)
