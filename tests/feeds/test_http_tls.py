"""The REST snapshot client over TLS: the venues' https endpoints (USD-M depth, OKX books) use this path.

A throwaway self-signed certificate for 127.0.0.1 is made with the openssl CLI; the client must verify
it against the given CA and refuse it without one.
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

from lcm_tui.runtime.http import http_get

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

BODY = b'{"lastUpdateId":7,"bids":[["100.0","1"]],"asks":[["101.0","2"]]}'


@pytest.fixture
def cert(tmp_path: Path) -> tuple[Path, Path]:
    crt, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(crt)],
        check=True, capture_output=True,
    )
    return crt, key


async def _serve(crt: Path, key: Path) -> asyncio.Server:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(crt, key)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        assert request.startswith(b"GET /fapi/v1/depth?symbol=BTCUSDT HTTP/1.1\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                     + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)


async def test_https_get_verifies_the_server(cert: tuple[Path, Path]) -> None:
    crt, key = cert
    server = await _serve(crt, key)
    port = server.sockets[0].getsockname()[1]
    url = f"https://127.0.0.1:{port}/fapi/v1/depth?symbol=BTCUSDT"
    async with server:
        status, body = await http_get(url, ssl_context=ssl.create_default_context(cafile=str(crt)))
        assert (status, body) == (200, BODY.decode())
        # Without the CA (the system store only), the self-signed server is refused.
        with pytest.raises(ssl.SSLCertVerificationError):
            await http_get(url, timeout=5)
