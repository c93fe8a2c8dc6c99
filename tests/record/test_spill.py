"""The spill file on its own: order, the size bound, torn tails, and the single-writer lock."""

from __future__ import annotations

from pathlib import Path

import pytest
from recdata import make_samples

from lcm_tui.config import RecorderConfig
from lcm_tui.record import Recorder
from lcm_tui.record.spill import SpillFile, SpillInUseError


def recs(lo: int, hi: int) -> list[tuple[str, float, list[int]]]:
    return [("s", 1.0, [i]) for i in range(lo, hi)]


def test_append_read_commit_in_order_then_truncate(tmp_path: Path) -> None:
    sp = SpillFile(tmp_path / "s.jsonl", 1 << 20)
    sp.open()
    sp.append(recs(0, 10))
    batch, end, n = sp.read_batch(4)
    assert [r[2][0] for r in batch] == [0, 1, 2, 3] and n == 4
    sp.commit(end, n)
    sp.append(recs(10, 12))  # appended behind what is still waiting
    rest: list[int] = []
    while sp.pending:
        batch, end, n = sp.read_batch(3)
        rest += [r[2][0] for r in batch]
        sp.commit(end, n)
    assert rest == list(range(4, 12))
    assert sp.size == 0 and (tmp_path / "s.jsonl").stat().st_size == 0
    sp.close()
    assert not (tmp_path / "s.jsonl").exists()


def test_full_file_drops_and_counts(tmp_path: Path) -> None:
    sp = SpillFile(tmp_path / "s.jsonl", 200)
    sp.open()
    dropped = sp.append(recs(0, 20))
    assert dropped > 0 and sp.dropped == dropped and sp.pending == 20 - dropped
    assert sp.size <= 200
    sp.close()


def test_reopen_counts_pending_and_cuts_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    sp = SpillFile(path, 1 << 20)
    sp.open()
    sp.append(recs(0, 5))
    sp.close()
    with path.open("ab") as f:
        f.write(b'["s", 1.0, [9')
    sp = SpillFile(path, 1 << 20)
    sp.open()
    assert (sp.pending, sp.corrupt) == (5, 1)
    sp.append(recs(5, 6))
    batch, _, n = sp.read_batch(100)
    assert [r[2][0] for r in batch] == [0, 1, 2, 3, 4, 5] and n == 6
    sp.close()


def test_unreadable_line_is_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_bytes(b'["s",1.0,[0]]\nnot json\n["s",1.0,[1]]\n')
    sp = SpillFile(path, 1 << 20)
    sp.open()
    batch, _, n = sp.read_batch(10)
    assert [r[2][0] for r in batch] == [0, 1] and n == 3 and sp.corrupt == 1
    sp.close()


def test_second_opener_is_refused(tmp_path: Path) -> None:
    a = SpillFile(tmp_path / "s.jsonl", 1 << 20)
    a.open()
    with pytest.raises(SpillInUseError):
        SpillFile(tmp_path / "s.jsonl", 1 << 20).open()
    a.close()


def test_full_queue_drops_newest_and_counts_without_blocking(tmp_path: Path) -> None:
    rec = Recorder(RecorderConfig(max_queue=10, spill_path=str(tmp_path / "s.jsonl")))
    for s in make_samples(15):
        rec.on_sample(s, None)  # not started: nothing drains the queue
    st = rec.status()
    assert (st.queue_depth, st.dropped_rows) == (10, 5)
    assert "5 DROPPED" in st.describe()


def test_lines_appended_after_the_file_was_emptied_are_read_not_the_old_ones(tmp_path: Path) -> None:
    """Emptying the file reuses its offsets: a read must return the new lines, never bytes buffered
    from before (that wrote an old batch twice and skipped the new one after a stall)."""
    sp = SpillFile(tmp_path / "s.jsonl", 1 << 20)
    sp.open()
    sp.append(recs(0, 50))
    assert sp.head_time() == 1.0  # the lag peeks at the first line: the reader buffers the file's start
    sp.commit(sp.size, 50)  # committed without reading back (a journaled batch in flight): emptied
    assert sp.size == 0
    sp.append(recs(100, 150))
    batch, _, _ = sp.read_batch(50)
    assert [r[2][0] for r in batch] == list(range(100, 150))
    sp.close()
