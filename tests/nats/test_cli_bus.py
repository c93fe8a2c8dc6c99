"""The bus commands as a user runs them: one-line errors with exit 2, and ``collect`` + ``attach --headless``
printing the local headless lines."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from lcm_tui.frontends.cli import main
from lcm_tui.runtime.bus.connect import NatsOptions

LCM = [sys.executable, "-m", "lcm_tui.frontends.cli"]


@pytest.mark.parametrize("argv, want", [
    (["collect", "--nats", "nats://127.0.0.1:1"], "cannot connect to NATS at nats://127.0.0.1:1"),
    (["attach", "nats://127.0.0.1:1", "--headless"], "cannot connect to NATS"),
    (["record", "--from", "nats://127.0.0.1:1"], "cannot connect to NATS"),
    (["collect", "--venues", "nowhere"], "'nowhere' is not a known venue"),
    (["collect", "--nats-prefix", "a.b"], "nats prefix 'a.b' is not allowed"),
    (["attach", "http://127.0.0.1:4222", "--headless"], "must look like nats://HOST:4222"),
    (["collect", "--metrics-port", "70000"], "--metrics-port"),
])
def test_user_mistakes_are_one_line_and_exit_2(argv: list[str], want: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert want in err and err.count("\n") == 1 and "Traceback" not in err


def test_a_url_password_is_never_printed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["attach", "nats://desk:Sup3rS3cret@127.0.0.1:1", "--headless"]) == 2
    err = capsys.readouterr().err
    assert "Sup3rS3cret" not in err and "desk" not in err and "***@127.0.0.1:1" in err


def test_collect_then_attach_headless_prints_the_local_headless_lines(bus: NatsOptions) -> None:
    env = {**os.environ, "LCM_NATS_URL": bus.url}
    col = subprocess.Popen([*LCM, "collect", "--demo", "--venues", "binance,kraken", "--nats-prefix", bus.prefix,
                            "--collector-id", "cli-col"], env=env, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3.0)
        assert col.poll() is None, col.stderr.read() if col.stderr else ""
        att = subprocess.Popen([*LCM, "attach", "--headless", "--nats-prefix", bus.prefix], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[dict[str, object]] = []
        assert att.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(lines) < 6:
            line = att.stdout.readline()
            if not line:
                break
            lines.append(json.loads(line))
        att.send_signal(signal.SIGINT)
        att.wait(10)
        assert att.returncode == 0
    finally:
        col.send_signal(signal.SIGINT)
        col.wait(20)
    assert col.returncode == 0
    streams = [o for o in lines if o["venue"] != "consolidated"]
    assert {(o["venue"], o["symbol"]) for o in streams} == {("binance", "BTCUSDT"), ("binance", "ETHUSDT"),
                                                             ("kraken", "BTC/USDT"), ("kraken", "ETH/USDT")}
    # The same objects as local --headless: its first stream line and first consolidated line have these keys.
    proc = subprocess.Popen([*LCM, "--demo", "--headless"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    assert proc.stdout is not None
    ref = []
    while not any(o["venue"] == "consolidated" for o in ref):
        ref.append(json.loads(proc.stdout.readline()))
    proc.send_signal(signal.SIGINT)
    proc.wait(20)
    ref_stream = next(o for o in ref if o["venue"] != "consolidated")
    ref_cons = next(o for o in ref if o["venue"] == "consolidated")
    assert all(set(o) == set(ref_stream) for o in streams)
    cons = [o for o in lines if o["venue"] == "consolidated"]
    assert cons and all(set(o) == set(ref_cons) for o in cons)
