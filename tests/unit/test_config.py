"""Settings: the bundled file loads, and every bad setting is refused before anything starts, on one
line naming its key, a short prefix of its value and what is allowed.

Expectations come from outside the schema: the venues' documented depth choices (written out in the
tables below), the ranges that config/settings.yaml documents in its comments, Textual's own theme
and key names, and the YAML shapes an attacker would send.
"""

from __future__ import annotations

import dataclasses
import re
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
import yaml

from lcm_tui import config
from lcm_tui.config import (
    ConfigError,
    Settings,
    bundled_settings_path,
    check_keys,
    load_settings,
    parse_settings,
    parse_yaml,
)
from lcm_tui.venues import registry

ROOT = Path(__file__).resolve().parents[2]
SETTINGS_YAML = ROOT / "config" / "settings.yaml"


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
    assert s.venues["binance"].symbols == ["BTCUSDT", "ETHUSDT"]
    assert not s.venues["bybit-linear"].enabled
    assert s.feeds.max_levels == 20_000
    assert s.recorder.dsn == ""  # no secret in the file


def test_top_level_copy_matches_the_packaged_one() -> None:
    assert SETTINGS_YAML.read_text() == bundled_settings_path().read_text()


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


# ------------------------------------------------------------------------------------ venues


def test_every_registry_venue_is_present_in_registry_order_with_spec_defaults() -> None:
    """A venue the file does not mention is there, disabled, with its spec's endpoints, depth and fee."""
    s = parse_settings({"exchanges": {"kraken": {"symbols": ["BTC/USD"]}, "binance": {"symbols": ["BTCUSDT"]}}})
    assert list(s.venues) == [v.name for v in registry.VENUES]  # registry order, not the file's
    assert [v.name for v in s.enabled_venues()] == ["binance", "kraken"]
    for sp in registry.VENUES:
        vc = s.venue(sp.name)
        assert (vc.ws_url, vc.snapshot_url, vc.depth, vc.taker_fee_bps) == (
            sp.ws_url, sp.snapshot_url, sp.default_depth, sp.taker_fee_bps)
        assert vc.enabled == (sp.name in ("binance", "kraken"))
    assert Settings().venue("coinbase").taker_fee_bps == registry.spec("coinbase").taker_fee_bps


def test_the_book_cap_reaches_every_venue() -> None:
    s = parse_settings({"feeds": {"max_levels": 6000}})
    assert {vc.max_levels for vc in s.venues.values()} == {6000}


# The depth choices each venue documents (the venue's own API reference), as written here for the test.
DOCUMENTED_DEPTHS: dict[str, tuple[list[int], list[int]]] = {
    # venue: (accepted, refused)
    "binance": ([1, 100, 1000, 5000], [0, 5001, 10_000]),  # REST/WS-API limit: any up to 5000
    "binance-usdm": ([5, 10, 20, 50, 100, 500, 1000], [0, 1, 200, 5000]),  # /fapi/v1/depth: no 5000
    "bybit-spot": ([1, 50, 200, 1000], [0, 25, 500, 2000]),  # orderbook.500 was removed 2025-09-30
    "bybit-linear": ([1, 50, 200, 1000], [0, 100, 500]),
    "okx": ([400], [0, 5, 50, 1000]),  # the public books channel: 400 levels
    "kraken": ([10, 25, 100, 500, 1000], [0, 5, 20, 50, 2000]),
    "coinbase": ([0], [10, 50, 1000]),  # level2 is always the full book
}


def test_the_table_covers_every_registry_venue() -> None:
    assert set(DOCUMENTED_DEPTHS) == set(registry.names())


@pytest.mark.parametrize(("venue", "depth", "ok"), [
    (v, d, ok) for v, (good, bad) in DOCUMENTED_DEPTHS.items() for ok, ds in ((True, good), (False, bad)) for d in ds
])
def test_venue_depth_must_be_one_the_venue_offers(venue: str, depth: int, ok: bool) -> None:
    raw = {"exchanges": {venue: {"symbols": ["X"], "depth": depth}}}
    if ok:
        assert parse_settings(raw).venue(venue).depth == depth
        return
    with pytest.raises(ConfigError) as e:
        parse_settings(raw)
    msg = str(e.value)
    assert msg.startswith(f"exchanges.{venue}.depth: {depth} is not allowed"), msg
    if venue == "binance":  # a range, stated by its ends
        assert "from 1 to 5000" in msg, msg
    else:  # a short list, every choice named
        assert all(str(g) in msg for g in DOCUMENTED_DEPTHS[venue][0]), msg


