"""The PostgreSQL recorder: a Monitor listener that never blocks, and one background writer task.

Flow of a record: ``on_sample``/``on_alert``/``on_event`` build a plain record and append it to an
in-memory deque (nothing else: they run inside the sample clock). The writer task takes up to
``batch_size`` records per transaction, COPYs them into per-connection staging tables and moves them
into the real tables with ``INSERT ... ON CONFLICT``, so writing the same record twice is harmless.

Order and loss rules, which the tests check:

* Records reach the database in arrival order. The writer is the only code that touches the spill
  file and the connection, so the order is always: the batch in flight, then the spill file, then the
  deque. While the spill file holds anything, new records are appended behind it, and the writer
  replays it from the front before it writes from memory again.
* When a write fails for a connection reason (server gone, backend terminated, timeout, proxy down),
  the batch in flight and everything queued go to the spill file; the writer reconnects with
  exponential backoff and replays. A batch whose commit ack was lost may be written twice: the keys
  make that a no-op.
* A batch the server rejects for its *data* is split in halves until the bad record is isolated;
  only that record is dropped, counted and logged, so one bad value cannot stall the recorder.
* Memory is bounded by ``max_queue``: above half of it the writer moves the deque to the spill file
  even while the database is up (the database is too slow); a record that arrives while the deque is
  full, or that does not fit in a full spill file, is dropped and counted in ``dropped_rows``, which
  ``describe()`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import asyncpg.exceptions._base as asyncpg_base

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import Alert, FeedEvent, MetricSample, StreamStatus, SymbolState
from lcm_tui.record import schema
from lcm_tui.record.dsn import Secrets, describe_target
from lcm_tui.record.rows import (
    ALERT,
    BOOK,
    EVENT,
    SAMPLE,
    Record,
    Tables,
    alert_payload,
    book_payload,
    event_payload,
    sample_payload,
)
from lcm_tui.record.spill import SpillFile, SpillInUseError

log = logging.getLogger("lcm_tui.record")

APPLICATION_NAME = "lcm-tui-recorder"

# The server rejected the values themselves: retrying the same batch would fail forever.
_DATA_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    ValueError,  # includes asyncpg's client-side DataError (a value its codec cannot encode)
    ArithmeticError,  # decimal.InvalidOperation: a price string that is not a number
    TypeError,
    LookupError,  # a malformed record (e.g. an edited spill file line) that Tables cannot split
)
# Configuration mistakes that reconnecting cannot fix: reported by start() instead of retried.
_FATAL_CONNECT_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidCatalogNameError,
    asyncpg.InsufficientPrivilegeError,
    asyncpg_base.ClientConfigurationError,
    ValueError,
    schema.SchemaTooNewError,
)


class RecorderError(RuntimeError):
    """A recorder problem, with a message that never contains the database password."""


@dataclass(slots=True, frozen=True)
class RecorderStatus:
    rows_written: int  # records committed (a sample with its depth and slippage rows counts once)
    queue_depth: int  # records in memory, including the batch in flight
    lag_s: float  # age of the oldest record not yet committed
    spilled_rows: int  # records waiting in the spill file
    down_since: float | None  # wall-clock time the database became unreachable, None while it is up
    last_error: str | None  # the last database error, password removed
    dropped_rows: int = 0  # records lost: queue full, spill file full or torn, or rejected by the server
    spill_bytes: int = 0
    spilled_total: int = 0  # records that went through the spill file since start (slow or down database)
    target: str = ""

    def describe(self, now: float | None = None) -> str:
        """One line for the TUI header and headless stderr."""
        now = time.time() if now is None else now
        if self.down_since is not None:
            text = f"rec DOWN {max(0.0, now - self.down_since):.0f}s"
        else:
            text = f"rec {self.rows_written:,} rows"
        text += f" | q {self.queue_depth:,} | lag {self.lag_s:.1f}s"
        if self.spilled_rows:
            text += f" | spill {self.spilled_rows:,} rows ({self.spill_bytes / 1e6:.1f} MB)"
        if self.dropped_rows:
            text += f" | {self.dropped_rows:,} DROPPED"
        if self.down_since is not None and self.last_error:
            err = " ".join(self.last_error.split())
            text += f" | {err[:77]}..." if len(err) > 80 else f" | {err}"
        return text


class _RateLimited:
    """Warn once per ``every`` seconds per key: a database outage must not flood the log."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self._last: dict[str, float] = {}

    def warn(self, key: str, msg: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last.get(key, -1e18) >= self.every:
            self._last[key] = now
            log.warning(msg, *args)


class Recorder:
    """Records samples, alerts, feed events and book snapshots to PostgreSQL (see module docstring).

    Wiring: ``await rec.start()`` then ``monitor.add_listener(rec)``; show ``rec.describe()``; and
    ``await rec.close()`` on the way out. The listener methods must be called from the event loop's
    thread (the Monitor runs there); they only append to a deque.
    """

    def __init__(
        self,
        cfg: RecorderConfig,
        *,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        write_timeout_s: float = 30.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.cfg = cfg
        self.target = describe_target(cfg.dsn)
        self._secrets = Secrets(cfg.dsn)
        self._backoff_min = backoff_min_s
        self._backoff_max = backoff_max_s
        self._connect_timeout = connect_timeout_s
        self._write_timeout = write_timeout_s
        self._close_timeout = close_timeout_s
        self._high_water = max(1, cfg.max_queue // 2)
        self._queue: deque[Record] = deque()
        self._inflight: Sequence[Record] = ()
        self._spill = SpillFile(cfg.spill_path, cfg.spill_max_bytes)
        self._spill_head_t: float | None = None
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._flush_waiters = 0
        self._started = False
        self._closing = False
        self._closed = False
        self._rows_written = 0
        self._spilled_total = 0
        self._dropped = 0  # queue full, after close, rejected; spill-full drops are counted by SpillFile
        self._down_since: float | None = None
        self._last_error: str | None = None
        self._backoff = backoff_min_s
        self._next_attempt = 0.0
        self._last_book_ns: dict[tuple[str, str], int] = {}
        self._ratelog = _RateLimited()

    # ------------------------------------------------------------------ Monitor listener (non-blocking)
    def on_sample(self, sample: MetricSample, state: SymbolState | None = None) -> None:
        now = time.time()
        status = str(state.status) if state is not None else str(StreamStatus.LIVE)
        self._put((SAMPLE, now, sample_payload(sample, status)))
        every = self.cfg.book_snapshot_interval_s
        if every > 0 and state is not None and state.status is StreamStatus.LIVE:
            key = (sample.venue, sample.symbol)
            last = self._last_book_ns.get(key)
            if last is None or sample.ts_ns - last >= every * 1e9:
                self._last_book_ns[key] = sample.ts_ns
                n = self.cfg.book_snapshot_levels
                book = state.book
                self._put((BOOK, now, book_payload(sample.venue, sample.symbol, sample.ts_ns,
                                                   book.bids.top(n), book.asks.top(n))))

    def on_alert(self, alert: Alert) -> None:
        self._put((ALERT, time.time(), alert_payload(alert)))

    def on_event(self, ev: FeedEvent) -> None:
        now_ns = time.time_ns()
        self._put((EVENT, now_ns / 1e9, event_payload(ev, now_ns)))

    def _put(self, rec: Record) -> None:
        if self._closed:
            self._drop(1, "record after close()")
            return
        q = self._queue
        if len(q) >= self.cfg.max_queue:
            self._drop(1, f"queue full ({self.cfg.max_queue} records)")
            return
        q.append(rec)
        if len(q) >= self.cfg.batch_size:
            self._wake.set()

    def _drop(self, n: int, why: str) -> None:
        self._dropped += n
        self._ratelog.warn("drop:" + why, "recorder: dropped %d record(s): %s (%d dropped in total)", n, why,
                           self._dropped + self._spill.dropped)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Open the spill file, connect and migrate, and start the writer.

        A configuration error (bad DSN, unknown role or database, auth failure, schema from a newer
        version, spill file in use) raises ``RecorderError``. An unreachable server does not: the
        recorder starts spilling and keeps retrying, because monitoring must not wait for the database.
        """
        if self._started:
            return
        try:
            self._spill.open()
        except (SpillInUseError, OSError) as e:
            raise RecorderError(f"recorder: cannot open spill file: {e}") from None
        try:
            await self._connect(first=True)
        except RecorderError:
            self._spill.close()
            raise
        self._started = True
        self._task = asyncio.create_task(self._run(), name="lcm-recorder")
        self._task.add_done_callback(self._on_task_done)
        self._notify()

    @property
    def running(self) -> bool:
        """start() succeeded and the writer is working (close() not called)."""
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        """Write what can be written within ``close_timeout_s``; spill the rest for the next start."""
        if self._closed:
            return
        self._closing = True
        self._wake.set()
        task = self._task
        graceful = True
        if task is not None and not task.done():  # done: it crashed (logged) or was cancelled (spilled)
            try:
                await asyncio.wait_for(asyncio.shield(task), self._close_timeout)
            except TimeoutError:
                graceful = False
                log.warning("recorder: could not finish writing within %.1f s; the rest stays in %s",
                            self._close_timeout, self._spill.path)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._closed = True
        if self._started:
            self._spill_memory()
            self._spill.close()
        elif self._queue:
            self._drop(len(self._queue), "closed without a successful start()")
            self._queue.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            if graceful:  # a write was cut off mid-protocol otherwise: nothing to say goodbye over
                with contextlib.suppress(Exception):
                    await conn.close(timeout=2.0)
            if not conn.is_closed():
                conn.terminate()
        self._notify()

    async def run(self) -> None:
        """start(), then wait until cancelled, then close(): the shape a Textual worker wants."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def __aenter__(self) -> Recorder:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            e = task.exception()
            self._last_error = self._secrets.scrub(f"writer crashed: {type(e).__name__}: {e}")
            log.error("recorder: %s", self._last_error)

    # ------------------------------------------------------------------ status
    def status(self) -> RecorderStatus:
        now = time.time()
        oldest: float | None = None
        if self._spill.pending:
            oldest = self._spill_head_t
        if oldest is None and self._inflight:
            oldest = self._inflight[0][1]
        if oldest is None and self._queue:
            oldest = self._queue[0][1]
        return RecorderStatus(
            rows_written=self._rows_written,
            queue_depth=len(self._queue) + len(self._inflight),
            lag_s=max(0.0, now - oldest) if oldest is not None else 0.0,
            spilled_rows=self._spill.pending,
            down_since=self._down_since,
            last_error=self._last_error,
            dropped_rows=self._dropped + self._spill.dropped + self._spill.corrupt,
            spill_bytes=self._spill.size,
            spilled_total=self._spilled_total,
            target=self.target,
        )

    def describe(self) -> str:
        return self.status().describe()

    async def wait_until(self, pred: Callable[[RecorderStatus], bool], timeout: float | None = None) -> None:
        """Wait until ``pred(status())`` holds; re-checked whenever the writer makes progress or changes state."""
        async with asyncio.timeout(timeout):
            while True:
                ev = self._changed
                if pred(self.status()):
                    return
                await ev.wait()

    async def flush(self, timeout: float | None = None) -> None:
        """Write everything recorded so far now (not at the next flush interval); waits while the DB is down."""
        self._flush_waiters += 1
        self._wake.set()
        try:
            await self.wait_until(
                lambda s: s.queue_depth == 0 and s.spilled_rows == 0 and s.down_since is None, timeout
            )
        finally:
            self._flush_waiters -= 1

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    # ------------------------------------------------------------------ connection
    def _error_text(self, e: BaseException) -> str:
        return self._secrets.scrub(f"{type(e).__name__}: {e}")

    async def _connect(self, first: bool = False) -> bool:
        try:
            conn = await asyncpg.connect(
                self.cfg.dsn or None,
                timeout=self._connect_timeout,
                server_settings={"application_name": APPLICATION_NAME},
            )
            try:
                await schema.migrate(conn)
                await conn.execute(schema.STAGING_DDL)
            except BaseException:
                conn.terminate()
                raise
        except _FATAL_CONNECT_ERRORS as e:
            msg = f"recorder: cannot use PostgreSQL at {self.target}: {self._error_text(e)}"
            if first:
                log.error("%s", msg)
                raise RecorderError(msg) from None
            self._mark_down(e)
            return False
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            self._mark_down(e)
            return False
        self._conn = conn
        self._mark_up()
        return True

    def _mark_down(self, e: BaseException) -> None:
        if self._conn is not None:
            self._conn.terminate()
            self._conn = None
        self._last_error = self._error_text(e)
        if self._down_since is None:
            self._down_since = time.time()
            log.warning("recorder: PostgreSQL at %s unavailable (%s); spilling to %s", self.target,
                        self._last_error, self._spill.path)
            self._backoff = self._backoff_min
        else:
            self._backoff = min(self._backoff * 2, self._backoff_max)
        self._next_attempt = time.monotonic() + self._backoff
        self._notify()

    def _mark_up(self) -> None:
        if self._down_since is not None:
            log.warning("recorder: PostgreSQL at %s is back after %.1f s; replaying %d spilled records",
                        self.target, time.time() - self._down_since, self._spill.pending)
        self._down_since = None
        self._backoff = self._backoff_min

    # ------------------------------------------------------------------ writer task
    async def _run(self) -> None:
        try:
            while True:
                await self._wait_for_work()
                if self._closing and (self._conn is None or not (self._queue or self._spill.pending)):
                    return
                try:
                    await self._step()
                except Exception as e:
                    # A bug or an unreadable spill file must not kill the writer: the queue would fill
                    # up and every later record be dropped. Say so, pause, and carry on.
                    self._last_error = self._error_text(e)
                    self._ratelog.warn("step", "recorder: writer error: %s", self._last_error)
                    await asyncio.sleep(self.cfg.flush_interval_s)
        except asyncio.CancelledError:
            self._spill_memory()
            raise

    async def _wait_for_work(self) -> None:
        if self._closing:
            return
        if self._conn is None:
            timeout = min(max(0.0, self._next_attempt - time.monotonic()), self.cfg.flush_interval_s)
        elif self._spill.pending or len(self._queue) >= self.cfg.batch_size or (self._flush_waiters and self._queue):
            await asyncio.sleep(0)  # let the producers run between back-to-back batches
            return
        else:
            timeout = self.cfg.flush_interval_s
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _step(self) -> None:
        down = self._conn is None
        if down and (self._closing or time.monotonic() < self._next_attempt or not await self._connect()):
            self._spill_memory()  # durable while down, and keeps memory small
            return
        if self._spill.pending or len(self._queue) > self._high_water:
            self._spill_queue()
        if self._spill.pending:
            recs, end, consumed = self._spill.read_batch(self.cfg.batch_size)
            if recs:
                self._spill_head_t = recs[0][1]
            if await self._write(recs):
                self._spill.commit(end, consumed)
                if not self._spill.pending:
                    self._spill_head_t = None
        elif self._queue:
            q = self._queue
            self._inflight = [q.popleft() for _ in range(min(len(q), self.cfg.batch_size))]
            if not await self._write(self._inflight):
                self._spill_records(self._inflight)  # the spill file is empty here: order is kept
            self._inflight = ()
        self._notify()

    def _spill_records(self, recs: Sequence[Record]) -> None:
        if not recs:
            return
        if not self._spill.pending:
            self._spill_head_t = recs[0][1]
        try:
            dropped = self._spill.append(recs)
            self._spill.flush()
        except OSError as e:  # disk full, file removed, ...: the records are lost, and it shows
            dropped = len(recs)
            self._dropped += dropped
            self._last_error = self._error_text(e)
            self._ratelog.warn("spill-error", "recorder: cannot write spill file %s (%s): dropped %d record(s)",
                               self._spill.path, self._last_error, dropped)
            return
        self._spilled_total += len(recs) - dropped
        if dropped:
            self._ratelog.warn(
                "spill-full", "recorder: spill file %s is full (%d bytes): dropped %d record(s), %d in total",
                self._spill.path, self._spill.max_bytes, dropped, self._spill.dropped + self._dropped)

    def _spill_queue(self) -> None:
        q = self._queue
        recs = list(q)
        q.clear()
        self._spill_records(recs)

    def _spill_memory(self) -> None:
        """Everything in memory, oldest first, behind what the spill file already holds."""
        if not self._spill.is_open:
            return
        # Only batches taken from the deque are held here; a batch replayed from the spill file is
        # still in the file until it is committed.
        inflight, self._inflight = self._inflight, ()
        self._spill_records(inflight)
        self._spill_queue()

    async def _write(self, recs: Sequence[Record]) -> bool:
        """Commit ``recs``; False (and the recorder marked down) on a connection-level failure."""
        conn = self._conn
        assert conn is not None
        try:
            rejected = await asyncio.wait_for(self._write_isolating(conn, recs), self._write_timeout)
        except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            self._mark_down(e)
            return False
        except Exception as e:
            # Not a known connection or data failure: keep the records (spill) and retry with backoff
            # rather than let the writer die and the queue fill up.
            log.error("recorder: unexpected error while writing: %s", self._error_text(e))
            self._mark_down(e)
            return False
        self._rows_written += len(recs) - rejected
        self._dropped += rejected
        self._mark_up()
        return True

    async def _write_isolating(self, conn: asyncpg.Connection, recs: Sequence[Record]) -> int:
        """Write ``recs``; returns how many were rejected for their data (isolated by bisection)."""
        try:
            await self._copy(conn, recs)
        except _DATA_ERRORS as e:
            if len(recs) == 1:
                log.error("recorder: the server rejected a %s record, dropped: %s", recs[0][0], self._error_text(e))
                return 1
            mid = len(recs) // 2
            return await self._write_isolating(conn, recs[:mid]) + await self._write_isolating(conn, recs[mid:])
        return 0

    @staticmethod
    async def _copy(conn: asyncpg.Connection, recs: Sequence[Record]) -> None:
        t = Tables(recs)
        steps: list[tuple[str, list[tuple[Any, ...]], tuple[str, ...], str]] = [
            ("stage_sample", t.samples, schema.SAMPLE_COLS, schema.MOVE_SAMPLES),
            ("stage_depth", t.depth, schema.DEPTH_COLS, schema.MOVE_DEPTH),
            ("stage_slippage", t.slippage, schema.SLIPPAGE_COLS, schema.MOVE_SLIPPAGE),
            ("stage_alert", t.alerts, schema.ALERT_COLS, schema.MOVE_ALERTS),
            ("stage_event", t.events, schema.EVENT_COLS, schema.MOVE_EVENTS),
            ("stage_book", t.books, schema.BOOK_COLS, schema.MOVE_BOOKS),
        ]
        async with conn.transaction():
            for stage, rows, cols, move in steps:
                if rows:
                    await conn.copy_records_to_table(stage, records=rows, columns=cols)
                    await conn.execute(move)
