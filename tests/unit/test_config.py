"""Settings: the bundled file loads, and every bad setting names its key, its value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lcm_tui.config import (
    ConfigError,
    Settings,
    bundled_settings_path,
    load_settings,
    parse_settings,
    parse_yaml,
)
from lcm_tui.core.model import VENUES

ROOT = Path(__file__).resolve().parents[2]


def bundled() -> dict:
    return yaml.safe_load(bundled_settings_path().read_text(encoding="utf-8"))


def test_bundled_settings_load_with_the_documented_defaults() -> None:
    s = load_settings(bundled_settings_path(), env={})
    assert isinstance(s, Settings)
    assert s.metrics.depth_bands_bps == [10, 50, 100, 200]
    assert s.metrics.notionals == [10_000.0, 100_000.0, 1_000_000.0]
    assert s.metrics.middle_notional == 100_000.0
    d = s.detector
    assert (d.half_life_s, d.warmup_samples, d.consecutive) == (300.0, 60, 3)
    assert (d.open_z, d.close_z, d.high_z, d.critical_z, d.depth_band_bps) == (3.0, 1.5, 4.0, 5.0, 50)
    assert set(s.venues) <= set(VENUES)
    assert s.venues["binance"].symbols == ["BTCUSDT", "ETHUSDT"]
    assert not s.venues["bybit-linear"].enabled
    assert s.recorder.dsn == ""  # no secret in the file


def test_top_level_copy_matches_the_packaged_one() -> None:
    assert (ROOT / "config" / "settings.yaml").read_text() == bundled_settings_path().read_text()


def test_env_dsn_overrides_the_file(tmp_path: Path) -> None:
    s = load_settings(bundled_settings_path(), env={"LCM_PG_DSN": "postgresql://u@127.0.0.1/test"})
    assert s.recorder.dsn == "postgresql://u@127.0.0.1/test"
    f = tmp_path / "s.yaml"
    f.write_text("recorder: {dsn: 'postgresql://file@h/db'}\n")
    assert load_settings(f, env={}).recorder.dsn == "postgresql://file@h/db"
    assert load_settings(f, env={"LCM_PG_DSN": "postgresql://env@h/db"}).recorder.dsn == "postgresql://env@h/db"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.yaml", env={})


def with_change(path: str, value: object) -> dict:
    raw = bundled()
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        node = node[p]
    node[last] = value
    return raw


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # unknown keys: the message lists what is allowed
        ("metrics.depth_band", 50, ["metrics.depth_band", "unknown key", "depth_bands_bps"]),
        ("detector.half_life", 5, ["detector.half_life", "unknown key", "half_life_s"]),
        ("exchanges.binance.symbol", ["X"], ["exchanges.binance.symbol", "unknown key", "symbols"]),
        ("exchanges.ftx", {"symbols": ["BTC-USD"]}, ["exchanges.ftx", "unknown exchange", "binance"]),
        # wrong types
        ("detector.half_life_s", "five minutes", ["detector.half_life_s", "'five minutes'", "a number"]),
        ("detector.warmup_samples", 2.5, ["detector.warmup_samples", "2.5", "integer"]),
        ("exchanges.okx.enabled", "yes", ["exchanges.okx.enabled", "'yes'", "true or false"]),
        ("metrics.notionals", 1000, ["metrics.notionals", "1000", "non-empty list"]),
        ("ui.theme", 7, ["ui.theme", "7", "string"]),
        # bad values
        ("metrics.depth_bands_bps", [10, 0], ["metrics.depth_bands_bps[1]", "0", ">= 1"]),
        ("metrics.depth_bands_bps", [10, 20000], ["metrics.depth_bands_bps[1]", "20000", "<= 10000"]),
        ("metrics.depth_bands_bps", [10, 10], ["metrics.depth_bands_bps", "unique"]),
        ("metrics.notionals", [100, -5], ["metrics.notionals[1]", "-5", "> 0"]),
        ("detector.close_z", 3.0, ["detector.close_z", "3.0", "below detector.open_z"]),
        ("detector.close_z", 4.5, ["detector.close_z", "4.5", "below detector.open_z"]),
        ("detector.depth_band_bps", 75, ["detector.depth_band_bps", "75", "depth_bands_bps"]),
        ("detector.high_z", 9.0, ["detector.high_z", "9.0", "open_z <= high_z <= critical_z"]),
        ("ui.fps", 100, ["ui.fps", "100", "<= 60"]),
        ("exchanges.kraken.ws_url", "ftp://x", ["exchanges.kraken.ws_url", "'ftp://x'", "wss://"]),
        ("exchanges.kraken.symbols", ["BTC/USD", "BTC/USD"], ["exchanges.kraken.symbols", "unique"]),
    ],
)
def test_errors_name_key_value_and_allowed(path: str, value: object, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(with_change(path, value))
    msg = str(e.value)
    for part in expected:
        assert part in msg, (part, msg)


def test_unknown_top_level_section() -> None:
    with pytest.raises(ConfigError, match=r"alerts: unknown key; allowed keys are .*detector"):
        parse_settings({"alerts": {}})


def test_duplicate_yaml_keys_are_an_error() -> None:
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_yaml("detector:\n  open_z: 3\n  open_z: 4\n", source="t.yaml")


def test_empty_sections_take_defaults() -> None:
    s = parse_settings({"detector": None, "metrics": {}})
    assert s.detector.open_z == 3.0 and s.metrics.depth_bands_bps == [10, 50, 100, 200]