# ------------------------------------------------------------------------------------ table of errors


def with_change(path: str, value: object) -> dict:
    raw = bundled()
    *parents, last = path.split(".")
    node = raw
    for p in parents:
        if node.get(p) is None:
            node[p] = {}
        node = node[p]
    node[last] = value
    return raw


LONG = "x" * 10_000


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        # unknown keys: the message lists what is allowed
        ("metrics.depth_band", 50, ["metrics.depth_band", "unknown key", "depth_bands_bps"]),
        ("detector.half_life", 5, ["detector.half_life", "unknown key", "half_life_s"]),
        ("exchanges.binance.symbol", ["X"], ["exchanges.binance.symbol", "unknown key", "symbols"]),
        ("exchanges.ftx", {"symbols": ["BTC-USD"]}, ["exchanges.ftx", "unknown exchange", "binance"]),
        ("exchanges.okx.max_levels", 10, ["exchanges.okx.max_levels", "unknown key", "taker_fee_bps"]),
        ("exchanges.okx.name", "kraken", ["exchanges.okx.name", "unknown key"]),
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
        # the theme is one Textual ships
        ("ui.theme", "solarised-dark", ["ui.theme", "'solarised-dark'", "solarized-dark", "ansi-dark"]),
        ("ui.theme", "", ["ui.theme", "''", "textual-dark"]),
        # key bindings: known actions, one action per key, no key Textual reserves
        ("ui.keys", {"quiet": "q"}, ["ui.keys.quiet", "unknown action", "quit"]),
        ("ui.keys", {"next_symbol": "q"}, ["ui.keys.next_symbol", "'q'", "quit is bound to it too"]),
        ("ui.keys", {"chart": "v"}, ["ui.keys.chart", "'v'", "venues is bound to it too"]),
        ("ui.keys", {"help": "n", "quit": "n"}, ["ui.keys.quit", "'n'", "help is bound to it too"]),
        ("ui.keys", {"pause": "+"}, ["ui.keys.pause", "'plus'", "faster is bound to it too"]),  # replay's key
        ("ui.keys", {"help": "ctrl+p"}, ["ui.keys.help", "'ctrl+p'", "command palette"]),
        ("ui.keys", {"quit": "x,,y"}, ["ui.keys.quit", "empty key"]),
        ("ui.keys", {"quit": 5}, ["ui.keys.quit", "5", "key name string"]),
        ("ui.keys", ["q"], ["ui.keys", "mapping"]),
        # new: the book cap is validated and must hold every enabled venue's depth
        ("feeds.max_levels", 1000, ["feeds.max_levels", "1000", "exchanges.binance.depth (5000)"]),
        ("feeds.max_levels", 20.5, ["feeds.max_levels", "20.5", "integer"]),
        # a secret is never quoted
        ("recorder.dsn", ["postgresql://u:Tr0ub4dor@h/db"], ["recorder.dsn", "must be a string"]),
    ],
)
def test_errors_name_key_value_and_allowed(path: str, value: object, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(with_change(path, value))
    msg = str(e.value)
    for part in expected:
        assert part in msg, (part, msg)
    assert "\n" not in msg
    assert "Tr0ub4dor" not in msg


# ------------------------------------------------------------------------------------ absurd values


def documented_ranges() -> list[tuple[str, str, float, float, bool]]:
    """(key, low bracket, low, high, integer) for every ``key: value  # [low, high]`` line of settings.yaml."""
    out = []
    section = ""
    for line in SETTINGS_YAML.read_text(encoding="utf-8").splitlines():
        top = re.match(r"^(\w+):\s*$", line)
        if top:
            section = top.group(1)
            continue
        m = re.match(r"^  (\w+):\s*(\S+)\s+#\s*([\[(])([-+\d.e]+),\s*([-+\d.e]+)\]", line)
        if m and section != "exchanges":
            value = yaml.safe_load(m.group(2))
            lo, hi = (int(x) if re.fullmatch(r"-?\d+", x) else float(x) for x in (m.group(4), m.group(5)))
            out.append((f"{section}.{m.group(1)}", m.group(3), lo, hi, isinstance(value, int)))
    return out


RANGES = documented_ranges()


def test_every_number_has_a_documented_range() -> None:
    """Each number in every section has a [low, high] comment in settings.yaml, enforced by the schema."""
    numeric = set()
    for section, cls in (("metrics", config.MetricsConfig), ("detector", config.DetectorConfig),
                         ("feeds", config.FeedsConfig), ("ui", config.UIConfig), ("recorder", config.RecorderConfig),
                         ("consolidated", config.ConsolidatedConfig), ("demo", config.DemoConfig)):
        for f in dataclasses.fields(cls):
            if f.type in ("int", "float"):
                numeric.add(f"{section}.{f.name}")
    documented = {r[0] for r in RANGES}
    assert numeric <= documented, numeric - documented
    assert "feeds.max_levels" in documented


@pytest.mark.parametrize(("key", "bracket", "lo", "hi", "integer"), RANGES, ids=[r[0] for r in RANGES])
def test_the_schema_enforces_exactly_the_documented_range(key: str, bracket: str, lo: float, hi: float,
                                                          integer: bool) -> None:
    rule = config.RULES[key]
    assert (rule["lo"], rule["hi"], rule.get("lo_open", False)) == (lo, hi, bracket == "(")


@pytest.mark.parametrize(("key", "bracket", "lo", "hi", "integer"), RANGES, ids=[r[0] for r in RANGES])
def test_values_outside_the_documented_range_are_refused(key: str, bracket: str, lo: float, hi: float,
                                                         integer: bool) -> None:
    above = int(hi) * 10 + 1 if integer else hi * 10 + 1
    below = (int(lo) - 1) if integer else (lo if bracket == "(" else lo - abs(lo) * 0.5 - 0.001)
    for bad, bound in ((above, f"<= {hi:g}"), (below, f"{'>' if bracket == '(' else '>='} {lo:g}")):
        with pytest.raises(ConfigError) as e:
            parse_settings(with_change(key, bad))
        msg = str(e.value)
        assert msg.startswith(f"{key}: "), msg
        assert bound in msg, (bound, msg)


@pytest.mark.parametrize(("key", "value"), [
    # the values issue reports showed accepted
    ("metrics.sample_interval_s", 1e300),
    ("feeds.reconnect_min_s", 1e-300),
    ("feeds.max_frame_bytes", 1e30),
    ("recorder.spill_max_bytes", 1e30),
    ("recorder.batch_size", 10**12),
    ("recorder.flush_interval_s", 1e300),
    ("detector.half_life_s", 1e300),
    ("demo.seed", 2**64),
    ("demo.seed", -1),
    ("metrics.notionals", [1e300]),
    ("consolidated.quote_rates", {"USD": 1e300}),
    ("exchanges.binance.taker_fee_bps", 1e9),
])
def test_absurd_values_are_refused(key: str, value: Any) -> None:
    with pytest.raises(ConfigError) as e:
        parse_settings(with_change(key, value))
    assert key.split(".")[-1] in str(e.value)


# ------------------------------------------------------------------------------------ the file itself


def write(tmp_path: Path, data: bytes) -> Path:
    p = tmp_path / "s.yaml"
    p.write_bytes(data)
    return p


# The classic "billion laughs": 407 bytes that expand to 10**9 strings.
BOMB = ("a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
        + "".join(f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)))


