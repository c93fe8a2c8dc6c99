"""The PostgreSQL recorder: a Monitor listener that never blocks, a background writer and a flush tick.

Flow of a record: ``on_sample``/``on_alert``/``on_event`` build a plain record and append it to an
in-memory deque (nothing else: they run inside the sample clock). The writer task takes up to
``batch_size`` records per transaction, COPYs them into per-connection staging tables and moves them
into the real tables with ``INSERT ... ON CONFLICT``, so writing the same record twice is harmless.

Durability: a crash loses at most one flush interval. A tick runs every half ``flush_interval_s``,
independently of the writer (which may be stuck in a slow database call): whatever was already in
memory at the previous tick and is still not committed (the batch in flight included) is appended
to the spill journal, the journal is fsynced, and ``<spill>.run`` notes the run and its newest stored
sample. So a record is either committed or in the journal within one flush interval of its arrival,
whether the database is up, slow or down. A start that finds ``<spill>.run`` knows the previous run
died: it reports the span that may be missing (status line and a feed event) and closes the alerts
that run left open, through the journal, behind the dead run's own lines.

Order and loss rules, which the tests check:

* Records reach the database in arrival order. The writer is the only code that reads the journal
  and the connection; it writes the journal from the front before it writes from memory again, and
  takes a batch from memory only while the journal is empty. While the journal holds anything, new
  records are appended behind it.
* When a write fails for a connection reason (server gone, backend terminated, timeout, proxy down),
  the batch in flight and everything queued go to the journal; the writer reconnects with backoff
  and replays. A batch whose commit ack was lost may be written twice: the keys make that a no-op.
* A batch the server rejects for its *data* is split in halves until the bad record is isolated;
  only that record is dropped, counted and logged, so one bad value cannot stall the recorder.
* Memory is bounded by ``max_queue``: above half of it the writer moves the deque to the journal
  even while the database is up; a record that arrives while the deque is full, or that does not fit
  in a full journal, is dropped and counted in ``dropped_rows``, which ``describe()`` shows.
* The monitor reports each alert change once (``on_alert_change``: open, escalate, close): each is
  written as the alert's row state then, merged into the one row per alert by the upsert.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import asyncpg
import asyncpg.exceptions._base as asyncpg_base

from lcm_tui.config import RecorderConfig
from lcm_tui.core.model import (
    Alert,
    AlertChange,
    FeedEvent,
    FeedEventKind,
    MetricSample,
    StreamStatus,
    SymbolState,
)
from lcm_tui.core.ratelog import RateLimitedLog
from lcm_tui.core.retry import Backoff
from lcm_tui.record import schema
from lcm_tui.record.dsn import DsnError, ParsedDsn, Secrets, describe_target, parse_dsn
from lcm_tui.record.errors import EXIT_CONFIG, RecorderError
from lcm_tui.record.rows import (
    ALERT,
    BOOK,
    EVENT,
    RECOVER,
    SAMPLE,
    Record,
    Tables,
    alert_payload,
    book_payload,
    event_payload,
    recover_payload,
    sample_payload,
)
from lcm_tui.record.runstate import RunState, read_state, remove_state, state_path, write_state
from lcm_tui.record.spill import SpillFile, SpillInUseError
from lcm_tui.record.status import RecorderStatus

__all__ = ["APPLICATION_NAME", "Recorder", "RecorderError", "RecorderStatus"]

log = logging.getLogger("lcm_tui.record")
_T = TypeVar("_T")

APPLICATION_NAME = "lcm-tui-recorder"
RECORDER_VENUE = "recorder"  # the venue of the recorder's own feed events (a gap left by a dead run)
STOPPED_REASON = "lcm-tui stopped while the alert was open"
_RECOVERY_NS = uuid.UUID("5d7c1c8e-3f0b-4f43-9a64-6c636d2d7265")  # uuid5 namespace: one event per dead run

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


async def _prepare(conn: asyncpg.Connection) -> None:
    await schema.migrate(conn)
    await conn.execute(schema.STAGING_DDL)


async def _bounded(conn: asyncpg.Connection, work: Coroutine[Any, Any, _T], timeout: float) -> _T:
    """``await work`` (calls on ``conn``) for at most ``timeout`` seconds, else ``TimeoutError``.

    Not ``asyncio.wait_for``: it cancels and then waits for the cancelled call to finish, and a call
    cancelled inside a transaction sends ROLLBACK, which a server that stopped answering (a stalled
    or SIGSTOPped backend, a network that drops packets) never answers: the writer would hang there
    for good, never reconnect, never show DOWN. Cutting the connection first makes every pending call
    on it fail at once.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=timeout)
    except asyncio.CancelledError:
        conn.terminate()
        task.cancel()
        raise
    if done:
        return task.result()
    conn.terminate()
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)  # the connection is gone: it ends at once
    task.add_done_callback(lambda t: t.cancelled() or t.exception())  # its error is the timeout's, not news
    raise TimeoutError(f"no answer from the server within {timeout:g} s")


