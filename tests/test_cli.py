"""The command line fails fast and clearly on bad settings, before anything starts.

Every config mistake is one line on stderr naming the key, exit status 2, no traceback; the shared
options mean the same before or after a subcommand.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from lcm_tui.frontends.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]


def test_bad_config_exits_2_naming_key_value_and_rule(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("metrics:\n  sample_interval_s: -1\n")
    assert main(["--config", str(cfg), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "metrics.sample_interval_s" in err
    assert "-1" in err
    assert ">= 0.01" in err


def test_unknown_key_lists_allowed_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text("detector:\n  halflife: 10\n")
    assert main(["--config", str(cfg), "--headless"]) == 2
    err = capsys.readouterr().err
    assert "detector.halflife: unknown key" in err
    assert "half_life_s" in err


def test_missing_config_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(tmp_path / "nope.yaml"), "--headless"]) == 2
    assert "config file not found" in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "needle"), [
    (["--fps", "500", "--headless"], "--fps: 500.0 is not allowed"),
    (["--fps", "0", "--headless"], "--fps: 0.0 is not allowed"),
    (["--demo", "--seed", "-5", "--headless"], "--seed: -5 is not allowed"),
])
def test_option_values_use_the_settings_ranges(argv: list[str], needle: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert needle in capsys.readouterr().err


def test_parser_modes() -> None:
    p = build_parser()
    a = p.parse_args(["replay", "cap.jsonl.gz", "--json"])
    assert (a.command, a.file, a.json) == ("replay", "cap.jsonl.gz", True)
    a = p.parse_args(["serve"])
    assert (a.command, a.host, a.demo) == ("serve", "127.0.0.1", False)
    a = p.parse_args(["--demo", "--record", "--capture", "x.jsonl"])
    assert a.demo and a.record and a.capture == "x.jsonl"


@pytest.mark.parametrize("argv", [
    ["--config", "a.yaml", "--fps", "5", "--record", "--log-file", "l.log", "-v", "replay", "F", "--json"],
    ["replay", "F", "--json", "--config", "a.yaml", "--fps", "5", "--record", "--log-file", "l.log", "-v"],
    ["--config", "a.yaml", "--record", "replay", "--fps", "5", "F", "--log-file", "l.log", "--json", "-v"],
    ["--config", "a.yaml", "--fps", "5", "--record", "--log-file", "l.log", "-v", "serve"],
    ["serve", "--config", "a.yaml", "--fps", "5", "--record", "--log-file", "l.log", "-v"],
])
def test_shared_options_work_before_or_after_the_subcommand(argv: list[str]) -> None:
    a = build_parser().parse_args(argv)
    assert (a.config, a.fps, a.record, a.log_file, a.verbose) == ("a.yaml", 5.0, True, "l.log", True)


@pytest.mark.parametrize("argv", [["--demo", "serve"], ["serve", "--demo"]])
def test_serve_demo_either_side(argv: list[str]) -> None:
    assert build_parser().parse_args(argv).demo is True


@pytest.mark.parametrize("before", [True, False])
def test_bad_config_is_refused_whatever_side_of_replay_it_is_on(tmp_path: Path, before: bool,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """Before the fix, ``--config bad.yaml replay F --json`` silently replayed with the default config."""
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("ui:\n  theme: no-such-theme\n")
    cap = tmp_path / "cap.jsonl"
    cap.write_text("")
    opts = ["--config", str(cfg)]
    argv = [*opts, "replay", str(cap), "--json"] if before else ["replay", str(cap), "--json", *opts]
    assert main(argv) == 2
    assert "ui.theme: 'no-such-theme' is not allowed" in capsys.readouterr().err


def test_version_is_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    expected = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"lcm-tui {expected}"


# Each: a settings file, and what the one line on stderr must contain.
BAD_FILES: list[tuple[str, bytes, list[str]]] = [
    ("invalid UTF-8", b"ui:\n  theme: caf\xe9\n", ["not valid UTF-8"]),
    ("bad theme", b"ui:\n  theme: solarised\n", ["ui.theme", "'solarised'", "textual-dark"]),
    ("unknown action", b"ui:\n  keys: {quitt: q}\n", ["ui.keys.quitt", "unknown action"]),
    ("one key two actions", b"ui:\n  keys: {next_symbol: q}\n", ["ui.keys.next_symbol", "'q'", "quit"]),
    ("depth not offered", b"exchanges:\n  bybit-spot: {symbols: [BTCUSDT], depth: 500}\n",
     ["exchanges.bybit-spot.depth", "500", "1, 50, 200, 1000"]),
    ("depth not offered, kraken", b"exchanges:\n  kraken: {symbols: [BTC/USD], depth: 20}\n",
     ["exchanges.kraken.depth", "10, 25, 100, 500, 1000"]),
    ("alias bomb", b"a: &a [lol, lol]\nb: &b [*a, *a]\nc: [*b, *b]\n", ["anchors and aliases"]),
    ("absurd interval", b"metrics:\n  sample_interval_s: 1e300\n", ["metrics.sample_interval_s", "<= 3600"]),
    ("absurd backoff", b"feeds:\n  reconnect_min_s: 1e-300\n", ["feeds.reconnect_min_s", ">= 0.01"]),
    ("absurd frame cap", b"feeds:\n  max_frame_bytes: 1e30\n", ["feeds.max_frame_bytes", "<= 1.07374e+09"]),
    ("absurd spill", b"recorder:\n  spill_max_bytes: 1e30\n", ["recorder.spill_max_bytes", "<= 1.09951e+12"]),
    ("long value", b"ui:\n  theme: " + b"v" * 50_000 + b"\n", ["ui.theme", "..."]),
    ("syntax error", b"ui: {theme: [\n", ["not valid YAML", "line 2"]),
    ("deep nesting", b"demo:\n  symbols: " + b"[" * 5000 + b"]" * 5000 + b"\n", ["nested deeper than"]),
    ("duplicate key", b"ui:\n  fps: 5\n  fps: 6\n", ["fps: duplicate key"]),
]


@pytest.mark.parametrize(("name", "data", "expected"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_every_config_error_is_one_line_and_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str,
                                                   data: bytes, expected: list[str]) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_bytes(data)
    assert main(["--config", str(cfg), "--headless"]) == 2
    out = capsys.readouterr()
    lines = out.err.splitlines()
    assert len(lines) == 1, out.err[:2000]
    assert lines[0].startswith(f"lcm-tui: config error: {cfg}: "), lines[0][:300]
    assert len(lines[0]) < 500 + len(str(cfg)), lines[0][:800]  # the value is cut; lists of choices stay
    for part in expected:
        assert part in lines[0], (part, lines[0])
    assert out.out == ""


def test_a_real_process_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    cfg = tmp_path / "settings.yaml"
    cfg.write_bytes(b"exchanges:\n  okx: {symbols: [BTC-USDT], depth: 5}\n")
    p = subprocess.run([sys.executable, "-m", "lcm_tui", "replay", "x.jsonl", "--json", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert p.returncode == 2
    assert p.stderr.splitlines() == [
        f"lcm-tui: config error: {cfg}: exchanges.okx.depth: 5 is not allowed: must be 400 "
        "(the public books channel is 400 levels)"
    ]
    assert p.stdout == ""
