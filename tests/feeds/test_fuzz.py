"""Every venue adapter's ``on_frame`` survives anything: garbage, cut-off frames, wrong-typed fields.

The venues are the registry's. Adapters start synced (driven by the in-memory loopback), so the
fuzzed frames reach the deep paths (sequence checks, book updates, checksums), and every example
starts from a fresh copy. Hypothesis is derandomized and keeps no example database, so a run is
reproducible and writes nothing to the tree.
"""

from __future__ import annotations

import copy
import functools
import json
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lcm_tui.core.model import StreamStatus
from lcm_tui.runtime.sim.inmemory import InMemoryLoopback
from lcm_tui.venues import registry
from lcm_tui.venues.base import Action, Adapter, FetchSnapshot, Reconnect, Send

# Every venue of the registry, each with the markets its spec names: a new venue is fuzzed without
# editing this file, and a venue whose adapter or simulator does not import fails here, loudly.
VENUES = list(registry.names())
SYMBOLS = {v.name: list(v.example_symbols) for v in registry.VENUES}
FUZZ = settings(max_examples=30, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@functools.cache
def synced(venue: str) -> tuple[Adapter, tuple[str, ...]]:
    """A live adapter and realistic frames of its venue (each call of ``fresh`` copies the adapter)."""
    lb = InMemoryLoopback(venue, SYMBOLS[venue], depth=10 if venue == "kraken" else None)
    lb.step(15)
    assert all(s.status is StreamStatus.LIVE for s in lb.adapter.states.values())
    lb.adapter.sink = None
    return lb.adapter, tuple(lb.delivered[-20:])


def fresh(venue: str) -> Adapter:
    return copy.deepcopy(synced(venue)[0])


def test_every_registry_venue_is_fuzzed() -> None:
    assert registry.available_venues() == VENUES  # imports every adapter: a broken one raises here
    for v in VENUES:
        assert len(SYMBOLS[v]) >= 2, v  # the spec names markets to fuzz with
        registry.sim_class(v)


def malformed_total(a: Adapter) -> int:
    return a.unattributed_malformed + sum(s.counters.malformed for s in a.states.values())


def feed(a: Adapter, text: str | bytes) -> list[Action]:
    out = a.on_frame(text, 1_700_000_000_000_000_000)
    assert isinstance(out, list)
    assert all(isinstance(x, Send | FetchSnapshot | Reconnect) for x in out)
    return out


def not_json(text: str | bytes) -> bool:
    if text in ("pong", b"pong"):  # OKX's text pong is not JSON and not malformed
        return False
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return True
    return False


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=4),
    max_leaves=12,
)


def _leaves(obj: Any, path: tuple = ()) -> list[tuple]:
    if isinstance(obj, dict):
        return [p for k, v in obj.items() for p in _leaves(v, (*path, k))] or [path]
    if isinstance(obj, list):
        return [p for i, v in enumerate(obj) for p in _leaves(v, (*path, i))] or [path]
    return [path]


def _replace(obj: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(obj, dict):
        return {**obj, head: _replace(obj[head], rest, value)}
    out = list(obj)
    out[head] = _replace(out[head], rest, value)
    return out


@pytest.mark.parametrize("venue", VENUES)
@FUZZ
@given(data=st.one_of(st.text(max_size=80), st.binary(max_size=80)))
def test_garbage_is_counted_never_raised(venue: str, data: str | bytes) -> None:
    a = fresh(venue)
    before = malformed_total(a)
    feed(a, data)
    if not_json(data):
        assert malformed_total(a) == before + 1


@pytest.mark.parametrize("venue", VENUES)
@FUZZ
@given(value=json_values)
def test_arbitrary_json_never_raises(venue: str, value: Any) -> None:
    feed(fresh(venue), json.dumps(value))


@pytest.mark.parametrize("venue", VENUES)
@FUZZ
@given(data=st.data())
def test_cut_off_real_frames_are_counted(venue: str, data: st.DataObject) -> None:
    a = fresh(venue)
    frame = data.draw(st.sampled_from(synced(venue)[1]))
    cut = frame[: data.draw(st.integers(0, max(0, len(frame) - 1)))]
    before = malformed_total(a)
    feed(a, cut)
    if not_json(cut):
        assert malformed_total(a) == before + 1


@pytest.mark.parametrize("venue", VENUES)
@FUZZ
@given(data=st.data())
def test_wrong_typed_fields_in_real_frames_never_raise(venue: str, data: st.DataObject) -> None:
    a = fresh(venue)
    frame = data.draw(st.sampled_from(synced(venue)[1]))
    obj = json.loads(frame)
    path = data.draw(st.sampled_from(_leaves(obj)))
    mutated = _replace(obj, path, data.draw(json_values))
    feed(a, json.dumps(mutated))
    # Whatever happened, the adapter still works: the next real frames do not raise either.
    for fr in synced(venue)[1][:3]:
        feed(a, fr)
