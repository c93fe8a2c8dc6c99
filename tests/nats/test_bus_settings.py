"""The ``nats``, ``collector``, ``alerts`` and ``prometheus`` sections: parsed, checked, secrets never echoed."""

from __future__ import annotations

import argparse

import pytest

from lcm_tui.config import ConfigError, load_settings, parse_yaml
from lcm_tui.frontends.cli import _nats_options, _shard
from lcm_tui.runtime.bus.connect import NatsOptions


def test_sections_parse_into_typed_settings() -> None:
    s = parse_yaml("""
nats: {url: "nats://a:4222,nats://b:4222", prefix: desk-1, creds_file: /etc/c.creds}
collector: {shard: {venues: [binance, okx], symbols: [BTCUSDT]}, id: shard-1, book_levels: 30}
alerts:
  webhooks: [{url: "https://h.example/x", min_severity: critical, venues: [okx]}]
  command: "/bin/true --x"
  rate_limit_s: 15
prometheus: {port: 9101}
""")
    assert s.nats.url == "nats://a:4222,nats://b:4222" and s.nats.prefix == "desk-1"
    assert (s.collector.shard_venues, s.collector.shard_symbols, s.collector.id) == (["binance", "okx"],
                                                                                      ["BTCUSDT"], "shard-1")
    assert s.collector.book_levels == 30
    w = s.alerts.webhooks[0]
    assert (w.url, w.min_severity, w.venues) == ("https://h.example/x", "critical", ["okx"])
    assert s.alerts.rate_limit_s == 15 and s.alerts.command == "/bin/true --x"
    assert s.prometheus.port == 9101


@pytest.mark.parametrize("text, where", [
    ("nats: {prefix: 'a.b'}", "nats.prefix"),
    ("nats: {colour: red}", "nats.colour"),
    ("collector: {shard: {venues: [mars]}}", "collector.shard.venues"),
    ("collector: {heartbeat_s: 4}", "collector.heartbeat_s"),  # a viewer must see DOWN within 5 s
    ("alerts: {webhooks: [{url: 'ftp://x'}]}", "alerts.webhooks[0].url"),
    ("alerts: {min_severity: loud}", "alerts.min_severity"),
    ("prometheus: {port: 70000}", "prometheus.port"),
])
def test_mistakes_name_the_key(text: str, where: str) -> None:
    with pytest.raises(ConfigError, match=where.replace("[", r"\[").replace("]", r"\]")):
        parse_yaml(text)


def test_secrets_are_never_quoted_in_errors() -> None:
    for text, secret in (("nats: {password: [Hunter2Secret]}", "Hunter2Secret"),
                         ("nats: {url: {x: Tok3nInUrl}}", "Tok3nInUrl"),
                         ("alerts: {webhooks: [{url: 'gopher://k3yInPath'}]}", "k3yInPath")):
        with pytest.raises(ConfigError) as e:
            parse_yaml(text)
        assert secret not in str(e.value)


def test_environment_wins_over_the_file_and_the_command_line_over_both(monkeypatch: pytest.MonkeyPatch) -> None:
    s = parse_yaml("nats: {url: 'nats://file:4222', user: fileuser, password: filepass, prefix: p1}")
    monkeypatch.setenv("LCM_NATS_PASSWORD", "envpass")
    monkeypatch.setenv("LCM_NATS_URL", "nats://env:4222")
    opts = _nats_options(argparse.Namespace(url=None, nats_prefix=None), s)
    assert (opts.url, opts.user, opts.password, opts.prefix) == ("nats://env:4222", "fileuser", "envpass", "p1")
    opts = _nats_options(argparse.Namespace(url="nats://cli:4222", nats_prefix="p2"), s)
    assert (opts.url, opts.prefix) == ("nats://cli:4222", "p2")
    assert "envpass" not in opts.describe() and "envpass" not in repr(opts.describe())


def test_describe_and_scrub_hide_credentials() -> None:
    o = NatsOptions(url="nats://alice:pw-123@h1:4222,nats://h2:4222", token="tok-456")
    assert o.describe() == "nats://***@h1:4222,nats://h2:4222"
    assert o.scrub("failed: pw-123 tok-456 alice") == "failed: *** *** ***"


def test_collector_shard_from_the_config_unless_the_command_line_says_otherwise() -> None:
    s = load_settings(None)  # the bundled config: several venues with symbols
    s.collector.shard_venues = ["okx"]
    _shard(argparse.Namespace(venues=None, symbols=None, demo=False), s)
    assert [v.name for v in s.enabled_venues()] == ["okx"]
    s = load_settings(None)
    s.collector.shard_venues = ["okx"]
    _shard(argparse.Namespace(venues="kraken", symbols="BTC/USD", demo=False), s)
    assert [(v.name, v.symbols) for v in s.enabled_venues()] == [("kraken", ["BTC/USD"])]
