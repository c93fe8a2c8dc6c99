"""settings.yaml -> typed, validated objects.

A bad setting fails at start-up with the key path, the value and what is allowed, because a monitor
that silently falls back to a default shows numbers the user did not ask for. Secrets come from the
environment (``LCM_PG_DSN`` or the standard ``PG*`` variables) so they never need to live in YAML.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from lcm_tui.core.model import VENUES


class ConfigError(ValueError):
    """A setting is wrong; the message names the key, the value and what is allowed."""


# Real endpoints. The simulator replaces them in --demo and in tests.
DEFAULT_ENDPOINTS: dict[str, dict[str, str]] = {
    "binance": {
        "ws_url": "wss://data-stream.binance.vision",
        "snapshot_url": "wss://ws-api.binance.com:443/ws-api/v3",
    },
    "binance-usdm": {
        "ws_url": "wss://fstream.binance.com/public",
        "snapshot_url": "https://fapi.binance.com/fapi/v1/depth",
    },
    "bybit-spot": {"ws_url": "wss://stream.bybit.com/v5/public/spot", "snapshot_url": ""},
    "bybit-linear": {"ws_url": "wss://stream.bybit.com/v5/public/linear", "snapshot_url": ""},
    "okx": {
        "ws_url": "wss://ws.okx.com:8443/ws/v5/public",
        "snapshot_url": "https://www.okx.com/api/v5/market/books",
    },
    "kraken": {"ws_url": "wss://ws.kraken.com/v2", "snapshot_url": ""},
    "coinbase": {"ws_url": "wss://advanced-trade-ws.coinbase.com", "snapshot_url": ""},
}

DEFAULT_DEPTH: dict[str, int] = {
    "binance": 5000,
    "binance-usdm": 1000,
    "bybit-spot": 200,
    "bybit-linear": 200,
    "okx": 400,
    "kraken": 1000,
    "coinbase": 0,  # 0: the venue decides (full book)
}


@dataclass(slots=True)
class VenueConfig:
    name: str
    enabled: bool = True
    symbols: list[str] = field(default_factory=list)
    ws_url: str = ""
    snapshot_url: str = ""
    depth: int = 0
    taker_fee_bps: float = 10.0


@dataclass(slots=True)
class MetricsConfig:
    depth_bands_bps: list[int] = field(default_factory=lambda: [10, 50, 100, 200])
    notionals: list[float] = field(default_factory=lambda: [10_000.0, 100_000.0, 1_000_000.0])
    sample_interval_s: float = 1.0

    @property
    def middle_notional(self) -> float:
        ns = sorted(self.notionals)
        return ns[len(ns) // 2]


@dataclass(slots=True)
class DetectorConfig:
    half_life_s: float = 300.0
    warmup_samples: int = 60
    consecutive: int = 3
    open_z: float = 3.0
    close_z: float = 1.5
    high_z: float = 4.0
    critical_z: float = 5.0
    depth_band_bps: int = 50


@dataclass(slots=True)
class FeedsConfig:
    stale_after_s: float = 10.0
    max_frame_bytes: int = 32 * 1024 * 1024
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    rollover_s: float = 23.5 * 3600
    ping_interval_s: float = 20.0


@dataclass(slots=True)
class UIConfig:
    fps: float = 10.0
    theme: str = "textual-dark"
    chart_max_hz: float = 2.0
    keys: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class RecorderConfig:
    enabled: bool = False
    dsn: str = ""
    batch_size: int = 500
    flush_interval_s: float = 1.0
    max_queue: int = 100_000
    spill_path: str = "lcm-tui-spill.jsonl"
    spill_max_bytes: int = 256 * 1024 * 1024
    book_snapshot_interval_s: float = 0.0  # 0 disables periodic top-N snapshots
    book_snapshot_levels: int = 20


@dataclass(slots=True)
class ConsolidatedConfig:
    quote_rates: dict[str, float] = field(default_factory=lambda: {"USD": 1.0, "USDT": 1.0, "USDC": 1.0})
    # A market-wide depth alert needs at least this many LIVE venues, and this fraction of them, draining at once.
    market_min_venues: int = 2
    market_min_fraction: float = 0.5


@dataclass(slots=True)
class DemoConfig:
    seed: int = 7
    symbols: list[str] = field(default_factory=lambda: ["BTC-USDT", "ETH-USDT"])


@dataclass(slots=True)
class Settings:
    venues: dict[str, VenueConfig] = field(default_factory=dict)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    consolidated: ConsolidatedConfig = field(default_factory=ConsolidatedConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    source: str = "<defaults>"

    def enabled_venues(self) -> list[VenueConfig]:
        return [v for v in self.venues.values() if v.enabled and v.symbols]

    def venue(self, name: str) -> VenueConfig:
        """The venue's config, or the defaults for a venue the file does not mention (replay)."""
        if name in self.venues:
            return self.venues[name]
        return default_venue(name)


