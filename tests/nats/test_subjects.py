"""Subject and KV key spelling of symbols, checked against the NATS rules (no server needed).

The rules come from the NATS documentation: a subject token may not contain ``.``, ``*``, ``>`` or white
space (and should stay printable ASCII); a KV key must match ``[-/_=.a-zA-Z0-9]+``; stream names may not
contain ``.``, ``*``, ``>``, white space or path separators.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lcm_tui.runtime.bus.subjects import Names, SubjectError, decode_token, encode_token

TOKEN_OK = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no space
KV_KEY_OK = re.compile(r"^[-/_=.a-zA-Z0-9]+$")
NASTY = ["BTC/USD", "ETH.USDT", "X*Y", "A>B", "BTC USD 2026-12-27", "tab\tsym", "ÄBC-€", "=3D", "a" * 64,
         "XBT/USD:PERP", "1000PEPE-USDT-SWAP", "~weird~"]


def _valid_token(tok: str) -> bool:
    return bool(TOKEN_OK.match(tok)) and not any(c in tok for c in ".*>")


@pytest.mark.parametrize("sym", NASTY)
def test_every_symbol_spells_as_one_valid_token_and_back(sym: str) -> None:
    tok = encode_token(sym)
    assert _valid_token(tok)
    assert decode_token(tok) == sym
    key = Names("lcm").key("kraken", sym)
    assert KV_KEY_OK.match(key) and key.count(".") == 1
    assert Names.parse_key(key) == ("kraken", sym)


def test_plain_symbols_are_unchanged_so_subjects_stay_readable() -> None:
    assert Names("lcm").subject("sample", "binance", "BTCUSDT") == "lcm.v1.sample.binance.BTCUSDT"
    assert Names("lcm").subject("sample", "kraken", "BTC/USD") == "lcm.v1.sample.kraken.BTC=2FUSD"


@settings(derandomize=True, max_examples=300)
@given(st.text(min_size=1, max_size=40))
def test_round_trip_and_no_two_symbols_share_a_token(sym: str) -> None:
    tok = encode_token(sym)
    assert _valid_token(tok) and KV_KEY_OK.match(tok)
    assert decode_token(tok) == sym
    other = sym + "."
    assert encode_token(other) != tok


def test_subject_parses_back_to_kind_venue_symbol() -> None:
    n = Names("desk-a")
    subj = n.subject("alert", "bybit-linear", "BTC.USDT*")
    assert n.parse(subj) == ("alert", "bybit-linear", "BTC.USDT*")
    with pytest.raises(SubjectError):
        n.parse("other.v1.alert.x.y")


@pytest.mark.parametrize("prefix", ["", "a.b", "a*", "with space", "x" * 33, "a>"])
def test_a_prefix_that_cannot_name_a_stream_is_refused(prefix: str) -> None:
    with pytest.raises(SubjectError, match="nats prefix"):
        Names(prefix)


def test_stream_and_bucket_names_hold_no_dots() -> None:
    n = Names("lcm")
    for kind in ("sample", "alert", "event"):
        assert "." not in n.stream(kind)
    assert n.stream("sample") == "LCM_SAMPLES" and n.bucket == "lcm_state"


@pytest.mark.parametrize("bad", ["a.b", "=ZZ", "=4", "", "a b", "=FF"])
def test_decode_refuses_what_encode_never_makes(bad: str) -> None:
    with pytest.raises(SubjectError):
        decode_token(bad)
