"""``lcm-tui serve``: the same TUI in a browser through textual-serve.

textual-serve starts one ``lcm-tui`` process per browser session; the command it runs is built from
the options given to ``serve`` so the served app uses the same config, fps, recorder and demo mode.
It binds 127.0.0.1 unless ``--host`` says otherwise: the UI has no authentication.

What is added to textual-serve here is the end of a session. A browser that goes away without closing
its socket (a frozen tab, a closed laptop, a dead network) stops reading: textual-serve then waits
forever to write the app's next frame, stops reading the app's output, and the app blocks on its
full pipe, holding its memory and ignoring SIGTERM (its handler runs on the blocked loop). So:

* the app's output is always drained; a frame the browser does not take within
  ``BROWSER_WRITE_TIMEOUT_S`` means the browser is gone, and later frames are dropped;
* a session that ends (browser gone, socket closed, server stopping) asks the app to quit, then
  sends SIGTERM, then SIGKILL, each after a grace period: the app process always ends;
* the command is ``exec``'d by the shell, so the signals reach the app and not only a shell;
* the port is bound before anything else: a port in use is one line and exit 1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import shlex
import signal
import socket
import sys
from typing import Any

log = logging.getLogger("lcm_tui.serve")

BROWSER_WRITE_TIMEOUT_S = 10.0  # a browser that takes no frame for this long is gone
QUIT_GRACE_S = 5.0  # after the quit request, before SIGTERM
TERM_GRACE_S = 3.0  # after SIGTERM, before SIGKILL


def served_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each session (``exec``: the app is the shell's process)."""
    cmd = [sys.executable, "-m", "lcm_tui"]
    if args.config:
        cmd += ["--config", args.config]
    if args.fps is not None:
        cmd += ["--fps", str(args.fps)]
    if args.record:
        cmd.append("--record")
    if args.log_file:
        cmd += ["--log-file", args.log_file]
    if args.verbose:
        cmd.append("--verbose")
    if getattr(args, "demo", False):
        cmd.append("--demo")
    return "exec " + shlex.join(cmd)


def _bind(host: str, port: int) -> socket.socket:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    family, kind, proto, _, addr = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT only; a listener still refuses
        sock.bind(addr)
        sock.listen(128)
    except BaseException:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def _server_classes() -> tuple[type[Any], type[Any]]:
    """The textual-serve subclasses (built on demand: textual-serve is imported only by ``serve``)."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server, to_int

    class Session(AppService):
        """One browser's app process, which ends whenever the browser does."""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.gone = asyncio.Event()
            self.why = ""
            self._ended = False

        def lose_browser(self, why: str) -> None:
            if not self.gone.is_set():
                self.why = why
                log.warning("browser session %s ended: %s", self.app_service_id[:8], why)
                self.gone.set()

        async def _to_browser(self, coro: Any) -> None:
            if self.gone.is_set():
                coro.close()
                return
            try:
                async with asyncio.timeout(BROWSER_WRITE_TIMEOUT_S):  # no task per frame, unlike wait_for
                    await coro
            except TimeoutError:
                self.lose_browser(f"the browser took no data for {BROWSER_WRITE_TIMEOUT_S:g}s")
            except (ConnectionError, RuntimeError, OSError) as e:
                self.lose_browser(f"the browser connection failed ({type(e).__name__})")

        async def on_data(self, payload: bytes) -> None:
            await self._to_browser(self.remote_write_bytes(payload))

        async def on_meta(self, data: bytes) -> None:
            if self.gone.is_set():
                return
            try:
                async with asyncio.timeout(BROWSER_WRITE_TIMEOUT_S):
                    await super().on_meta(data)
            except TimeoutError:
                self.lose_browser(f"the browser took no data for {BROWSER_WRITE_TIMEOUT_S:g}s")
            except (ConnectionError, RuntimeError, OSError) as e:
                self.lose_browser(f"the browser connection failed ({type(e).__name__})")

        async def on_packed(self, payload: bytes) -> None:
            if not self.gone.is_set():
                await super().on_packed(payload)

        async def send_meta(self, data: dict[str, str | int | bool | None]) -> bool:
            # The app's stdin pipe can fill when the app is stuck: never wait on it forever.
            try:
                return bool(await asyncio.wait_for(super().send_meta(data), QUIT_GRACE_S))
            except (TimeoutError, AssertionError):
                return False

        async def end(self) -> None:
            """Quit, then SIGTERM, then SIGKILL: the process ends whatever state it is in."""
            if self._ended:
                return
            self._ended = True
            proc = self._process
            if proc is None:
                return
            with contextlib.suppress(Exception):
                await self._download_manager.cancel_app_downloads(app_service_id=self.app_service_id)
            if proc.returncode is None:
                await self.send_meta({"type": "quit"})
            for sig, grace in ((None, QUIT_GRACE_S), (signal.SIGTERM, TERM_GRACE_S), (signal.SIGKILL, 10.0)):
                if proc.returncode is not None:
                    break
                if sig is not None:
                    log.warning("app process %d did not quit; sending %s", proc.pid, sig.name)
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(sig)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(proc.wait(), grace)
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self._task, 5)
                self._task = None

        async def stop(self) -> None:
            await self.end()

    class LcmServer(Server):
        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.sessions: set[Session] = set()

        async def on_shutdown(self, app: web.Application) -> None:
            await asyncio.gather(*(s.end() for s in list(self.sessions)), return_exceptions=True)

        async def on_startup(self, app: web.Application) -> None:
            print(f"lcm-tui: serving on {self.public_url} (ctrl+c to stop)", file=sys.stderr)

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            websocket = web.WebSocketResponse(heartbeat=15)
            width = to_int(request.query.get("width", "80"), 80)
            height = to_int(request.query.get("height", "24"), 24)
            session: Session | None = None
            tasks: list[asyncio.Task[Any]] = []
            try:
                await websocket.prepare(request)
                session = Session(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                  close=websocket.close, download_manager=self.download_manager, debug=self.debug)
                self.sessions.add(session)
                await session.start(width, height)
                tasks = [asyncio.create_task(self._process_messages(websocket, session)),
                         asyncio.create_task(session.gone.wait())]
                assert session._task is not None
                tasks.append(asyncio.ensure_future(asyncio.shield(session._task)))  # the app ended by itself
                await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            except asyncio.CancelledError:
                pass
            except Exception:
                log.exception("browser session failed")
            finally:
                for t in tasks:
                    t.cancel()
                if session is not None:
                    if session.gone.is_set() and request.transport is not None:
                        request.transport.abort()  # it does not read: a close handshake would wait
                    await asyncio.shield(session.end())
                    self.sessions.discard(session)
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(websocket.close(), 2)
            return websocket

    return Session, LcmServer


def run_serve(args: argparse.Namespace) -> int:
    try:
        sock = _bind(args.host, args.port)
    except OSError as e:
        why = "port already in use" if e.errno == errno.EADDRINUSE else (e.strerror or str(e))
        print(f"lcm-tui: cannot serve on {args.host}:{args.port}: {why}", file=sys.stderr)
        return 1
    from aiohttp import web

    _, server_cls = _server_classes()
    server = server_cls(served_command(args), host=args.host, port=args.port, title="lcm-tui")
    loop = asyncio.new_event_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, server.request_exit)
    try:
        web.run_app(server._make_app(), sock=sock, handle_signals=False, loop=loop, shutdown_timeout=5,
                    print=lambda *a: None)
    finally:
        sock.close()
    return 0