def default_venue(name: str) -> VenueConfig:
    ep = DEFAULT_ENDPOINTS[name]
    return VenueConfig(
        name=name,
        enabled=False,
        ws_url=ep["ws_url"],
        snapshot_url=ep["snapshot_url"],
        depth=DEFAULT_DEPTH[name],
    )


# ---------------------------------------------------------------------------- validation helpers


def _type_name(t: Any) -> str:
    return getattr(t, "__name__", str(t))


def _check_keys(path: str, raw: dict[str, Any], allowed: list[str]) -> None:
    for k in raw:
        if k not in allowed:
            raise ConfigError(f"{path}{k}: unknown key; allowed keys are {', '.join(sorted(allowed))}")


def _number(path: str, v: Any, *, lo: float | None = None, hi: float | None = None,
            lo_open: bool = False, integer: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or (isinstance(v, float) and not math.isfinite(v)):
        kind = "an integer" if integer else "a number"
        raise ConfigError(f"{path}: {v!r} is not allowed: must be {kind}")
    if integer and not float(v).is_integer():
        raise ConfigError(f"{path}: {v!r} is not allowed: must be an integer")
    if lo is not None and (v <= lo if lo_open else v < lo):
        op = ">" if lo_open else ">="
        raise ConfigError(f"{path}: {v!r} is not allowed: must be {op} {lo:g}")
    if hi is not None and v > hi:
        raise ConfigError(f"{path}: {v!r} is not allowed: must be <= {hi:g}")
    return int(v) if integer else float(v)


def _string(path: str, v: Any) -> str:
    if not isinstance(v, str):
        raise ConfigError(f"{path}: {v!r} is not allowed: must be a string")
    return v


def _bool(path: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise ConfigError(f"{path}: {v!r} is not allowed: must be true or false")
    return v


def _mapping(path: str, v: Any) -> dict[str, Any]:
    if v is None:
        return {}
    if not isinstance(v, dict):
        raise ConfigError(f"{path}: {v!r} is not allowed: must be a mapping")
    return v


def _list(path: str, v: Any, *, nonempty: bool = True) -> list[Any]:
    if not isinstance(v, list) or (nonempty and not v):
        raise ConfigError(f"{path}: {v!r} is not allowed: must be a non-empty list")
    return v


# Per-field rules: (kind, options). Fields not listed are plain typed scalars.
_RULES: dict[str, dict[str, Any]] = {
    "metrics.sample_interval_s": {"lo": 0.01},
    "detector.half_life_s": {"lo": 0.0, "lo_open": True},
    "detector.warmup_samples": {"lo": 1, "integer": True},
    "detector.consecutive": {"lo": 1, "integer": True},
    "detector.open_z": {"lo": 0.0, "lo_open": True},
    "detector.close_z": {"lo": 0.0},
    "detector.high_z": {"lo": 0.0, "lo_open": True},
    "detector.critical_z": {"lo": 0.0, "lo_open": True},
    "detector.depth_band_bps": {"lo": 1, "integer": True},
    "feeds.stale_after_s": {"lo": 0.1},
    "feeds.max_frame_bytes": {"lo": 1024, "integer": True},
    "feeds.reconnect_min_s": {"lo": 0.0, "lo_open": True},
    "feeds.reconnect_max_s": {"lo": 0.0, "lo_open": True},
    "feeds.rollover_s": {"lo": 60.0},
    "feeds.ping_interval_s": {"lo": 0.1},
    "ui.fps": {"lo": 0.5, "hi": 60.0},
    "ui.chart_max_hz": {"lo": 0.1, "hi": 30.0},
    "recorder.batch_size": {"lo": 1, "integer": True},
    "recorder.flush_interval_s": {"lo": 0.01},
    "recorder.max_queue": {"lo": 1, "integer": True},
    "recorder.spill_max_bytes": {"lo": 1024, "integer": True},
    "recorder.book_snapshot_interval_s": {"lo": 0.0},
    "recorder.book_snapshot_levels": {"lo": 1, "integer": True},
    "consolidated.market_min_venues": {"lo": 1, "integer": True},
    "consolidated.market_min_fraction": {"lo": 0.0, "hi": 1.0},
    "demo.seed": {"integer": True},
}


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
            rule = _RULES.get(key, {})
            setattr(obj, name, _number(key, v, integer=isinstance(cur, int) or rule.get("integer", False),
                                       **{k: x for k, x in rule.items() if k != "integer"}))
        elif isinstance(cur, str):
            setattr(obj, name, _string(key, v))
        else:
            setattr(obj, name, v)  # lists and dicts are checked by their section
    return obj


def _parse_venues(raw: Any) -> dict[str, VenueConfig]:
    raw = _mapping("exchanges", raw)
    out: dict[str, VenueConfig] = {}
    for name, body in raw.items():
        if name not in VENUES:
            raise ConfigError(f"exchanges.{name}: unknown exchange; allowed are {', '.join(VENUES)}")
        vc = default_venue(name)
        vc.enabled = True
        body = _mapping(f"exchanges.{name}", body)
        allowed = [f.name for f in fields(VenueConfig) if f.name != "name"]
        _check_keys(f"exchanges.{name}.", body, allowed)
        for k, v in body.items():
            key = f"exchanges.{name}.{k}"
            if k == "enabled":
                vc.enabled = _bool(key, v)
            elif k == "symbols":
                syms = _list(key, v)
                for i, s in enumerate(syms):
                    if not isinstance(s, str) or not s.strip():
                        raise ConfigError(f"{key}[{i}]: {s!r} is not allowed: must be a non-empty symbol string")
                if len(set(syms)) != len(syms):
                    raise ConfigError(f"{key}: {syms!r} is not allowed: symbols must be unique")
                vc.symbols = [s.strip() for s in syms]
            elif k in ("ws_url", "snapshot_url"):
                url = _string(key, v)
                if url and not url.startswith(("ws://", "wss://", "http://", "https://")):
                    raise ConfigError(f"{key}: {url!r} is not allowed: must start with ws://, wss://, http:// or https://")
                setattr(vc, k, url)
            elif k == "depth":
                vc.depth = int(_number(key, v, lo=0, integer=True))
            elif k == "taker_fee_bps":
                vc.taker_fee_bps = _number(key, v, lo=0.0, hi=1000.0)
        out[name] = vc
    return out


def parse_settings(raw: Any, source: str = "<memory>") -> Settings:
    """Validate a parsed YAML document into Settings."""
    raw = _mapping("<top level>", raw)
    s = Settings(source=source)
    sections = ["exchanges", "metrics", "detector", "feeds", "ui", "recorder", "consolidated", "demo"]
    _check_keys("", raw, sections)
    s.venues = _parse_venues(raw.get("exchanges"))
    s.metrics = _scalar_section("metrics", raw.get("metrics"), MetricsConfig())
    s.detector = _scalar_section("detector", raw.get("detector"), DetectorConfig())
    s.feeds = _scalar_section("feeds", raw.get("feeds"), FeedsConfig())
    s.ui = _scalar_section("ui", raw.get("ui"), UIConfig())
    s.recorder = _scalar_section("recorder", raw.get("recorder"), RecorderConfig())
    s.consolidated = _scalar_section("consolidated", raw.get("consolidated"), ConsolidatedConfig())
    s.demo = _scalar_section("demo", raw.get("demo"), DemoConfig())

    m = s.metrics
    bands = _list("metrics.depth_bands_bps", m.depth_bands_bps)
    m.depth_bands_bps = [
        int(_number(f"metrics.depth_bands_bps[{i}]", b, lo=1, hi=10_000, integer=True)) for i, b in enumerate(bands)
    ]
    if len(set(m.depth_bands_bps)) != len(m.depth_bands_bps):
        raise ConfigError(f"metrics.depth_bands_bps: {bands!r} is not allowed: bands must be unique")
    m.depth_bands_bps.sort()
    notionals = _list("metrics.notionals", m.notionals)
    m.notionals = sorted(
        _number(f"metrics.notionals[{i}]", n, lo=0.0, lo_open=True) for i, n in enumerate(notionals)
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
        raise ConfigError(f"feeds.reconnect_max_s: {f.reconnect_max_s!r} is not allowed: must be >= reconnect_min_s")
    keys = _mapping("ui.keys", s.ui.keys)
    for k, v in keys.items():
        if not isinstance(v, str) or not v:
            raise ConfigError(f"ui.keys.{k}: {v!r} is not allowed: must be a key name string such as 'n' or 'ctrl+n'")
    s.ui.keys = dict(keys)
    rates = _mapping("consolidated.quote_rates", s.consolidated.quote_rates)
    s.consolidated.quote_rates = {
        str(k).upper(): _number(f"consolidated.quote_rates.{k}", v, lo=0.0, lo_open=True) for k, v in rates.items()
    }
    demo_syms = _list("demo.symbols", s.demo.symbols)
    for i, sym in enumerate(demo_syms):
        if not isinstance(sym, str) or sym.count("-") != 1:
            raise ConfigError(f"demo.symbols[{i}]: {sym!r} is not allowed: must look like BASE-QUOTE, e.g. BTC-USDT")
    return s


def apply_env(s: Settings, env: dict[str, str] | None = None) -> Settings:
    """Secrets from the environment win over the file: LCM_PG_DSN, else the libpq PG* variables."""
    env = dict(os.environ if env is None else env)
    if env.get("LCM_PG_DSN"):
        s.recorder.dsn = env["LCM_PG_DSN"]
    return s


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys: PyYAML would silently keep the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ConfigError(f"{key}: duplicate key (line {key_node.start_mark.line + 1}); each key may appear once")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_yaml(text: str, source: str = "<memory>") -> Settings:
    """Parse and validate settings YAML text."""
    try:
        raw = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{source}: not valid YAML: {e}") from None
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None
    try:
        return parse_settings(raw, source=source)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def bundled_settings_path() -> Path:
    """The settings.yaml shipped in the package (a copy of the top-level config/settings.yaml)."""
    return Path(str(resources.files("lcm_tui").joinpath("config/settings.yaml")))


def load_settings(path: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None) -> Settings:
    """Load and validate settings: an explicit path, else ./config/settings.yaml, else the bundled one."""
    candidates = [Path(path)] if path else [Path("config/settings.yaml"), bundled_settings_path()]
    for p in candidates:
        if p.is_file():
            return apply_env(parse_yaml(p.read_text(encoding="utf-8"), source=str(p)), env)
        if path:
            raise ConfigError(f"{p}: config file not found")
    return apply_env(Settings(), env)
