"""The process lifecycle as a user's terminal and browser see it.

* The TUI under a real pseudo-terminal: SIGTERM and SIGHUP must leave the terminal usable, i.e. the
  last bytes the process writes switch the alternate screen off (``CSI ? 1049 l``) and mouse
  reporting off (``CSI ? 1000 l``, xterm control sequences), and the process exits with 128 + signal.
* ``serve``: the app process started for a browser must end when the browser goes away. A browser
  that vanishes without closing its socket (a frozen tab, a laptop lid, a dead network) is played by
  a raw client that upgrades to the served page's WebSocket and then never reads again.
* ...and when the server that started it is killed outright (it has no terminal to hang up).
* ``serve`` on a port that is taken: one line, non-zero exit.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import os
import pty
import select
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ALT_ON, ALT_OFF = b"\x1b[?1049h", b"\x1b[?1049l"
MOUSE_OFF = b"\x1b[?1000l"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEXTUAL", "LCM_"))}
    env.update(TERM="xterm-256color", COLUMNS="120", LINES="40", PYTHONPATH=str(ROOT))
    return env


def _read_until(fd: int, pred, timeout: float) -> bytes:
    """Read from a pty master until ``pred(buffer)`` or EOF/timeout; returns everything read."""
    buf = bytearray()
    end = time.monotonic() + timeout
    while not pred(buf) and time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], 0.2)
        if not r:
            continue
        try:
            chunk = os.read(fd, 65536)
        except OSError as e:  # EIO: the slave side is closed, the process is gone
            if e.errno == errno.EIO:
                break
            raise
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A few seconds of the demo's frames, recorded by the headless mode."""
    path = tmp_path_factory.mktemp("cap") / "demo.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "lcm_tui", "--demo", "--headless", "--capture", str(path)],
                            cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 60
    while time.monotonic() < end and (not path.exists() or path.stat().st_size < 50_000):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    proc.wait(20)
    assert path.exists() and path.stat().st_size > 0
    return path


@pytest.mark.parametrize("mode", ["live", "replay"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_restores_the_terminal_and_ends_the_tui(sig: signal.Signals, mode: str,
                                                         request: pytest.FixtureRequest) -> None:
    args = ["--demo"] if mode == "live" else ["replay", str(request.getfixturevalue("capture"))]
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    proc = subprocess.Popen([sys.executable, "-m", "lcm_tui", *args], stdin=slave, stdout=slave, stderr=slave,
                            cwd=ROOT, env=_env(), start_new_session=True, close_fds=True)
    os.close(slave)
    try:
        # Started: the alternate screen is on and a first full frame has been drawn.
        out = _read_until(master, lambda b: ALT_ON in b and len(b) > 20_000, 60)
        assert ALT_ON in out, f"the TUI did not start: {out[-400:]!r}"
        proc.send_signal(sig)
        tail = _read_until(master, lambda b: False, 20)
        rc = proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)
    assert rc == 128 + sig
    after = tail[tail.rfind(ALT_ON) + 1:] if ALT_ON in tail else tail
    assert ALT_OFF in after, f"alternate screen left on: {tail[-300:]!r}"
    assert MOUSE_OFF in after, f"mouse reporting left on: {tail[-300:]!r}"


# ---------------------------------------------------------------------------------------- serve
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    kids: dict[int, list[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except OSError:
        return False


def _wait_listening(port: int, proc: subprocess.Popen[bytes], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        assert proc.poll() is None, "serve exited early"
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
            return
        time.sleep(0.1)
    raise AssertionError("serve did not listen")


def _upgrade(port: int) -> socket.socket:
    """A WebSocket handshake on the served page's socket by hand, so nothing reads after it."""
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET /ws?width=160&height=50 HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    assert s.recv(12) == b"HTTP/1.1 101"
    return s


@contextlib.contextmanager
def _served_app() -> Iterator[tuple[subprocess.Popen[bytes], list[int]]]:
    """``serve --demo`` with one browser connected (a raw WebSocket that never reads): the server and the
    app processes it started for that browser. Everything is killed on the way out."""
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "lcm_tui", "serve", "--demo", "--port", str(port)], cwd=ROOT,
                              env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    sock = None
    apps: list[int] = []
    try:
        _wait_listening(port, server)
        sock = _upgrade(port)
        end = time.monotonic() + 60
        while not apps and time.monotonic() < end:
            time.sleep(0.2)
            apps = _descendants(server.pid)
        assert apps, "no app process was started for the browser"
        yield server, apps
    finally:
        if sock is not None:
            sock.close()
        for p in apps:
            with contextlib.suppress(OSError):
                os.kill(p, signal.SIGKILL)
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


def test_the_served_app_ends_when_its_browser_vanishes() -> None:
    with _served_app() as (server, apps):
        # The browser is gone: it never reads again and never closes its socket.
        end = time.monotonic() + 90
        while any(_alive(p) for p in apps) and time.monotonic() < end:
            time.sleep(0.5)
        left = [p for p in apps if _alive(p)]
        assert not left, f"app processes still running after the browser went away: {left}"
        # ...and the server itself still serves (and stops on SIGTERM).
        assert server.poll() is None
        server.terminate()
        assert server.wait(20) is not None


def test_the_served_app_ends_when_the_server_itself_is_killed() -> None:
    with _served_app() as (server, apps):
        server.kill()  # SIGKILL: no handler runs, nobody tells the app anything
        server.wait()
        end = time.monotonic() + 30
        while any(_alive(p) for p in apps) and time.monotonic() < end:
            time.sleep(0.2)
        assert not [p for p in apps if _alive(p)], "the app outlived its server"


def test_serve_on_a_port_in_use_is_one_line_and_a_non_zero_exit() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        res = subprocess.run([sys.executable, "-m", "lcm_tui", "serve", "--port", str(port)], cwd=ROOT, env=_env(),
                             capture_output=True, text=True, timeout=60)
    assert res.returncode not in (0, None)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "Traceback" not in res.stderr + res.stdout
