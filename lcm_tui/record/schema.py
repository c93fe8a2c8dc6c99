"""The recorder's database schema, as an ordered list of migrations the recorder applies itself.

Why typed columns and child tables instead of JSON: the point of recording is to query history
("median 2 % depth per venue per hour"), and typed, indexed columns make that plain SQL. Depth bands
and slippage notionals are configurable, so they live in child tables keyed by (sample, band) and
(sample, side, notional) rather than in one column per band.

Every table has a natural idempotent key, so a batch that is written twice (a commit whose ack was
lost, a spill file replayed after a restart) changes nothing the second time:
samples (venue, symbol, ts_ns); alerts (venue, symbol, signal, opened_ns), merged on each escalation
and on close (an alert also names the run that watched it, so the next start can close the alerts of
a run that died, with a ``close_reason``);
feed events a client-generated uuid; book snapshots (venue, symbol, ts_ns).

The child rows share their sample's key and are always committed in the same transaction as the
sample, so they cannot be orphaned; there is deliberately no foreign key: its per-row check halved
the write rate (measured with ``benches/recorder.py``). Retention therefore deletes a time range from
``metric_sample``, ``sample_depth`` and ``sample_slippage`` alike.

Timestamps are stored as the exact integer nanoseconds the app uses, with a generated
``timestamptz`` next to them for humans and time-range indexes.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# pg_advisory_xact_lock key: "lcm-tui" + schema, so concurrent recorders migrate one at a time.
ADVISORY_LOCK_KEY = 0x6C636D5F73636865


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "samples, depth and slippage children, alerts, feed events, book snapshots",
        """
CREATE TYPE alert_severity AS ENUM ('warning', 'high', 'critical');

CREATE TABLE metric_sample (
    venue       text             NOT NULL,
    symbol      text             NOT NULL,
    ts_ns       bigint           NOT NULL,
    ts          timestamptz      GENERATED ALWAYS AS (to_timestamp(ts_ns / 1e9)) STORED,
    status      text             NOT NULL,
    best_bid    numeric,
    best_ask    numeric,
    mid         double precision,
    spread_bps  double precision,
    PRIMARY KEY (venue, symbol, ts_ns)
);
CREATE INDEX metric_sample_symbol_ts ON metric_sample (symbol, ts);
CREATE INDEX metric_sample_ts_brin ON metric_sample USING brin (ts);

CREATE TABLE sample_depth (
    venue      text             NOT NULL,
    symbol     text             NOT NULL,
    ts_ns      bigint           NOT NULL,
    band_bps   integer          NOT NULL CHECK (band_bps > 0),
    depth_bid  double precision,
    depth_ask  double precision,
    imbalance  double precision,
    PRIMARY KEY (venue, symbol, ts_ns, band_bps)
);

CREATE TABLE sample_slippage (
    venue         text             NOT NULL,
    symbol        text             NOT NULL,
    ts_ns         bigint           NOT NULL,
    side          text             NOT NULL CHECK (side IN ('buy', 'sell')),
    notional      double precision NOT NULL,
    vwap          double precision,
    slippage_bps  double precision,
    levels        integer          NOT NULL,
    filled_quote  double precision,
    PRIMARY KEY (venue, symbol, ts_ns, side, notional)
);

CREATE TABLE alert (
    venue      text             NOT NULL,
    symbol     text             NOT NULL,
    signal     text             NOT NULL,
    opened_ns  bigint           NOT NULL,
    closed_ns  bigint,
    opened_at  timestamptz      GENERATED ALWAYS AS (to_timestamp(opened_ns / 1e9)) STORED,
    closed_at  timestamptz      GENERATED ALWAYS AS (to_timestamp(closed_ns / 1e9)) STORED,
    severity   alert_severity   NOT NULL,
    peak_z     double precision,
    PRIMARY KEY (venue, symbol, signal, opened_ns)
);
CREATE INDEX alert_opened_at ON alert (opened_at);
CREATE INDEX alert_symbol_opened_at ON alert (symbol, opened_at);

CREATE TABLE feed_event (
    event_id  uuid        PRIMARY KEY,
    ts_ns     bigint      NOT NULL,
    ts        timestamptz GENERATED ALWAYS AS (to_timestamp(ts_ns / 1e9)) STORED,
    venue     text        NOT NULL,
    symbol    text        NOT NULL,
    kind      text        NOT NULL,
    detail    text        NOT NULL DEFAULT ''
);
CREATE INDEX feed_event_venue_ts ON feed_event (venue, ts);
CREATE INDEX feed_event_symbol_ts ON feed_event (symbol, ts);
CREATE INDEX feed_event_kind_ts ON feed_event (kind, ts);

CREATE TABLE book_snapshot (
    venue      text        NOT NULL,
    symbol     text        NOT NULL,
    ts_ns      bigint      NOT NULL,
    ts         timestamptz GENERATED ALWAYS AS (to_timestamp(ts_ns / 1e9)) STORED,
    bid_price  numeric[]   NOT NULL,
    bid_size   numeric[]   NOT NULL,
    ask_price  numeric[]   NOT NULL,
    ask_size   numeric[]   NOT NULL,
    PRIMARY KEY (venue, symbol, ts_ns),
    CHECK (cardinality(bid_price) = cardinality(bid_size) AND cardinality(ask_price) = cardinality(ask_size))
);
CREATE INDEX book_snapshot_symbol_ts ON book_snapshot (symbol, ts);
""",
    ),
    Migration(
        2,
        "alerts remember the run that watched them and why they closed",
        """
