"""Network helpers for the recorder tests: a stoppable TCP proxy and a port nobody listens on."""

from __future__ import annotations

import asyncio
import socket

PG_HOST = "127.0.0.1"
PG_PORT = 5432


class TcpProxy:
    """A loopback TCP forwarder the test can stop, restart or pause, to make the server unreachable or
    stalled for the recorder only (the real server keeps running for everyone else)."""

    def __init__(self, target_port: int = PG_PORT) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()

    @property
    def listening(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._handle, PG_HOST, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def pause(self) -> None:
        """Keep every connection open but forward nothing: a server that stalls."""
        self._flowing.clear()

    def resume(self) -> None:
        self._flowing.set()

    async def stop(self) -> None:
        """Stop listening and cut every open connection."""
        assert self._server is not None
        self._flowing.set()  # let paused pipes run into the aborted transports and end
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        self._writers.clear()
        await self._server.wait_closed()
        self._server = None

    async def _handle(self, cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        try:
            sr, sw = await asyncio.open_connection(PG_HOST, self.target_port)
        except OSError:
            cw.transport.abort()
            return
        self._writers.update((cw, sw))

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            try:
                while data := await r.read(65536):
                    await self._flowing.wait()
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                w.transport.abort()
                self._writers.discard(w)

        await asyncio.gather(pipe(cr, sw), pipe(sr, cw))


def free_port() -> int:
    """A port nothing listens on (bound then released), for an unreachable server."""
    with socket.socket() as s:
        s.bind((PG_HOST, 0))
        return s.getsockname()[1]