@pytest.mark.parametrize(("name", "data", "expected"), [
    ("invalid UTF-8", b"ui:\n  theme: \xff\xfe dark\n", ["not valid UTF-8", "line 2"]),
    ("latin-1 file", "demo:\n  symbols: [BTC-EUR]  # \u00e9\n".encode("latin-1"), ["not valid UTF-8"]),
    ("alias bomb", BOMB.encode(), ["anchors and aliases", "line 1"]),
    ("one alias", b"exchanges:\n  binance: {symbols: &s [BTCUSDT]}\n  okx: {symbols: *s}\n", ["aliases"]),
    ("merge key", b"feeds: &f {stale_after_s: 5}\nui:\n  <<: *f\n", ["aliases"]),
    ("deep nesting", b"demo:\n  symbols: " + b"[" * 10_000 + b"]" * 10_000 + b"\n", ["nested deeper than"]),
    ("huge integer", b"demo:\n  seed: " + b"9" * 5000 + b"\n", ["line 2", "digits"]),
    ("long bad line", b"ui: {theme: " + b"y" * 100_000 + b" : : }\n", ["not valid YAML", "line 1"]),
    ("unhashable key", b"? [a, b]\n: 1\n", ["key"]),
    ("too large", b"# " + b"z" * (300 * 1024) + b"\n", ["larger than 256 KiB"]),
    ("long value", b"ui:\n  theme: " + b"w" * 100_000 + b"\n", ["ui.theme", "'wwww", "..."]),
    ("long key", b"ui:\n  " + b"k" * 1000 + b": 1\n", ["ui.'kkk", "unknown key"]),
    ("control character", b"ui:\n  theme: \x07\n", ["not valid YAML"]),
], ids=lambda x: x if isinstance(x, str) else "")
def test_bad_files_are_one_short_line(tmp_path: Path, name: str, data: bytes, expected: list[str]) -> None:
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as e:
            load_settings(write(tmp_path, data), env={})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    msg = str(e.value)
    for part in expected:
        assert part in msg, (part, msg)
    assert "\n" not in msg and len(msg) < 400, msg
    assert peak < 64 * 1024 * 1024, peak  # the bomb never expands; a refused file costs a few times its size