ALTER TABLE alert ADD COLUMN run_id uuid, ADD COLUMN close_reason text;
CREATE INDEX alert_open_run ON alert (run_id) WHERE closed_ns IS NULL;
""",
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


class SchemaTooNewError(RuntimeError):
    """The database was migrated by a newer lcm-tui; writing to it could corrupt it."""


async def migrate(conn: asyncpg.Connection) -> int:
    """Bring the schema to ``LATEST_VERSION``; returns the version found before. Safe to run concurrently."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", ADVISORY_LOCK_KEY)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_version ("
            " version integer PRIMARY KEY,"
            " description text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_version")
        if current > LATEST_VERSION:
            raise SchemaTooNewError(
                f"database schema version {current} is newer than this lcm-tui supports ({LATEST_VERSION})"
            )
        for m in MIGRATIONS:
            if m.version > current:
                await conn.execute(m.sql)
                await conn.execute(
                    "INSERT INTO schema_version (version, description) VALUES ($1, $2)", m.version, m.description
                )
    return current


# Per-connection staging tables for COPY: rows land here, then one INSERT ... ON CONFLICT moves them
# into the real tables, which is what keeps a COPY-speed write idempotent.
STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS stage_sample (
    venue text, symbol text, ts_ns bigint, status text, best_bid numeric, best_ask numeric,
    mid double precision, spread_bps double precision) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_depth (
    venue text, symbol text, ts_ns bigint, band_bps integer,
    depth_bid double precision, depth_ask double precision, imbalance double precision) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_slippage (
    venue text, symbol text, ts_ns bigint, side text, notional double precision, vwap double precision,
    slippage_bps double precision, levels integer, filled_quote double precision) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_alert (
    venue text, symbol text, signal text, opened_ns bigint, closed_ns bigint, severity text,
    peak_z double precision, run_id uuid, close_reason text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_event (
    event_id uuid, ts_ns bigint, venue text, symbol text, kind text, detail text) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS stage_book (
    venue text, symbol text, ts_ns bigint, bid_price numeric[], bid_size numeric[],
    ask_price numeric[], ask_size numeric[]) ON COMMIT DELETE ROWS;
"""

SAMPLE_COLS = ("venue", "symbol", "ts_ns", "status", "best_bid", "best_ask", "mid", "spread_bps")
DEPTH_COLS = ("venue", "symbol", "ts_ns", "band_bps", "depth_bid", "depth_ask", "imbalance")
SLIPPAGE_COLS = ("venue", "symbol", "ts_ns", "side", "notional", "vwap", "slippage_bps", "levels", "filled_quote")
ALERT_COLS = ("venue", "symbol", "signal", "opened_ns", "closed_ns", "severity", "peak_z", "run_id", "close_reason")
EVENT_COLS = ("event_id", "ts_ns", "venue", "symbol", "kind", "detail")
BOOK_COLS = ("venue", "symbol", "ts_ns", "bid_price", "bid_size", "ask_price", "ask_size")


def _move(table: str, stage: str, cols: tuple[str, ...]) -> str:
    c = ", ".join(cols)
    return f"INSERT INTO {table} ({c}) SELECT {c} FROM {stage} ON CONFLICT DO NOTHING"


MOVE_SAMPLES = _move("metric_sample", "stage_sample", SAMPLE_COLS)
MOVE_DEPTH = _move("sample_depth", "stage_depth", DEPTH_COLS)
MOVE_SLIPPAGE = _move("sample_slippage", "stage_slippage", SLIPPAGE_COLS)
MOVE_EVENTS = _move("feed_event", "stage_event", EVENT_COLS)
MOVE_BOOKS = _move("book_snapshot", "stage_book", BOOK_COLS)
# An alert is written when it opens, each time it escalates and when it closes (or replayed from a
# spill file in any order): the first close wins, and the most extreme peak and the highest severity
# are kept.
MOVE_ALERTS = """
INSERT INTO alert (venue, symbol, signal, opened_ns, closed_ns, severity, peak_z, run_id, close_reason)
SELECT venue, symbol, signal, opened_ns, closed_ns, severity::alert_severity, peak_z, run_id, close_reason
FROM stage_alert
ON CONFLICT (venue, symbol, signal, opened_ns) DO UPDATE SET
    closed_ns = coalesce(alert.closed_ns, excluded.closed_ns),
    close_reason = CASE WHEN alert.closed_ns IS NULL THEN excluded.close_reason ELSE alert.close_reason END,
    severity = greatest(alert.severity, excluded.severity),
    peak_z = CASE WHEN alert.peak_z IS NULL OR abs(excluded.peak_z) > abs(alert.peak_z)
                  THEN excluded.peak_z ELSE alert.peak_z END,
    run_id = coalesce(alert.run_id, excluded.run_id)
"""
# The alerts a dead run left open end when it was last seen alive; replaying this is a no-op.
CLOSE_DEAD_RUN = """
UPDATE alert SET closed_ns = $2, close_reason = $3 WHERE run_id = $1::uuid AND closed_ns IS NULL
"""
