"""Bybit v5 public ``orderbook.{depth}.{SYMBOL}`` for spot and linear (docs/protocols.md).

Bybit sends the snapshot in-stream, so syncing is: wait for a ``snapshot`` (deltas before it are
dropped, not buffered: the snapshot already contains them), then require ``u == last_u + 1`` on every
delta. The docs call ``u`` only "a sequence", so a jump is treated as a lost message and that one
symbol is unsubscribed and subscribed again, which makes Bybit send a fresh snapshot. Any snapshot, and
``u == 1`` (service restart), replaces the book. The depth of a book frame is read from its topic, so a
capture made at another depth than the configured one still replays. Rules: ``docs/protocols.md``.
"""

from __future__ import annotations

from typing import Any, ClassVar

import orjson

from lcm_tui.core.model import FeedEventKind, StreamStatus, SymbolState
from lcm_tui.core.settings import ConfigError, VenueConfig
from lcm_tui.venues.base import Action, Adapter, EventSink, Send, check_levels, log
from lcm_tui.venues.bybit.spec import BYBIT_LINEAR, BYBIT_SPOT

_DEFAULT_DEPTH = {s.name: s.default_depth for s in (BYBIT_SPOT, BYBIT_LINEAR)}
DEPTHS = tuple(BYBIT_SPOT.depths)  # the spec's choices; spot and linear share them
PING_EVERY_NS = 20 * 1_000_000_000


