"""SIGTERM and SIGHUP end the TUI cleanly: the terminal gets its screen, cursor and mouse back.

Python's default for both signals kills the process on the spot, leaving the user's terminal in the
alternate screen with mouse reporting on (every click then types escape codes into the shell). Here
the first signal asks the app to exit the normal way (Textual's driver restores the terminal) and
exits with ``128 + signal``, as a shell reports a process killed by it. If the app has not finished
within ``FORCE_AFTER_S`` (a stuck exit, or a second signal), the terminal is restored by hand and
the process leaves with ``os._exit``: a signal must always end the process.

The handlers are plain ``signal.signal`` handlers, not ``loop.add_signal_handler``: those run in the
main thread even while it is blocked in a write to a terminal that stopped reading (PEP 475 retries
the write after the handler), where a loop callback would never run.

An app served to a browser (``lcm-tui serve``, Textual's web driver) has no terminal to hang up: if
the server that started it dies, nothing would ever tell it to stop. There a watchdog thread sees the
parent go (the process is re-parented) and ends the app the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, Protocol

FORCE_AFTER_S = 5.0
PARENT_POLL_S = 0.5
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)

# Alternate screen off, cursor on, every mouse mode Textual enables off, bracketed paste off.
RESTORE = (b"\x1b[?1049l\x1b[?25h\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l\x1b[?2004l")


class _Exitable(Protocol):
    def exit(self, result: Any = None, return_code: int = 0, message: Any = None) -> None: ...


def _restore_terminal(fd: int, attrs: list[Any] | None) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, RESTORE)
    if attrs is not None:
        with contextlib.suppress(Exception):
            import termios

            termios.tcsetattr(fd, termios.TCSANOW, attrs)


@contextlib.contextmanager
def exit_on_signals(app: _Exitable, loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """While inside, SIGTERM/SIGHUP make ``app`` exit (see the module docstring)."""
    fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
    attrs: list[Any] | None = None
    with contextlib.suppress(Exception):
        import termios

        if os.isatty(fd):
            attrs = termios.tcgetattr(fd)
    fired: list[int] = []

    def force(code: int) -> None:
        _restore_terminal(fd, attrs)
        os._exit(code)

    def handler(signum: int, frame: FrameType | None) -> None:
        code = 128 + signum
        if fired:  # a second signal: the user means it
            force(code)
        fired.append(signum)
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing left to stop
            loop.call_soon_threadsafe(app.exit, None, code)
        timer = threading.Timer(FORCE_AFTER_S, force, args=(code,))
        timer.daemon = True
        timer.start()

    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        yield
        return
    previous = {s: signal.signal(s, handler) for s in EXIT_SIGNALS}
    stop_watch = threading.Event()
    if "web_driver" in os.environ.get("TEXTUAL_DRIVER", ""):
        watch_parent(lambda: handler(signal.SIGHUP, None), stop_watch)
    try:
        yield
    finally:
        stop_watch.set()
        for s, h in previous.items():
            with contextlib.suppress(Exception):
                signal.signal(s, h)


def watch_parent(on_gone: Callable[[], None], stop: threading.Event) -> threading.Thread:
    """Call ``on_gone`` (from a daemon thread) once this process's parent has exited."""
    ppid = os.getppid()

    def run() -> None:
        while not stop.wait(PARENT_POLL_S):
            if os.getppid() != ppid:
                on_gone()
                return

    t = threading.Thread(target=run, name="lcm-parent-watch", daemon=True)
    t.start()
    return t


async def run_with_exit_signals(app: Any) -> None:
    """``await app.run_async()`` with SIGTERM/SIGHUP ending it cleanly."""
    with exit_on_signals(app, asyncio.get_running_loop()):
        await app.run_async()


def run_blocking(app: Any) -> None:
    """``app.run()`` with SIGTERM/SIGHUP ending it cleanly (for callers outside an event loop)."""
    asyncio.run(run_with_exit_signals(app))
