"""settings.yaml -> typed, validated settings: the ONE schema, checked before anything starts.

A bad setting stops the program at start-up with one line naming the key, a short prefix of the value
and what is allowed, because a monitor that silently falls back to a default shows numbers the user
did not ask for, and a mistake found after the feeds started ends in a traceback. Every key is
checked here: each venue's depth against the depths its spec offers, the theme against the shipped
themes, key bindings against the app's actions (two actions on one key are refused), every number
against a documented range (config/settings.yaml states them). The file itself is bounded: at most
``MAX_FILE_BYTES``, UTF-8, no YAML anchors or aliases (an alias bomb of a few hundred bytes expands to
gigabytes), at most ``MAX_NESTING`` levels deep.

Secrets come from the environment (``LCM_PG_DSN`` or the standard ``PG*`` variables) so they never
need to live in YAML, and a DSN is never quoted in an error.
"""

from __future__ import annotations

import difflib
import math
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lcm_tui.core.settings import AlertsConfig as AlertsConfig
from lcm_tui.core.settings import CollectorConfig as CollectorConfig
from lcm_tui.core.settings import ConfigError as ConfigError
from lcm_tui.core.settings import ConsolidatedConfig as ConsolidatedConfig
from lcm_tui.core.settings import DemoConfig as DemoConfig
from lcm_tui.core.settings import DetectorConfig as DetectorConfig
from lcm_tui.core.settings import FeedsConfig as FeedsConfig
from lcm_tui.core.settings import MetricsConfig as MetricsConfig
from lcm_tui.core.settings import NatsConfig as NatsConfig
from lcm_tui.core.settings import PrometheusConfig as PrometheusConfig
from lcm_tui.core.settings import RecorderConfig as RecorderConfig
from lcm_tui.core.settings import Settings as CoreSettings
from lcm_tui.core.settings import UIConfig as UIConfig
from lcm_tui.core.settings import VenueConfig as VenueConfig
from lcm_tui.core.settings import WebhookConfig as WebhookConfig
from lcm_tui.venues import registry

MAX_FILE_BYTES = 256 * 1024  # a settings file is a few KB; 256 KiB holds ~20,000 symbols and parses in ~2 s
MAX_NESTING = 16  # settings.yaml is 4 levels deep at most (ui.keys, exchanges.<venue>.symbols)
MAX_QUOTE = 40  # characters of a value quoted in an error message
MAX_DIGITS = 30  # digits of an integer in the file (the largest allowed value, 2**63 - 1, has 19)


# ---------------------------------------------------------------------------------- venues


def default_venue(name: str) -> VenueConfig:
    """The venue as its spec declares it, disabled: what a venue the file does not mention gets."""
    sp = registry.spec(name)
    return VenueConfig(name=name, enabled=False, ws_url=sp.ws_url, snapshot_url=sp.snapshot_url,
                       depth=sp.default_depth, taker_fee_bps=sp.taker_fee_bps)


def _registry_venues() -> dict[str, VenueConfig]:
    return {name: default_venue(name) for name in registry.names()}


@dataclass(slots=True)
class Settings(CoreSettings):
    """The core's Settings with every registry venue present (unmentioned ones disabled, spec defaults)."""

    venues: dict[str, VenueConfig] = field(default_factory=_registry_venues)


# ---------------------------------------------------------------------------------- themes and keys