class BybitAdapter(Adapter):
    """One Bybit public connection (one market) carrying several symbols."""

    # Spot rejects subscribe requests with more than 10 args; linear only caps the total length.
    max_args: ClassVar[int] = 10

    def __init__(self, cfg: VenueConfig, symbols: list[str], sink: EventSink | None = None) -> None:
        super().__init__(cfg, symbols, sink)
        depth = cfg.depth or _DEFAULT_DEPTH[self.venue]
        if depth not in DEPTHS:
            allowed = ", ".join(map(str, DEPTHS))
            raise ConfigError(f"exchanges.{self.venue}.depth: {cfg.depth!r} is not allowed: must be one of {allowed}")
        self.depth = depth
        self.topics = {s: f"orderbook.{depth}.{s}" for s in self.symbols}
        self._by_topic = {t: s for s, t in self.topics.items()}
        self._last_u: dict[str, int | None] = dict.fromkeys(self.symbols)
        self._req = 0
        self._last_ping_ns = 0
        self.pongs = 0
        self.errors = 0  # requests the venue rejected (success: false)

    # ---- runner interface ------------------------------------------------------------------
    def url(self) -> str:
        return self.cfg.ws_url

    def on_open(self, t_ns: int) -> list[Action]:
        self._last_ping_ns = t_ns
        for s, st in self.states.items():
            self._last_u[s] = None
            st.book.clear()
            self.set_status(st, StreamStatus.SYNCING, "subscribing", t_ns)
        topics = list(self.topics.values())
        n = self.max_args
        return [Send(self._op("subscribe", topics[i : i + n])) for i in range(0, len(topics), n)]

    def keepalive(self, t_ns: int) -> list[Action]:
        out = super().keepalive(t_ns)  # deferred resubscribes
        if t_ns - self._last_ping_ns < PING_EVERY_NS:
            return out
        self._last_ping_ns = t_ns
        self._req += 1
        return [*out, Send(orjson.dumps({"req_id": f"p{self._req}", "op": "ping"}).decode())]

    def _named(self, text: str | bytes) -> SymbolState | None:
        """The symbol a cut-off book frame was for, if its topic survived (resync now, not at the next delta)."""
        raw = text if isinstance(text, str) else text.decode("utf-8", "replace")
        for sym, topic in self.topics.items():
            if f'"{topic}"' in raw:
                return self.states[sym]
        return None

    def _adopt(self, topic: object) -> str | None:
        """A book topic of one of our symbols at another depth: the frame says which depth it is.

        A capture made at ``orderbook.50`` replays with the default depth 200 configured, and a
        resync then resubscribes the depth the venue was actually sending.
        """
        if type(topic) is not str:
            return None
        head, _, rest = topic.partition(".")
        depth, _, sym = rest.partition(".")
        if head != "orderbook" or sym not in self.states or not depth.isdigit() or int(depth) not in DEPTHS:
            return None
        del self._by_topic[self.topics[sym]]
        self.topics[sym] = topic
        self._by_topic[topic] = sym
        return sym

    # ---- internals -------------------------------------------------------------------------
    def _op(self, op: str, args: list[str]) -> str:
        self._req += 1
        return orjson.dumps({"req_id": f"{op[:3]}{self._req}", "op": op, "args": args}).decode()

    def _forget(self, st: SymbolState) -> None:
        self._last_u[st.symbol] = None  # deltas are dropped until the next snapshot

    def _resubscribe(self, sts: list[SymbolState]) -> list[Action]:
        topics = [self.topics[st.symbol] for st in sts]
        n = self.max_args
        out: list[Action] = []
        for i in range(0, len(topics), n):
            out.append(Send(self._op("unsubscribe", topics[i : i + n])))
            out.append(Send(self._op("subscribe", topics[i : i + n])))
        return out

    def _frame(self, text: str | bytes, t_ns: int) -> list[Action]:
        msg = orjson.loads(text)
        if type(msg) is not dict:
            raise ValueError("not an object")
        topic = msg.get("topic")
        if topic is None:
            self._control(msg, text, t_ns)
            return []
        sym = self._by_topic.get(topic)
        if sym is None:
            sym = self._adopt(topic)
        if sym is None:
            self.malformed(None, text, f"unsubscribed topic {topic!r:.60}", t_ns)
            return []
        self.last_frame_symbol = sym
        st = self.states[sym]
        st.counters.frames += 1
        kind = msg["type"]
        data = msg["data"]
        u = data["u"]
        if type(u) is not int:
            raise ValueError("u is not an integer")
        bids = check_levels(data["b"])
        asks = check_levels(data["a"])
        if kind == "snapshot" or (kind == "delta" and u == 1):
            st.book.load_snapshot(bids, asks)
        elif kind == "delta":
            last = self._last_u[sym]
            if last is None:
                return []  # not synced yet: the coming snapshot already includes this delta
            if u != last + 1:
                return self._resync(st, FeedEventKind.GAP, f"u {last}->{u}", t_ns)
            st.book.apply(bids, asks)
        else:
            raise ValueError(f"unknown type {kind!r:.20}")
        self._last_u[sym] = u
        st.last_update_ns = t_ns
        if st.book.is_crossed():
            return self._resync(st, FeedEventKind.CROSSED, f"crossed at u={u}", t_ns)
        if st.status is not StreamStatus.LIVE:
            self.set_status(st, StreamStatus.LIVE, "", t_ns)
        return []

    def _control(self, msg: dict[str, Any], text: str | bytes, t_ns: int) -> None:
        op = msg.get("op")
        if op == "pong" or (op == "ping" and msg.get("success") is True):
            self.pongs += 1
            return
        if op in ("subscribe", "unsubscribe") and msg.get("success") is True:
            return
        if op in ("subscribe", "unsubscribe", "ping") and msg.get("success") is False:
            self.errors += 1
            why = str(msg.get("ret_msg", ""))[:200]
            log.warning("%s: %s rejected: %s", self.venue, op, why)
            if op == "subscribe":
                for sym, topic in self.topics.items():
                    if topic in why:
                        self.set_status(self.states[sym], StreamStatus.DOWN, f"subscribe rejected: {why}", t_ns)
            return
        self.malformed(None, text, "unknown control message", t_ns)


class BybitSpotAdapter(BybitAdapter):
    venue = "bybit-spot"


class BybitLinearAdapter(BybitAdapter):
    venue = "bybit-linear"
    max_args = 100
