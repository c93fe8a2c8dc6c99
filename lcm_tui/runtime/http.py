"""REST order-book snapshots over httpx.

The monitor's only HTTP is one small GET per resync (Binance USD-M ``/fapi/v1/depth``, OKX
``/api/v5/market/books``), but it must behave like the WebSocket side: honour ``HTTPS_PROXY`` /
``HTTP_PROXY`` / ``NO_PROXY`` from the environment (``trust_env``), follow a venue's redirects and
accept compressed bodies. Loopback (demo, tests) never goes through a proxy, as for the WebSocket
connections. The body is read as a stream and refused past ``max_bytes`` *after* decompression, so
neither a huge nor a gzip-bomb reply can take the process's memory.

Failures raise ``HttpError`` with a one-line reason ("connection refused", "DNS lookup failed",
"TLS certificate verify failed", ...) that the runner shows as the stream's reason; a non-200 status
is not an error here: it is returned with its body.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from urllib.parse import urlsplit

import httpx

# Loopback never goes through a proxy from the environment (an httpx mount of None = direct).
_DIRECT = {"all://127.0.0.1": None, "all://localhost": None, "all://[::1]": None}
MAX_REDIRECTS = 5
USER_AGENT = "lcm-tui"


class HttpError(Exception):
    """The response could not be had or read (not a non-200 status: that is returned)."""


def _root(exc: BaseException) -> BaseException:
    """The innermost cause: httpx wraps the socket/TLS error that names the real problem."""
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        nxt = exc.__cause__ or exc.__context__
        if nxt is None:
            break
        exc = nxt
    return exc


def describe_network_error(exc: BaseException) -> str:
    """A short, stable reason for a failed connection (the same text for the same cause).

    Stable text matters: the runner logs a reason once per *change*, so the message must not carry
    per-attempt noise such as ephemeral ports.
    """
    chain: list[BaseException] = []
    e: BaseException | None = exc
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for c in chain:
        if isinstance(c, socket.gaierror):
            return "DNS lookup failed"
        if isinstance(c, ssl.SSLCertVerificationError):
            return f"TLS certificate verify failed ({c.verify_message})" if c.verify_message else \
                "TLS certificate verify failed"
        if isinstance(c, ConnectionRefusedError):
            return "connection refused"
        if isinstance(c, ConnectionResetError):
            return "connection reset"
    for c in chain:
        text = str(c)
        if "Name or service not known" in text or "nodename nor servname" in text or \
                "Temporary failure in name resolution" in text:
            return "DNS lookup failed"
        if "Connect call failed" in text or "Connection refused" in text:
            return "connection refused"
        if "CERTIFICATE_VERIFY_FAILED" in text:
            return "TLS certificate verify failed"
        if isinstance(c, ssl.SSLError):
            return f"TLS error ({c.reason or c})"
    root = chain[-1]
    if isinstance(exc, httpx.TimeoutException) or isinstance(root, TimeoutError):
        return "timed out"
    if isinstance(exc, httpx.ProxyError):
        return f"proxy error ({exc})"
    return f"{type(root).__name__}: {root}"[:160]


def make_client(*, timeout: float = 10.0, ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """One pooled client (a runner keeps one for its snapshots; TLS setup is not paid per GET)."""
    return httpx.AsyncClient(
        trust_env=True, follow_redirects=True, max_redirects=MAX_REDIRECTS, mounts=_DIRECT,
        timeout=httpx.Timeout(timeout), verify=ssl_context if ssl_context is not None else True,
        headers={"User-Agent": USER_AGENT, "Accept": "application/json", "Accept-Encoding": "gzip, deflate"},
    )


async def fetch(client: httpx.AsyncClient, url: str, *, timeout: float = 10.0,
                max_bytes: int = 64 * 1024 * 1024) -> tuple[int, str]:
    """GET ``url`` with ``client``; returns (status, body text). Raises ``HttpError`` on failure."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise HttpError(f"not an http(s) URL: {url[:80]!r}")
    try:
        async with asyncio.timeout(timeout), client.stream("GET", url) as resp:
            buf = bytearray()
            async for chunk in resp.aiter_bytes():
                buf += chunk
                if len(buf) > max_bytes:
                    raise HttpError(f"response body over {max_bytes} bytes")
            charset = resp.charset_encoding or "utf-8"
            try:
                text = buf.decode(charset, "replace")
            except LookupError:
                text = buf.decode("utf-8", "replace")
            return resp.status_code, text
    except HttpError:
        raise
    except TimeoutError as e:
        raise HttpError("timed out") from e
    except httpx.TooManyRedirects as e:
        raise HttpError(f"more than {MAX_REDIRECTS} redirects") from e
    except httpx.DecodingError as e:
        raise HttpError(f"bad compressed body ({_root(e)})") from e
    except (httpx.HTTPError, OSError) as e:
        raise HttpError(describe_network_error(e)) from e


async def http_get(url: str, *, timeout: float = 10.0, max_bytes: int = 64 * 1024 * 1024,
                   ssl_context: ssl.SSLContext | None = None) -> tuple[int, str]:
    """One GET with a client of its own (tools and tests; a runner reuses one client instead).

    https verifies the server against the system CAs, or against ``ssl_context`` when one is given.
    """
    async with make_client(timeout=timeout, ssl_context=ssl_context) as client:
        return await fetch(client, url, timeout=timeout, max_bytes=max_bytes)
