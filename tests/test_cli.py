"""The command line fails fast and clearly on bad settings, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from lcm_tui.frontends.cli import build_parser, main


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


def test_fps_out_of_range(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--fps", "500", "--headless"]) == 2
    assert "--fps" in capsys.readouterr().err


def test_parser_modes() -> None:
    p = build_parser()
    a = p.parse_args(["replay", "cap.jsonl.gz", "--json"])
    assert (a.command, a.file, a.json) == ("replay", "cap.jsonl.gz", True)
    a = p.parse_args(["serve"])
    assert (a.command, a.host) == ("serve", "127.0.0.1")
    a = p.parse_args(["--demo", "--record", "--capture", "x.jsonl"])
    assert a.demo and a.record and a.capture == "x.jsonl"
