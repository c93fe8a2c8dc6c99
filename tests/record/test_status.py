"""The one-line status the TUI header and headless stderr show (``RecorderStatus.describe``)."""

from __future__ import annotations

from lcm_tui.record import RecorderStatus


def test_describe_up_down_spilling_and_dropping() -> None:
    up = RecorderStatus(rows_written=12345, queue_depth=3, lag_s=0.42, spilled_rows=0, down_since=None,
                        last_error="an old error")
    assert up.describe(now=100.0) == "rec 12,345 rows | q 3 | lag 0.4s"
    assert up.state == "UP"

    err = "OSError: Multiple exceptions: [Errno 111] Connect call failed ('127.0.0.1', 5433),\n" + "x" * 80
    down = RecorderStatus(rows_written=7, queue_depth=0, lag_s=42.3, spilled_rows=588, down_since=58.0,
                          last_error=err, dropped_rows=2, spill_bytes=612_000)
    text = down.describe(now=100.0)
    assert text.startswith("rec DOWN 42s | q 0 | lag 42.3s | spill 588 rows (0.6 MB) | 2 DROPPED | OSError: ")
    assert "\n" not in text and text.endswith("...") and len(text) < 200
    assert down.state == "DOWN"


def test_describe_says_what_a_dead_previous_run_may_have_lost_and_a_failed_writer() -> None:
    loss = "previous run died: gap 13:02:11.0-13:02:11.5 UTC"
    st = RecorderStatus(rows_written=5, queue_depth=0, lag_s=31.0, spilled_rows=701, down_since=None,
                        last_error=None, spill_bytes=2_000_000, previous_loss=loss)
    assert st.describe(now=0.0) == f"rec 5 rows | q 0 | lag 31.0s | spill 701 rows (2.0 MB) | {loss}"
    assert st.state == "SPILLING"
    failed = RecorderStatus(rows_written=5, queue_depth=9, lag_s=1.0, spilled_rows=0, down_since=None,
                            last_error="x", failed="writer crashed: RuntimeError: boom")
    assert failed.describe(now=0.0) == "rec FAILED | q 9 | lag 1.0s | writer crashed: RuntimeError: boom"
    assert failed.state == "FAILED"
