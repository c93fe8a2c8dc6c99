"""``lcm-tui import`` as a user runs it, on the real recordings, then ``lcm-tui replay --json``."""

from __future__ import annotations

import json

import pytest

from lcm_tui.frontends.cli import main


def test_import_cryptofeed_then_replay_json(realdata, tmp_path, capsys):
    out = tmp_path / "bn.jsonl.gz"
    rc = main(["import", "cryptofeed", str(realdata / "BINANCE.ws.1.0.gz"), str(realdata / "BINANCE.http.0.0.gz"),
               "-o", str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    # 181 depth frames and REST bodies kept; the other channels of the recording counted, not copied.
    assert "181 frames (4 snapshots)" in err and "binance bookTicker 84" in err and "binance kline" in err
    assert main(["replay", str(out), "--json"]) == 0
    objs = json.loads(capsys.readouterr().out)
    streams = [o for o in objs if o["venue"] == "binance"]
    assert {o["symbol"] for o in streams} == {"NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"}
    assert all(o["status"] == "live" and o["counters"]["gaps"] == 0 for o in streams)
    assert objs[-1]["venue"] == "replay" and objs[-1]["unattributed_total"] == 0 and objs[-1]["snapshots"] == 4


@pytest.mark.parametrize("name", ["KRAKEN.ws.50.0.gz", "COINBASE.ws.28.0.gz", "BYBIT.ws.25.0.gz"])
def test_import_refuses_protocols_lcm_tui_does_not_speak_in_one_line(realdata, tmp_path, capsys, name):
    rc = main(["import", "cryptofeed", str(realdata / name), "-o", str(tmp_path / "x.jsonl")])
    err = capsys.readouterr().err
    assert rc == 1 and err.count("\n") == 1 and "nothing to import" in err
    assert any(w in err for w in ("Kraken WebSocket v1", "Coinbase Pro", "Bybit /realtime"))


def test_import_of_a_missing_or_foreign_file_is_one_line(tmp_path, capsys):
    assert main(["import", "cryptofeed", str(tmp_path / "nope.gz"), "-o", str(tmp_path / "x.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read" in err
    bad = tmp_path / "notes.txt"
    bad.write_text("hello world\n")
    assert main(["import", "tardis", str(bad), "-o", str(tmp_path / "x.jsonl"), "--exchange", "binance"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a tardis raw line" in err
