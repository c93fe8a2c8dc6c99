"""The typed settings every layer reads: pure data, no parsing and no knowledge of which venues exist.

``lcm_tui.config`` is the one place that builds these from settings.yaml and validates every key;
its ``Settings`` fills in every venue of the registry, so ``Settings.venue(name)`` is a plain
lookup there. The defaults here are the documented defaults of config/settings.yaml.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ConfigError(ValueError):
    """A setting is wrong; the message names the key, the value and what is allowed, on one line."""


@dataclass(slots=True)
class VenueConfig:
    name: str
    enabled: bool = True
    symbols: list[str] = field(default_factory=list)
    ws_url: str = ""
    snapshot_url: str = ""
    depth: int = 0  # 0: the venue's default depth
    taker_fee_bps: float = 10.0
    # Levels a book side of this venue keeps at most: feeds.max_levels, copied here by lcm_tui.config
    # so that the adapters, which see only their venue's settings, build their books with it.
    max_levels: int = 20_000


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
    # A book side holds at most this many price levels: a hostile or broken feed cannot grow memory
    # without bound. It must be at least every enabled venue's depth.
    max_levels: int = 20_000
    # Offer permessage-deflate to the venues: about a quarter of the bytes on the wire for about twice
    # the CPU per frame (such connections use the websockets library; the default client, picows,
    # does not compress).
    compression: bool = False


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
class WebhookConfig:
    """One alert webhook: POST JSON to ``url`` for the alerts that pass its filters (empty list: all)."""

    url: str = ""
    min_severity: str = "warning"
    venues: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    timeout_s: float = 5.0


@dataclass(slots=True)
class AlertsConfig:
    """Alert routing: webhooks, a command hook (its own filters below), and one rate limit per alert key."""

    webhooks: list[WebhookConfig] = field(default_factory=list)
    command: str = ""  # run with the alert's JSON on stdin
    min_severity: str = "warning"
    venues: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    rate_limit_s: float = 60.0  # at most one notification per (venue, symbol, signal) per route in this window
    retries: int = 5


@dataclass(slots=True)
class NatsConfig:
    """The bus (``collect``, ``attach``, ``record --from``); secrets are better given by environment variables."""

    url: str = "nats://127.0.0.1:4222"
    prefix: str = "lcm"
    user: str = ""
    password: str = ""
    token: str = ""
    creds_file: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""


@dataclass(slots=True)
class CollectorConfig:
    """``collect``: its shard (venues and symbols; empty: as configured) and what it publishes."""

    shard_venues: list[str] = field(default_factory=list)
    shard_symbols: list[str] = field(default_factory=list)
    id: str = ""
    book_levels: int = 20
    heartbeat_s: float = 1.0


@dataclass(slots=True)
class PrometheusConfig:
    """``/metrics`` for Prometheus (``--metrics-port``); port 0 serves nothing."""

    port: int = 0
    host: str = "127.0.0.1"


@dataclass(slots=True)
class Settings:
    # Every known venue, in the registry's order (which is the display and tie-breaking order).
    venues: dict[str, VenueConfig] = field(default_factory=dict)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    detector: DetectorConfig = field(default_factory=DetectorConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    ui: UIConfig = field(default_factory=UIConfig)
    recorder: RecorderConfig = field(default_factory=RecorderConfig)
    consolidated: ConsolidatedConfig = field(default_factory=ConsolidatedConfig)
    demo: DemoConfig = field(default_factory=DemoConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    nats: NatsConfig = field(default_factory=NatsConfig)
    collector: CollectorConfig = field(default_factory=CollectorConfig)
    prometheus: PrometheusConfig = field(default_factory=PrometheusConfig)
    source: str = "<defaults>"

    def enabled_venues(self) -> list[VenueConfig]:
        return [v for v in self.venues.values() if v.enabled and v.symbols]

    def venue(self, name: str) -> VenueConfig:
        return self.venues[name]

    def venue_order(self) -> dict[str, int]:
        """venue name -> position, for sorting anything by venue the same way everywhere."""
        return {name: i for i, name in enumerate(self.venues)}
