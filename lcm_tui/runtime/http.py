"""A minimal asyncio HTTP/1.1 GET for REST order-book snapshots.

Snapshots are the only HTTP the monitor does (one small GET per resync), so a 100-line client on
asyncio streams beats pulling in aiohttp/httpx: it supports exactly what the venues send
(Content-Length, chunked, or read-to-close bodies; TLS for https) and caps the body size.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from urllib.parse import urlsplit


class HttpError(Exception):
    """The response could not be read (not a non-200 status: that is returned)."""


async def _read_chunked(reader: asyncio.StreamReader, max_bytes: int) -> bytes:
    out = bytearray()
    while True:
        line = await reader.readline()
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise HttpError(f"bad chunk size line {line[:40]!r}") from None
        if size == 0:
            # Trailers (if any) end with an empty line.
            while (await reader.readline()).strip():
                pass
            return bytes(out)
        if len(out) + size > max_bytes:
            raise HttpError("response body too large")
        out += await reader.readexactly(size)
        await reader.readexactly(2)


async def http_get(url: str, *, timeout: float = 10.0, max_bytes: int = 64 * 1024 * 1024,
                   ssl_context: ssl.SSLContext | None = None) -> tuple[int, str]:
    """GET ``url``; returns (status, body text). Raises HttpError/OSError/TimeoutError on failure.

    https verifies the server against the system CAs, or against ``ssl_context`` when one is given.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HttpError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    host = parts.hostname or ""
    port = parts.port or (443 if tls else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    ctx = (ssl_context or ssl.create_default_context()) if tls else None
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host if tls else None,
                                                       limit=1 << 20)
        try:
            host_hdr = host if parts.port is None else f"{host}:{parts.port}"
            writer.write(
                f"GET {target} HTTP/1.1\r\nHost: {host_hdr}\r\nUser-Agent: lcm-tui\r\nAccept: application/json\r\n"
                "Accept-Encoding: identity\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
            status_line = await reader.readline()
            fields = status_line.split(None, 2)
            if len(fields) < 2 or not fields[0].startswith(b"HTTP/"):
                raise HttpError(f"bad status line {status_line[:60]!r}")
            status = int(fields[1])
            headers: dict[str, str] = {}
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                k, _, v = line.decode("latin-1").partition(":")
                headers[k.strip().lower()] = v.strip()
            if "chunked" in headers.get("transfer-encoding", "").lower():
                body = await _read_chunked(reader, max_bytes)
            elif "content-length" in headers:
                n = int(headers["content-length"])
                if n > max_bytes:
                    raise HttpError("response body too large")
                body = await reader.readexactly(n)
            else:
                buf = bytearray()
                while chunk := await reader.read(65536):
                    buf += chunk
                    if len(buf) > max_bytes:
                        raise HttpError("response body too large")
                body = bytes(buf)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
    return status, body.decode("utf-8", "replace")