# The themes a user can name in ``ui.theme``: Textual's built-in themes (textual is pinned exactly, and a
# test compares this list with the installed Textual). ansi-dark and ansi-light draw with the
# terminal's own palette, which is what works over SSH and in terminals without truecolor. Kept as
# plain names so validating a config never imports the TUI.
THEMES: tuple[str, ...] = (
    "ansi-dark", "ansi-light", "atom-one-dark", "atom-one-light", "catppuccin-frappe", "catppuccin-latte",
    "catppuccin-macchiato", "catppuccin-mocha", "dracula", "flexoki", "gruvbox", "monokai", "nord",
    "rose-pine", "rose-pine-dawn", "rose-pine-moon", "solarized-dark", "solarized-light", "textual-dark",
    "textual-light", "tokyo-night",
)


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A binding whose key can be remapped with ``ui.keys`` (the id is the name users write)."""

    id: str
    key: str
    action: str  # the Textual action it runs
    description: str
    show: bool = True


# The live app's remappable actions (the replay app adds REPLAY_KEYS).
KEYS: tuple[KeySpec, ...] = (
    KeySpec("next_symbol", "down", "next_symbol", "symbol"),
    KeySpec("prev_symbol", "up", "prev_symbol", "prev symbol", show=False),
    KeySpec("next_venue", "right", "next_venue", "venue"),
    KeySpec("prev_venue", "left", "prev_venue", "prev venue", show=False),
    *(KeySpec(f"venue_{i}", str(i), f"pick_venue({i})", f"venue {i}", show=False) for i in range(1, 10)),
    KeySpec("pause", "space", "toggle_pause", "pause"),
    KeySpec("venues", "v", "toggle_page('venues')", "venues"),
    KeySpec("consolidated", "c", "toggle_page('consolidated')", "consolidated", show=False),
    KeySpec("chart", "g", "toggle_panel('chart')", "chart"),
    KeySpec("zscores", "z", "toggle_panel('zscores')", "z-scores", show=False),
    KeySpec("alerts", "a", "toggle_panel('alerts')", "alerts", show=False),
    KeySpec("slippage", "s", "toggle_panel('slippage')", "slippage", show=False),
    KeySpec("theme", "t", "next_theme", "theme", show=False),
    # The alerts panel (book page and venues page): filters, a cursor, acknowledge, go to the alert.
    KeySpec("alerts_open", "o", "alert_filter('open')", "open alerts only", show=False),
    KeySpec("alerts_severity", "e", "alert_filter('severity')", "minimum severity", show=False),
    KeySpec("alerts_venue", "f", "alert_filter('venue')", "this venue's alerts", show=False),
    KeySpec("alert_next", "j", "alert_cursor(1)", "next alert", show=False),
    KeySpec("alert_prev", "k", "alert_cursor(-1)", "previous alert", show=False),
    KeySpec("alert_ack", "m", "alert_ack", "acknowledge alert", show=False),
    KeySpec("alert_go", "enter", "alert_go", "go to alert", show=False),
    KeySpec("help", "question_mark", "help", "help"),
    KeySpec("quit", "q", "quit", "quit"),
)
REPLAY_KEYS: tuple[KeySpec, ...] = (
    KeySpec("faster", "plus", "speed(1)", "faster"),
    KeySpec("slower", "minus", "speed(-1)", "slower"),
    # Replay as a time machine: seek, go to a typed time, one record at a time, from alert to alert.
    KeySpec("seek_back_10s", "comma", "seek(-10)", "-10s", show=False),
    KeySpec("seek_forward_10s", "full_stop", "seek(10)", "+10s", show=False),
    KeySpec("seek_back_1m", "less_than_sign", "seek(-60)", "-1m", show=False),
    KeySpec("seek_forward_1m", "greater_than_sign", "seek(60)", "+1m", show=False),
    KeySpec("seek_to_time", "slash", "jump_to_time", "go to time", show=False),
    KeySpec("step", "i", "step", "step", show=False),
    KeySpec("seek_next_alert", "l", "alert(1)", "next alert", show=False),
    KeySpec("seek_prev_alert", "b", "alert(-1)", "prev alert", show=False),
)
# One settings file serves both apps, so a key is checked against every action of either.
ALL_KEYS: tuple[KeySpec, ...] = KEYS + REPLAY_KEYS
# Keys Textual itself binds on every app: rebinding an action onto them would hide the original.
RESERVED_KEYS: dict[str, str] = {
    "ctrl+p": "the command palette",
    "ctrl+q": "Textual's quit",
    "ctrl+c": "Textual's quit help",
}
MAX_KEY_CHARS = 64

# Textual's names for punctuation keys it spells differently from Unicode.
_KEY_NAME_REPLACEMENTS = {
    "solidus": "slash", "reverse_solidus": "backslash", "commercial_at": "at",
    "hyphen_minus": "minus", "plus_sign": "plus", "low_line": "underscore",
}


def normalize_key(key: str) -> str:
    """A key as Textual names it: '?' -> 'question_mark', '+' -> 'plus'; longer names unchanged."""
    key = key.strip()
    if len(key) == 1 and not key.isalnum():
        name = unicodedata.name(key, key).lower().replace("-", "_").replace(" ", "_")
        return _KEY_NAME_REPLACEMENTS.get(name, name)
    return key


def check_keys(keys: Mapping[Any, Any], path: str = "ui.keys") -> dict[str, str]:
    """Validate ``ui.keys`` (action -> key, or comma-separated keys); returns it with keys normalised.

    Refused: an action the app does not have, a key that is not a short string, a key Textual reserves,
    and a key that would end up bound to two actions (after remapping, against every default binding).
    """
    known = {k.id for k in ALL_KEYS}
    out: dict[str, str] = {}
    for name, v in keys.items():
        if name not in known:
            # The catalogue is long (the README's Keys table lists it): name the likely ones, not all 40.
            near = difflib.get_close_matches(str(name), sorted(known), n=3, cutoff=0.5)
            hint = f"did you mean {' or '.join(near)}?" if near else "the actions are the README's Keys table"
            raise ConfigError(f"{path}.{_k(name)}: unknown action; {hint}")
        key = f"{path}.{name}"
        if not isinstance(v, str) or not v.strip():
            raise ConfigError(f"{key}: {_q(v)} is not allowed: must be a key name string such as 'n' or 'ctrl+n'")
        if len(v) > MAX_KEY_CHARS:
            raise ConfigError(f"{key}: {_q(v)} is not allowed: at most {MAX_KEY_CHARS} characters")
        parts = v.split(",")
        if any(not p.strip() for p in parts):
            raise ConfigError(f"{key}: {_q(v)} is not allowed: an empty key between commas")
        out[name] = ",".join(dict.fromkeys(normalize_key(p) for p in parts))
    owner: dict[str, str] = {}
    for spec in ALL_KEYS:
        for k in out.get(spec.id, spec.key).split(","):
            if k in RESERVED_KEYS:
                raise ConfigError(f"{path}.{spec.id}: {_q(k)} is not allowed: it is {RESERVED_KEYS[k]}")
            if k in owner:
                culprit, other = (spec.id, owner[k]) if spec.id in out else (owner[k], spec.id)
                raise ConfigError(f"{path}.{culprit}: {_q(k)} is not allowed: {other} is bound to it too; "
                                  f"two actions cannot share a key")
            owner[k] = spec.id
    return out


# ---------------------------------------------------------------------------------- message helpers


def _q(v: Any) -> str:
    """A value as an error message quotes it: repr, at most MAX_QUOTE characters, always one line."""
    if isinstance(v, int) and not isinstance(v, bool) and v.bit_length() > 128:
        return f"<an integer of about {int(v.bit_length() * math.log10(2)) + 1} digits>"
    try:
        r = repr(v)
    except ValueError:  # e.g. a value too large to print
        r = f"<a {type(v).__name__}>"
    return r if len(r) <= MAX_QUOTE else r[:MAX_QUOTE] + "..."


def _k(key: Any) -> str:
    """A key name as a message prints it: plain when short and printable, else quoted and cut."""
    if isinstance(key, str) and key.isprintable() and 0 < len(key) <= MAX_QUOTE and " " not in key:
        return key
    return _q(key)


def _check_keys(path: str, raw: Mapping[Any, Any], allowed: Iterable[str]) -> None:
    allowed = list(allowed)
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"{path}{_k(k)}: unknown key; allowed keys are {', '.join(sorted(allowed))}")


def _number(path: str, v: Any, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, integer: bool = False) -> float:
    kind = "an integer" if integer else "a number"
    if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not math.isfinite(v)):
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be {kind}{_range(lo, hi, lo_open)}")
    if integer and isinstance(v, float) and not v.is_integer():
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be an integer")
    if (lo is not None and (v <= lo if lo_open else v < lo)) or (hi is not None and v > hi):
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be{_range(lo, hi, lo_open)}")
    return int(v) if integer else float(v)


def _range(lo: float | None, hi: float | None, lo_open: bool) -> str:
    parts = []
    if lo is not None:
        parts.append(f"{'>' if lo_open else '>='} {lo:g}")
    if hi is not None:
        parts.append(f"<= {hi:g}")
    return (" " + " and ".join(parts)) if parts else ""


def _string(path: str, v: Any, *, max_len: int = 4096, secret: bool = False) -> str:
    shown = "the value" if secret else _q(v)
    if not isinstance(v, str):
        raise ConfigError(f"{path}: {shown} is not allowed: must be a string")
    if len(v) > max_len:
        raise ConfigError(f"{path}: {shown} is not allowed: at most {max_len} characters")
    return v


def _bool(path: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be true or false")
    return v


def _mapping(path: str, v: Any) -> dict[Any, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be a mapping")
    return v


def _list(path: str, v: Any, *, max_len: int) -> list[Any]:
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{path}: {_q(v)} is not allowed: must be a non-empty list")
    if len(v) > max_len:
        raise ConfigError(f"{path}: a list of {len(v)} is not allowed: at most {max_len} entries")
    return v


# ---------------------------------------------------------------------------------- the schema

# The documented range of every number (config/settings.yaml repeats them). Ranges are wide enough for
# any real use and narrow enough that a typo (1e300, 1e-300) cannot hang, spin or exhaust memory.
_DAY = 86_400.0
RULES: dict[str, dict[str, Any]] = {
    "metrics.sample_interval_s": {"lo": 0.01, "hi": 3600.0},
    "detector.half_life_s": {"lo": 1.0, "hi": 30 * _DAY},
    "detector.warmup_samples": {"lo": 1, "hi": 1_000_000},
    "detector.consecutive": {"lo": 1, "hi": 10_000},
    "detector.open_z": {"lo": 0.0, "lo_open": True, "hi": 100.0},
    "detector.close_z": {"lo": 0.0, "hi": 100.0},
    "detector.high_z": {"lo": 0.0, "lo_open": True, "hi": 100.0},
    "detector.critical_z": {"lo": 0.0, "lo_open": True, "hi": 100.0},
    "detector.depth_band_bps": {"lo": 1, "hi": 10_000},
    "feeds.stale_after_s": {"lo": 0.1, "hi": 3600.0},
    "feeds.max_frame_bytes": {"lo": 1024, "hi": 1024**3},
    "feeds.reconnect_min_s": {"lo": 0.01, "hi": 3600.0},
    "feeds.reconnect_max_s": {"lo": 0.01, "hi": 3600.0},
    "feeds.rollover_s": {"lo": 60.0, "hi": _DAY},
    "feeds.ping_interval_s": {"lo": 0.1, "hi": 300.0},
    "feeds.max_levels": {"lo": 100, "hi": 10_000_000},
    "ui.fps": {"lo": 0.5, "hi": 60.0},
    "ui.chart_max_hz": {"lo": 0.1, "hi": 30.0},
    "recorder.batch_size": {"lo": 1, "hi": 100_000},
    "recorder.flush_interval_s": {"lo": 0.01, "hi": 3600.0},
    "recorder.max_queue": {"lo": 1, "hi": 10_000_000},
    "recorder.spill_max_bytes": {"lo": 1024, "hi": 1024**4},
    "recorder.book_snapshot_interval_s": {"lo": 0.0, "hi": _DAY},
    "recorder.book_snapshot_levels": {"lo": 1, "hi": 10_000},
    "consolidated.market_min_venues": {"lo": 1, "hi": 1000},
    "consolidated.market_min_fraction": {"lo": 0.0, "hi": 1.0},
    "demo.seed": {"lo": 0, "hi": 2**63 - 1},
    "prometheus.port": {"lo": 0, "hi": 65535},
    "alerts.rate_limit_s": {"lo": 0.0, "hi": _DAY},
    "alerts.retries": {"lo": 0, "hi": 100},
    "collector.book_levels": {"lo": 1, "hi": 1000},
    "collector.heartbeat_s": {"lo": 0.1, "hi": 1.5},
    "alerts.webhooks[].timeout_s": {"lo": 0.1, "hi": 300.0},
    # keys with a [] or a venue in their path
    "exchanges.*.taker_fee_bps": {"lo": 0.0, "hi": 1000.0},
    "metrics.depth_bands_bps[]": {"lo": 1, "hi": 10_000},
    "metrics.notionals[]": {"lo": 0.0, "lo_open": True, "hi": 1e12},
    "consolidated.quote_rates.*": {"lo": 0.0, "lo_open": True, "hi": 1e12},
}
SECRET_KEYS = frozenset({"recorder.dsn"})
MAX_SYMBOLS = 10_000  # per venue
MAX_SYMBOL_CHARS = 64
MAX_URL_CHARS = 2048
# The keys of an exchanges.<venue> section (VenueConfig's other fields are filled in by the schema).
VENUE_KEYS = ("enabled", "symbols", "ws_url", "snapshot_url", "depth", "taker_fee_bps")


def _rule_number(rule: str, path: str, v: Any, *, integer: bool) -> float:
    return _number(path, v, integer=integer, **RULES[rule])


def check_number(key: str, v: Any, *, name: str | None = None) -> float:
    """``v`` checked against the documented range of setting ``key`` (a command-line override of it)."""
    return _number(name or key, v, integer=isinstance(v, int) and not isinstance(v, bool), **RULES[key])


def _scalar_section(path: str, raw: Any, obj: Any) -> Any:
    raw = _mapping(path, raw)
    names = [f.name for f in fields(obj)]
    _check_keys(path + ".", raw, names)
    for name, v in raw.items():
        key = f"{path}.{name}"
        cur = getattr(obj, name)
        if isinstance(cur, bool):
            setattr(obj, name, _bool(key, v))
        elif isinstance(cur, int | float):
            setattr(obj, name, _rule_number(key, key, v, integer=isinstance(cur, int)))
        elif isinstance(cur, str):
            setattr(obj, name, _string(key, v, secret=key in SECRET_KEYS))
        else:
            setattr(obj, name, v)  # lists and dicts are checked by their section
    return obj


def _symbols(key: str, v: Any) -> list[str]:
    syms = _list(key, v, max_len=MAX_SYMBOLS)
    for i, s in enumerate(syms):
        if not isinstance(s, str) or not s.strip() or len(s) > MAX_SYMBOL_CHARS:
            raise ConfigError(f"{key}[{i}]: {_q(s)} is not allowed: must be a non-empty symbol string "
                              f"of at most {MAX_SYMBOL_CHARS} characters")
    if len(set(syms)) != len(syms):
        dup = next(s for i, s in enumerate(syms) if s in syms[:i])
        raise ConfigError(f"{key}: {_q(dup)} appears twice: symbols must be unique")
    return [s.strip() for s in syms]


def _parse_venues(raw: Any) -> dict[str, VenueConfig]:
    raw = _mapping("exchanges", raw)
    for name in raw:
        if name not in registry.names():
            raise ConfigError(f"exchanges.{_k(name)}: unknown exchange; allowed are {', '.join(registry.names())}")
    out = _registry_venues()  # registry order, whatever the file's order
    allowed = VENUE_KEYS
    for name, body in raw.items():
        sp = registry.spec(name)
        vc = out[name]
        vc.enabled = True
        body = _mapping(f"exchanges.{name}", body)
        _check_keys(f"exchanges.{name}.", body, allowed)
        for k, v in body.items():
            key = f"exchanges.{name}.{k}"
            if k == "enabled":
                vc.enabled = _bool(key, v)
            elif k == "symbols":
                vc.symbols = _symbols(key, v)
            elif k in ("ws_url", "snapshot_url"):
                url = _string(key, v, max_len=MAX_URL_CHARS)
                if (url or k == "ws_url") and not url.startswith(("ws://", "wss://", "http://", "https://")):
                    raise ConfigError(f"{key}: {_q(url)} is not allowed: must start with ws://, wss://, "
                                      f"http:// or https://")
                setattr(vc, k, url)
            elif k == "depth":
                depth = int(_number(key, v, integer=True))
                if not sp.offers_depth(depth):
                    raise ConfigError(f"{key}: {_q(v)} is not allowed: must be {sp.describe_depths()}")
                vc.depth = depth
            elif k == "taker_fee_bps":
                vc.taker_fee_bps = _rule_number("exchanges.*.taker_fee_bps", key, v, integer=False)
    return out


SEVERITIES = ("warning", "high", "critical")
_NATS_SECRETS = frozenset({"password", "token"})


def _names(key: str, v: Any) -> list[str]:
    return [] if v is None or v == [] else _symbols(key, v)


def _severity(key: str, v: Any) -> str:
    if v not in SEVERITIES:
        raise ConfigError(f"{key}: {_q(v)} is not allowed: must be one of {', '.join(SEVERITIES)}")
    return str(v)


def _parse_alerts(raw: Any) -> AlertsConfig:
    """``alerts``: webhooks (each a url and optional filters), a command hook, filters and a rate limit."""
    raw = _mapping("alerts", raw)
    _check_keys("alerts.", raw, [f.name for f in fields(AlertsConfig)])
    out = AlertsConfig()
    hooks = raw.get("webhooks")
    for i, h in enumerate([] if hooks is None else _list("alerts.webhooks", hooks, max_len=32)):
        key = f"alerts.webhooks[{i}]"
        h = _mapping(key, h)
        _check_keys(key + ".", h, [f.name for f in fields(WebhookConfig)])
        url = _string(f"{key}.url", h.get("url"), max_len=MAX_URL_CHARS, secret=True)
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.url: the value is not allowed: must be an http:// or https:// URL")
        out.webhooks.append(WebhookConfig(
            url=url, min_severity=_severity(f"{key}.min_severity", h.get("min_severity", "warning")),
            venues=_names(f"{key}.venues", h.get("venues")), symbols=_names(f"{key}.symbols", h.get("symbols")),
            timeout_s=_rule_number("alerts.webhooks[].timeout_s", f"{key}.timeout_s", h.get("timeout_s", 5.0),
                                   integer=False)))
    if "command" in raw:
        out.command = _string("alerts.command", raw["command"], max_len=4096)
    out.min_severity = _severity("alerts.min_severity", raw.get("min_severity", "warning"))
    out.venues = _names("alerts.venues", raw.get("venues"))
    out.symbols = _names("alerts.symbols", raw.get("symbols"))
    out.rate_limit_s = _rule_number("alerts.rate_limit_s", "alerts.rate_limit_s", raw.get("rate_limit_s", 60.0),
                                    integer=False)
    out.retries = int(_rule_number("alerts.retries", "alerts.retries", raw.get("retries", 5), integer=True))
    return out


def _parse_nats(raw: Any) -> NatsConfig:
    raw = _mapping("nats", raw)
    _check_keys("nats.", raw, [f.name for f in fields(NatsConfig)])
    out = NatsConfig()
    for k, v in raw.items():
        setattr(out, k, _string(f"nats.{k}", v, max_len=MAX_URL_CHARS, secret=k in _NATS_SECRETS or k == "url"))
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,32}", out.prefix):
        raise ConfigError(f"nats.prefix: {_q(out.prefix)} is not allowed: 1-32 characters of A-Z a-z 0-9 _ -")
    return out


def _parse_collector(raw: Any) -> CollectorConfig:
    raw = _mapping("collector", raw)
    _check_keys("collector.", raw, ["shard", "id", "book_levels", "heartbeat_s"])
    out = CollectorConfig()
    shard = _mapping("collector.shard", raw.get("shard"))
    _check_keys("collector.shard.", shard, ["venues", "symbols"])
    out.shard_venues = _names("collector.shard.venues", shard.get("venues"))
    for v in out.shard_venues:
        if v not in registry.names():
            raise ConfigError(f"collector.shard.venues: {_q(v)} is not allowed: one of {', '.join(registry.names())}")
    out.shard_symbols = _names("collector.shard.symbols", shard.get("symbols"))
    if "id" in raw:
        out.id = _string("collector.id", raw["id"], max_len=64)
    out.book_levels = int(_rule_number("collector.book_levels", "collector.book_levels", raw.get("book_levels", 20),
                                        integer=True))
    out.heartbeat_s = _rule_number("collector.heartbeat_s", "collector.heartbeat_s", raw.get("heartbeat_s", 1.0),
                                   integer=False)
    return out


def parse_settings(raw: Any, source: str = "<memory>") -> Settings:
    """Validate a parsed YAML document into Settings."""
    raw = _mapping("<top level>", raw)
    s = Settings(source=source)
    sections = ["exchanges", "metrics", "detector", "feeds", "ui", "recorder", "consolidated", "demo", "alerts",
                "nats", "collector", "prometheus"]
    _check_keys("", raw, sections)
    s.venues = _parse_venues(raw.get("exchanges"))
    s.metrics = _scalar_section("metrics", raw.get("metrics"), MetricsConfig())
    s.detector = _scalar_section("detector", raw.get("detector"), DetectorConfig())
    s.feeds = _scalar_section("feeds", raw.get("feeds"), FeedsConfig())
    s.ui = _scalar_section("ui", raw.get("ui"), UIConfig())
    s.recorder = _scalar_section("recorder", raw.get("recorder"), RecorderConfig())
    s.consolidated = _scalar_section("consolidated", raw.get("consolidated"), ConsolidatedConfig())
    s.demo = _scalar_section("demo", raw.get("demo"), DemoConfig())
    s.alerts = _parse_alerts(raw.get("alerts"))
    s.nats = _parse_nats(raw.get("nats"))
    s.collector = _parse_collector(raw.get("collector"))
    s.prometheus = _scalar_section("prometheus", raw.get("prometheus"), PrometheusConfig())

    m = s.metrics
    bands = _list("metrics.depth_bands_bps", m.depth_bands_bps, max_len=32)
    m.depth_bands_bps = sorted(
        int(_rule_number("metrics.depth_bands_bps[]", f"metrics.depth_bands_bps[{i}]", b, integer=True))
        for i, b in enumerate(bands)
    )
    if len(set(m.depth_bands_bps)) != len(m.depth_bands_bps):
        raise ConfigError(f"metrics.depth_bands_bps: {_q(bands)} is not allowed: bands must be unique")
    notionals = _list("metrics.notionals", m.notionals, max_len=32)
    m.notionals = sorted(
        _rule_number("metrics.notionals[]", f"metrics.notionals[{i}]", n, integer=False)
        for i, n in enumerate(notionals)
    )
    d = s.detector
    if d.close_z >= d.open_z:
        raise ConfigError(f"detector.close_z: {d.close_z!r} is not allowed: must be below detector.open_z ({d.open_z})")
    if not d.open_z <= d.high_z <= d.critical_z:
        raise ConfigError(
            f"detector.high_z: {d.high_z!r} is not allowed: need open_z <= high_z <= critical_z "
            f"({d.open_z}, {d.high_z}, {d.critical_z})"
        )
    if d.depth_band_bps not in m.depth_bands_bps:
        raise ConfigError(
            f"detector.depth_band_bps: {d.depth_band_bps!r} is not allowed: must be one of "
            f"metrics.depth_bands_bps {m.depth_bands_bps}"
        )
    f = s.feeds
    if f.reconnect_max_s < f.reconnect_min_s:
        raise ConfigError(f"feeds.reconnect_max_s: {f.reconnect_max_s!r} is not allowed: "
                          f"must be >= feeds.reconnect_min_s ({f.reconnect_min_s!r})")
    for vc in s.enabled_venues():
        if vc.depth > f.max_levels:
            raise ConfigError(f"feeds.max_levels: {f.max_levels!r} is not allowed: must be >= "
                              f"exchanges.{vc.name}.depth ({vc.depth}), or that venue's books are cut")
    for vc in s.venues.values():
        vc.max_levels = f.max_levels  # the adapters build their books with it (venues.base)
    if s.ui.theme not in THEMES:
        raise ConfigError(f"ui.theme: {_q(s.ui.theme)} is not allowed: must be one of {', '.join(THEMES)}")
    s.ui.keys = check_keys(_mapping("ui.keys", s.ui.keys))
    rates = _mapping("consolidated.quote_rates", s.consolidated.quote_rates)
    if len(rates) > 100:
        raise ConfigError(f"consolidated.quote_rates: {len(rates)} rates are not allowed: at most 100")
    out_rates: dict[str, float] = {}
    for k, v in rates.items():
        if not isinstance(k, str) or not k.isalnum() or len(k) > 16:
            raise ConfigError(f"consolidated.quote_rates.{_k(k)}: not allowed: a currency code such as USDT")
        out_rates[k.upper()] = _rule_number("consolidated.quote_rates.*", f"consolidated.quote_rates.{k}", v,
                                            integer=False)
    s.consolidated.quote_rates = out_rates
    demo_syms = _list("demo.symbols", s.demo.symbols, max_len=100)
    for i, sym in enumerate(demo_syms):
        if not isinstance(sym, str) or sym.count("-") != 1 or len(sym) > MAX_SYMBOL_CHARS or not all(sym.split("-")):
            raise ConfigError(f"demo.symbols[{i}]: {_q(sym)} is not allowed: must look like BASE-QUOTE, e.g. BTC-USDT")
    return s


def apply_env(s: Settings, env: dict[str, str] | None = None) -> Settings:
    """Secrets from the environment win over the file: LCM_PG_DSN, else the libpq PG* variables."""
    env = dict(os.environ if env is None else env)
    if env.get("LCM_PG_DSN"):
        s.recorder.dsn = env["LCM_PG_DSN"]
    return s


# ---------------------------------------------------------------------------------- the file


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses what a settings file never needs and an attacker would use.

    Duplicate keys (PyYAML would silently keep the last one), anchors and aliases (``&a`` / ``*a``: the
    only way a small document grows into a huge one), and nesting deeper than ``MAX_NESTING`` (the
    composer recurses once per level).
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise ConfigError(f"line {line}: YAML anchors and aliases (&name, *name) are not allowed in settings")
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise ConfigError(f"line {line}: nested deeper than {MAX_NESTING} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_int(loader: _StrictLoader, node: yaml.ScalarNode) -> int:
    text = str(node.value)
    if sum(c.isdigit() for c in text) > MAX_DIGITS:  # int() of thousands of digits is slow, then refused
        raise ConfigError(f"line {node.start_mark.line + 1}: a number of more than {MAX_DIGITS} digits is not allowed")
    return int(loader.construct_yaml_int(node))


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            dup = key in seen
        except TypeError:  # an unhashable key (a list): refused by name below
            raise ConfigError(f"line {key_node.start_mark.line + 1}: a key must be a plain name") from None
        if dup:
            line = key_node.start_mark.line + 1
            raise ConfigError(f"{_k(key)}: duplicate key (line {line}); each key may appear once")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_StrictLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
# YAML 1.1 reads 1e300 and 5e-3 (no dot) as strings; a settings file means numbers, as YAML 1.2 does.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"), list("-+0123456789"))


def _yaml_problem(e: yaml.YAMLError) -> str:
    if isinstance(e, yaml.MarkedYAMLError) and e.problem_mark is not None:
        m = e.problem_mark
        return f"line {m.line + 1}, column {m.column + 1}: {_cut(e.problem or 'syntax error')}"
    return _cut(str(e).splitlines()[0] if str(e) else type(e).__name__)


def _cut(text: str, n: int = 100) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[:n] + "..."


def parse_yaml(text: str, source: str = "<memory>") -> Settings:
    """Parse and validate settings YAML text."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {_yaml_problem(e)}") from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    except (ValueError, OverflowError, RecursionError) as e:  # e.g. an integer of 5000 digits
        raise ConfigError(f"{source}: a value cannot be read: {_cut(str(e))}") from None
    try:
        return parse_settings(raw, source=source)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def read_settings_text(p: Path) -> str:
    """The file's text: refused when larger than MAX_FILE_BYTES or not UTF-8."""
    try:
        with p.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(f"{p}: cannot be read: {e.strerror or type(e).__name__}") from None
    if len(data) > MAX_FILE_BYTES:
        raise ConfigError(f"{p}: larger than {MAX_FILE_BYTES // 1024} KiB; a settings file is a few KB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{p}: not valid UTF-8 (line {line}, byte {e.start}); settings must be UTF-8 text") from None


def bundled_settings_path() -> Path:
    """The settings.yaml shipped in the package (a copy of the top-level config/settings.yaml)."""
    return Path(str(resources.files("lcm_tui").joinpath("config/settings.yaml")))


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate settings: an explicit path, else ./config/settings.yaml, else the bundled one."""
    candidates = [Path(path)] if path else [Path("config/settings.yaml"), bundled_settings_path()]
    for p in candidates:
        if p.is_file():
            return apply_env(parse_yaml(read_settings_text(p), source=str(p)), env)
        if path:
            raise ConfigError(f"{_k(str(p))}: config file not found")
    return apply_env(Settings(), env)
