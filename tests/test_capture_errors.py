"""A file that is not a capture is one line and a non-zero exit, never an empty success or a traceback.

The cases are the ones a user meets: a file that is not gzip despite its name, binary data, another
tool's recording (JSON lines of another shape), an empty file. A capture cut short by a crash is not
an error: what was written before the cut replays.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from lcm_tui.frontends.cli import main

CASES = {
    "not_gzip.jsonl.gz": (b"hello, not gzip\n", "not a readable gzip file"),
    "binary.jsonl": (b"\xff\xfe\x00\x01binary", "not UTF-8 text"),
    "other_tool.jsonl": (b'{"exchange": "binance", "data": [1, 2]}\n{"a": 1}\n',
                         "none of its 2 lines is a capture record"),
    "empty.jsonl": (b"", "it is empty"),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("json_out", [True, False])
def test_a_file_that_is_not_a_capture_is_one_line_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          name: str, json_out: bool) -> None:
    data, reason = CASES[name]
    path = tmp_path / name
    path.write_bytes(data)
    rc = main(["replay", str(path), *(["--json"] if json_out else [])])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out == ""  # nothing that looks like a result
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == [f"lcm-tui: {path}: not a capture ({reason}" + lines[0].split(reason, 1)[1]]
    assert "Traceback" not in err


def test_a_real_process_says_one_line(tmp_path: Path) -> None:
    path = tmp_path / "binary.jsonl"
    path.write_bytes(b"\xff\xfe\x00\x01")
    proc = subprocess.run([sys.executable, "-m", "lcm_tui", "replay", str(path), "--json"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [f"lcm-tui: {path}: not a capture (not UTF-8 text)"]


def test_a_capture_cut_short_by_a_crash_replays_what_was_written(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    # A Binance spot book from a WS-API depth reply: a capture record written by hand, the format the
    # README documents (t_ns, venue, symbol, frame, snapshot).
    rec = {"t_ns": 1_700_000_000_000_000_000, "venue": "binance", "symbol": "BTCUSDT", "snapshot": True,
           "frame": orjson.dumps({"id": "x", "status": 200, "result": {
               "lastUpdateId": 10, "bids": [["100.00", "1.5"]], "asks": [["101.00", "2.0"]]}}).decode()}
    whole = gzip.compress(orjson.dumps(rec) + b"\n" + orjson.dumps(rec) + b"\n")
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(whole[: len(whole) - 12])  # the gzip trailer and part of the data are missing
    rc = main(["replay", str(path), "--json"])
    out, _ = capsys.readouterr()
    assert rc == 0
    assert [r.getMessage().split(": ", 1)[1] for r in caplog.records] == [
        "capture ends early after line 1 (Compressed file ended before the end-of-stream marker was reached)"]
    summary = orjson.loads(out)[-1]
    assert summary["venue"] == "replay"
    assert summary["frames"] >= 1