def _utc(ns: int, *, date: bool = False) -> str:
    dt = datetime.fromtimestamp(ns / 1e9, UTC)
    return dt.strftime("%Y-%m-%d %H:%M:%S.%f")[:-5] if date else dt.strftime("%H:%M:%S.%f")[:-5]


class Recorder:
    """Records samples, alerts, feed events and book snapshots to PostgreSQL (see module docstring).

    Wiring: ``await rec.start()``, ``monitor.add_listener(rec)``, then pass ``rec.startup_events``
    to ``monitor.on_event`` (or give ``events=monitor.on_event``) so the recorder's own feed event
    (what a dead previous run may have lost) shows in the feed like any other; show
    ``rec.describe()``; and ``await rec.close()`` on the way out. The listener methods must be called
    from the event loop's thread (the Monitor runs there); they only append to a deque.
    """

    def __init__(
        self,
        cfg: RecorderConfig,
        *,
        events: Callable[[FeedEvent], None] | None = None,
        backoff_min_s: float = 0.5,
        backoff_max_s: float = 30.0,
        connect_timeout_s: float = 10.0,
        write_timeout_s: float = 30.0,
        close_timeout_s: float = 10.0,
    ) -> None:
        self.cfg = cfg
        self.target = describe_target(cfg.dsn)
        self.run_id = str(uuid.uuid4())
        self._secrets = Secrets(cfg.dsn)
        self._events_sink = events
        self._connect_timeout = connect_timeout_s
        self._write_timeout = write_timeout_s
        self._close_timeout = close_timeout_s
        self._tick_s = cfg.flush_interval_s / 2
        self._high_water = max(1, cfg.max_queue // 2)
        self._queue: deque[Record] = deque()
        self._seq_in = 0  # records ever appended to the deque
        self._seq_out = 0  # records ever taken off its front (to a batch or to the journal)
        self._due = 0  # _seq_in at the last tick: what is older must be committed or journaled by the next
        self._inflight: Sequence[Record] = ()  # a batch taken from the deque, being written
        self._inflight_seq0 = 0
        self._inflight_journal: tuple[int, int] | None = None  # (end offset, lines) once it is journaled too
        self._spill = SpillFile(cfg.spill_path, cfg.spill_max_bytes)
        self._state_path = state_path(cfg.spill_path)
        self._started_ns = 0
        self._stored_ns: int | None = None  # newest sample committed or journaled
        self._previous_loss: str | None = None
        self.recovery_event: FeedEvent | None = None  # what the previous run may have lost, if it died
        self._parsed: ParsedDsn | None = None
        self._conn: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stop_tick = asyncio.Event()
        self._changed = asyncio.Event()
        self._flush_waiters = 0
        self._started = False
        self._closing = False
        self._closed = False
        self._watching: set[tuple[str, str, str, int]] = set()  # this run's alerts still open
        self._rows_written = 0
        self._spilled_total = 0
        self._dropped = 0  # queue full, after close, rejected; spill-full drops are counted by SpillFile
        self._down_since: float | None = None
        self._last_error: str | None = None
        self._failed: str | None = None
        self._backoff = Backoff(backoff_min_s, backoff_max_s)
        self._next_attempt = 0.0
        self._last_book_ns: dict[tuple[str, str], int] = {}
        self._ratelog = RateLimitedLog(log, every=10.0)  # a database outage must not flood the log

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

    def on_alert_change(self, change: AlertChange) -> None:
        self.on_alert(change.alert)

    def on_alert(self, alert: Alert, run_id: str | None = None) -> None:
        """Write the alert's state as it is now (an open, escalation or close: the upsert merges them).

        ``run_id``: the process watching the alert when it is not this one (a collector on the bus).
        """
        if run_id is None:  # this run watches it: still open when the run stops, the stop closes it
            key = (alert.venue, alert.symbol, alert.signal, alert.opened_ns)
            if alert.closed_ns is None:
                self._watching.add(key)
            else:
                self._watching.discard(key)
        self._put((ALERT, time.time(), alert_payload(alert, run_id or self.run_id)))

    def on_event(self, ev: FeedEvent, event_id: str | None = None) -> None:
        if ev is self.recovery_event:  # our own event coming back through the monitor: already recorded
            return
        now_ns = time.time_ns()
        self._put((EVENT, now_ns / 1e9, event_payload(ev, now_ns, event_id)))

    def _put(self, rec: Record) -> None:
        if self._closed:
            self._drop(1, "record after close()")
            return
        q = self._queue
        if len(q) >= self.cfg.max_queue:
            self._drop(1, f"queue full ({self.cfg.max_queue} records)")
            return
        q.append(rec)
        self._seq_in += 1
        if len(q) >= self.cfg.batch_size:
            self._wake.set()

    def _take(self, n: int) -> list[Record]:
        q = self._queue
        out = [q.popleft() for _ in range(n)]
        self._seq_out += n
        return out

    def _drop(self, n: int, why: str) -> None:
        self._dropped += n
        self._ratelog.warn("drop:" + why, "recorder: dropped %d record(s): %s (%d dropped in total)", n, why,
                           self._dropped + self._spill.dropped)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Check the DSN, open the spill journal, report a dead previous run, connect and migrate, start.

        A configuration error (a DSN that does not parse, unknown role or database, refused login,
        schema from a newer version, spill journal in use or not writable) raises ``RecorderError``
        with ``exit_code`` 2. An unreachable server does not: the recorder starts spilling and keeps
        retrying, because monitoring must not wait for the database.
        """
        if self._started:
            return
        try:
            self._parsed = parse_dsn(self.cfg.dsn)
        except DsnError as e:  # the caller reports it: logging it too would say it twice
            raise RecorderError(str(e), exit_code=EXIT_CONFIG) from None
        try:
            self._spill.open()
        except SpillInUseError as e:
            raise RecorderError(f"recorder: {e}", exit_code=EXIT_CONFIG) from None
        except OSError as e:
            raise RecorderError(f"recorder: cannot open the spill journal {self._spill.path}: "
                                f"{e.strerror or e} (set recorder.spill_path to a writable file)",
                                exit_code=EXIT_CONFIG) from None
        try:
            self._started_ns = time.time_ns()
            self._recover_previous_run()
            await self._connect(first=True)
            self._write_state()
        except RecorderError:
            self._spill.close()
            raise
        except OSError as e:
            self._spill.close()
            raise RecorderError(f"recorder: cannot write next to the spill journal {self._spill.path}: "
                                f"{e.strerror or e}", exit_code=EXIT_CONFIG) from None
        self._started = True
        self._task = asyncio.create_task(self._run(), name="lcm-recorder")
        self._task.add_done_callback(self._on_task_done)
        self._ticker = asyncio.create_task(self._tick_loop(), name="lcm-recorder-tick")
        if self.recovery_event is not None and self._events_sink is not None:
            try:
                self._events_sink(self.recovery_event)
            except Exception:
                log.exception("recorder: the feed event sink failed")
        self._notify()

    def _recover_previous_run(self) -> None:
        """A run state file left behind means its run died: journal what closes its loose ends."""
        prev = read_state(self._state_path)
        if prev is None:
            return
        lost_from = prev.stored_ns if prev.stored_ns is not None else prev.started_ns
        lost_to = prev.seen_ns + int(prev.tick_s * 1e9)
        self._previous_loss = f"previous run died: gap {_utc(lost_from)}-{_utc(lost_to)} UTC"
        detail = (f"recorder: the previous run (pid {prev.pid}) died; samples after "
                  f"{_utc(lost_from, date=True)} up to {_utc(lost_to, date=True)} UTC may be missing")
        now_ns = time.time_ns()
        self.recovery_event = FeedEvent(now_ns, RECORDER_VENUE, "", FeedEventKind.GAP, detail)
        event = list(event_payload(self.recovery_event, now_ns))
        event[0] = str(uuid.uuid5(_RECOVERY_NS, prev.run_id))  # a second start after the same death: same row
        reason = f"process {prev.pid} died (last seen {_utc(prev.seen_ns, date=True)} UTC)"
        recs: list[Record] = [(RECOVER, now_ns / 1e9, recover_payload(prev.run_id, prev.seen_ns, reason)),
                              (EVENT, now_ns / 1e9, tuple(event))]
        self._spill.append(recs)
        fd = self._spill.sync()
        if fd is not None:
            os.fsync(fd)
        log.warning("%s", detail)

    @property
    def startup_events(self) -> list[FeedEvent]:
        """Feed events of this start for the app's event feed (the recorder records them itself)."""
        return [self.recovery_event] if self.recovery_event is not None else []

    @property
    def running(self) -> bool:
        """start() succeeded and the writer is working (close() not called)."""
        return self._task is not None and not self._task.done()

    async def close(self) -> None:
        """Write what can be written within ``close_timeout_s``; spill the rest for the next start."""
        if self._closed:
            return
        if self._started and self._watching:
            # Nothing watches this run's open alerts any more: close them, with the reason, as the next
            # start would for a run that died (the alert table must never hold an alert open forever).
            now_ns = time.time_ns()
            self._put((RECOVER, now_ns / 1e9, recover_payload(self.run_id, now_ns, STOPPED_REASON)))
        self._closing = True
        self._stop_tick.set()
        if self._ticker is not None:
            with contextlib.suppress(Exception):
                await self._ticker  # at most one fsync away
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
            try:
                self._spill.close()
            except OSError as e:
                log.error("recorder: cannot sync the spill journal %s: %s", self._spill.path, e.strerror or e)
            else:
                remove_state(self._state_path)  # a clean stop: nothing for the next start to report
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
            self._failed = self._secrets.scrub(f"writer crashed: {type(e).__name__}: {e}")
            self._last_error = self._failed
            log.error("recorder: %s", self._failed)
            self._notify()

    # ------------------------------------------------------------------ status
    def status(self) -> RecorderStatus:
        now = time.time()
        oldest: float | None = None
        if self._spill.pending:
            oldest = self._spill.head_time()
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
            previous_loss=self._previous_loss,
            failed=self._failed,
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

    # ------------------------------------------------------------------ the flush tick
    async def _tick_loop(self) -> None:
        while not self._stop_tick.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_tick.wait(), self._tick_s)
            if self._stop_tick.is_set():
                return  # close() spills and syncs what is left
            try:
                await self._tick()
            except Exception as e:  # a full disk must not stop the writer: say so and carry on
                self._ratelog.warn("tick", "recorder: flush tick failed: %s", self._error_text(e))

    async def _tick(self) -> None:
        """Journal what the writer has not confirmed since the last tick, fsync, note the run, wake the writer."""
        due = self._due
        if self._inflight and self._inflight_journal is None and self._inflight_seq0 < due:
            # The batch in flight is stuck (a slow or stalled database): make it durable too. The
            # journal was empty when it was taken, so its lines are the journal's first ones.
            added = self._journal(self._inflight)
            if added is not None:
                self._inflight_journal = (self._spill.size, added)
        late = due - self._seq_out
        if late > 0:
            self._spill_records(self._take(late))
        fd = self._spill.sync()
        if fd is not None:
            try:
                await asyncio.to_thread(os.fsync, fd)
            except OSError as e:
                self._ratelog.warn("fsync", "recorder: cannot fsync the spill journal %s: %s", self._spill.path,
                                   e.strerror or e)
        try:
            self._write_state()
        except OSError as e:
            self._ratelog.warn("state", "recorder: cannot write %s: %s", self._state_path, e.strerror or e)
        self._due = self._seq_in
        self._wake.set()
        self._notify()

    def _write_state(self) -> None:
        write_state(self._state_path, RunState(self.run_id, os.getpid(), self._started_ns, time.time_ns(),
                                               self._stored_ns, self._tick_s))

    def _note_stored(self, recs: Sequence[Record]) -> None:
        newest = self._stored_ns
        for kind, _, p in recs:
            if kind == SAMPLE and (newest is None or p[2] > newest):
                newest = p[2]
        self._stored_ns = newest

    # ------------------------------------------------------------------ connection
    def _error_text(self, e: BaseException) -> str:
        return self._secrets.scrub(f"{type(e).__name__}: {e}")

    async def _connect(self, first: bool = False) -> bool:
        parsed = self._parsed if self._parsed is not None else parse_dsn(self.cfg.dsn)
        try:
            conn = await asyncpg.connect(
                parsed.url,
                timeout=self._connect_timeout,
                server_settings={"application_name": APPLICATION_NAME},
                **parsed.kwargs,
            )
            try:
                await _bounded(conn, _prepare(conn), self._connect_timeout)
            except BaseException:
                conn.terminate()
                raise
        except _FATAL_CONNECT_ERRORS as e:
            msg = f"recorder: cannot use PostgreSQL at {self.target}: {self._error_text(e)}"
            if first:
                raise RecorderError(msg, exit_code=EXIT_CONFIG) from None
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
            self._backoff.reset()
        self._next_attempt = time.monotonic() + self._backoff.next()
        self._notify()

    def _mark_up(self) -> None:
        if self._down_since is not None:
            log.warning("recorder: PostgreSQL at %s is back after %.1f s; replaying %d spilled records",
                        self.target, time.time() - self._down_since, self._spill.pending)
        self._down_since = None
        self._backoff.reset()

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
            timeout = min(max(0.0, self._next_attempt - time.monotonic()), self._tick_s)
        elif (self._spill.pending or len(self._queue) >= self.cfg.batch_size or self._seq_out < self._due
              or (self._flush_waiters and self._queue)):
            await asyncio.sleep(0)  # let the producers run between back-to-back batches
            return
        else:
            timeout = self._tick_s  # the tick wakes the writer; this is only a fallback
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
            if await self._write(recs):
                self._spill.commit(end, consumed)
        elif self._queue:
            self._inflight_seq0 = self._seq_out
            self._inflight_journal = None
            self._inflight = self._take(min(len(self._queue), self.cfg.batch_size))
            ok = await self._write(self._inflight)
            journaled, self._inflight_journal = self._inflight_journal, None
            if ok and journaled is not None:
                self._spill.commit(*journaled)  # the tick journaled it while it was in flight
            elif not ok and journaled is None:
                self._spill_records(self._inflight)  # the journal is empty here: order is kept
            self._inflight = ()
        self._notify()

    def _journal(self, recs: Sequence[Record]) -> int | None:
        """Append to the journal; the lines added (some may not fit), or None if the file cannot be written."""
        if not recs:
            return 0
        try:
            dropped = self._spill.append(recs)
            self._spill.flush()
        except OSError as e:
            self._last_error = self._error_text(e)
            self._ratelog.warn("spill-error", "recorder: cannot write the spill journal %s (%s)",
                               self._spill.path, self._last_error)
            return None
        if dropped:
            self._ratelog.warn(
                "spill-full", "recorder: spill journal %s is full (%d bytes): dropped %d record(s), %d in total",
                self._spill.path, self._spill.max_bytes, dropped, self._spill.dropped + self._dropped)
        else:
            self._note_stored(recs)
        self._spilled_total += len(recs) - dropped
        return len(recs) - dropped

    def _spill_records(self, recs: Sequence[Record]) -> None:
        if recs and self._journal(recs) is None:  # disk full, file removed, ...: the records are lost, and it shows
            self._dropped += len(recs)

    def _spill_queue(self) -> None:
        if self._queue:
            self._spill_records(self._take(len(self._queue)))

    def _spill_memory(self) -> None:
        """Everything in memory, oldest first, behind what the journal already holds."""
        if not self._spill.is_open:
            return
        # Only batches taken from the deque are held here; a batch replayed from the journal is
        # still in the file until it is committed.
        inflight, self._inflight = self._inflight, ()
        if self._inflight_journal is None:
            self._spill_records(inflight)
        self._inflight_journal = None
        self._spill_queue()

    async def _write(self, recs: Sequence[Record]) -> bool:
        """Commit ``recs``; False (and the recorder marked down) on a connection-level failure."""
        conn = self._conn
        assert conn is not None
        try:
            rejected = await _bounded(conn, self._write_isolating(conn, recs), self._write_timeout)
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
        self._note_stored(recs)
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
            for dead_run, closed_ns, reason in t.recoveries:  # after the moves: the dead run's own closes win
                await conn.execute(schema.CLOSE_DEAD_RUN, dead_run, closed_ns, reason)