@pytest.mark.parametrize(("text", "value"), [("5e-1", 0.5), ("1E2", 100.0), ("2.5e+1", 25.0), ("3", 3.0)])
def test_exponent_numbers_are_numbers(text: str, value: float) -> None:
    """YAML 1.1 reads 5e-1 as the string '5e-1'; a settings file means the number, as YAML 1.2 does."""
    assert parse_yaml(f"metrics: {{sample_interval_s: {text}}}").metrics.sample_interval_s == value


def test_duplicate_yaml_keys_are_an_error() -> None:
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_yaml("detector:\n  open_z: 3\n  open_z: 4\n", source="t.yaml")


def test_unknown_top_level_section() -> None:
    with pytest.raises(ConfigError, match=r"alarms: unknown key; allowed keys are .*detector"):
        parse_settings({"alarms": {}})


def test_empty_sections_take_defaults() -> None:
    s = parse_settings({"detector": None, "metrics": {}})
    assert s.detector.open_z == 3.0 and s.metrics.depth_bands_bps == [10, 50, 100, 200]


# ------------------------------------------------------------------------------------ themes and keys


def test_theme_catalogue_is_textuals_builtin_themes() -> None:
    from textual.theme import BUILTIN_THEMES

    assert set(config.THEMES) == set(BUILTIN_THEMES)
    for theme in ("ansi-dark", "ansi-light", "nord"):
        assert parse_settings({"ui": {"theme": theme}}).ui.theme == theme


def test_reserved_keys_are_the_ones_textual_binds_on_every_app() -> None:
    from textual.app import App

    textual_keys = {b.key for b in App.BINDINGS} | {App.COMMAND_PALETTE_BINDING}
    assert set(config.RESERVED_KEYS) == textual_keys


@pytest.mark.parametrize("chars", ["?", "+", "-", "/", "@", "_", "!", "a", "Q", "ctrl+x", "\\", "[", ".", "<", "5"])
def test_keys_are_normalised_as_textual_names_them(chars: str) -> None:
    from textual.keys import _normalize_key_list

    assert config.normalize_key(chars) == _normalize_key_list(chars)


@pytest.mark.parametrize(("keys", "stored"), [
    ({"quit": "ctrl+x", "next_symbol": "q"}, {"quit": "ctrl+x", "next_symbol": "q"}),  # q is free again
    ({"next_symbol": "up", "prev_symbol": "down"}, {"next_symbol": "up", "prev_symbol": "down"}),  # a swap
    ({"help": "?,h"}, {"help": "question_mark,h"}),
    ({"faster": "]", "slower": "["}, {"faster": "right_square_bracket", "slower": "left_square_bracket"}),
])
def test_valid_remaps_are_accepted_and_normalised(keys: dict[str, str], stored: dict[str, str]) -> None:
    assert parse_settings({"ui": {"keys": keys}}).ui.keys == stored
    assert check_keys(keys) == stored


def test_every_action_has_its_own_default_key() -> None:
    defaults = [k.key for k in config.ALL_KEYS]
    assert len(defaults) == len(set(defaults))
    assert check_keys({}) == {}
