"""The password never leaves the process: redaction of DSNs and scrubbing of arbitrary messages."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
from recdata import SECRET, cfg_for, fast, make_samples
from recnet import free_port

from lcm_tui.record import RecorderError
from lcm_tui.record.dsn import Secrets, describe_target, redact_dsn


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("postgresql://u:pw@h:5432/db?sslmode=require", "postgresql://u:***@h:5432/db?sslmode=require"),
        ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
        ("postgresql://u:a@b:c@h/db", "postgresql://u:***@h/db"),  # an unescaped '@' in the password
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("postgresql://h/db?user=u&password=pw&sslmode=disable", "postgresql://h/db?user=u&password=***&sslmode=disable"),
        ("host=h password=pw user=u", "host=h password=*** user=u"),
        ("host=h password='p w' user=u", "host=h password=*** user=u"),
        ("host=h PASSWORD = pw", "host=h PASSWORD = ***"),
    ],
)
def test_redact_dsn(dsn: str, shown: str) -> None:
    assert redact_dsn(dsn) == shown


def test_scrub_removes_literal_passwords_wherever_they_appear() -> None:
    secrets = Secrets("postgresql://u:p%40ss-w0rd@h/db", env={"PGPASSWORD": "envpw-123"})
    text = "invalid port in postgresql://u:p%40ss-w0rd@h:x/db; tried p@ss-w0rd and envpw-123"
    out = secrets.scrub(text)
    for secret in ("p%40ss-w0rd", "p@ss-w0rd", "envpw-123"):
        assert secret not in out
    assert "postgresql://u:***@h:x/db" in out


def test_describe_target_without_dsn_names_pg_variables_but_not_the_password() -> None:
    env = {"PGHOST": "db.internal", "PGPORT": "6432", "PGUSER": "lcm", "PGDATABASE": "market", "PGPASSWORD": "x9"}
    text = describe_target("", env)
    assert text == "PG* environment (host=db.internal port=6432 user=lcm dbname=market)"
    assert describe_target("postgresql://u:x9@h/db", env) == "postgresql://u:***@h/db"


async def test_unreachable_server_status_and_logs_hide_password_from_dsn_and_pgpassword(
        tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    port = free_port()
    monkeypatch.setenv("PGHOST", "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(port))
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGPASSWORD", SECRET)
    for dsn in ("", f"postgresql://postgres:{SECRET}@127.0.0.1:{port}/postgres"):
        rec = fast(cfg_for(dsn, tmp_path))
        await rec.start()  # unreachable is not a configuration error: it spills and retries
        rec.on_sample(make_samples(1)[0], None)
        await rec.wait_until(lambda s: s.down_since is not None and s.spilled_rows == 1, 10)
        st = rec.status()
        assert st.last_error and ("refused" in st.last_error.lower() or "connect" in st.last_error.lower())
        for text in (str(st), st.describe(), rec.target):
            assert SECRET not in text
        assert str(port) in rec.target
        await rec.close()
    assert SECRET not in caplog.text and "unavailable" in caplog.text


# ------------------------------------------------------------------ a table of DSN shapes, end to end
PIECES = ("Tr0ub4dor", "x9Zq")  # each half of the password is distinctive: neither may show anywhere


def _pw(ch: str) -> str:
    return f"{PIECES[0]}{ch}{PIECES[1]}"


def _shapes() -> list[tuple[str, str, dict[str, str]]]:
    """(label, dsn, extra environment): URL and key=value forms, raw and encoded, and PGPASSWORD."""
    out: list[tuple[str, str, dict[str, str]]] = []
    for ch in "?/#@% ":
        pw = _pw(ch)
        enc = quote(pw, safe="")
        kv_quoted = pw.replace("\\", "\\\\").replace("'", "\\'")
        out += [
            (f"url raw {ch!r}", f"postgresql://nosuch:{pw}@127.0.0.1:5432/postgres", {}),
            (f"url encoded {ch!r}", f"postgresql://nosuch:{enc}@127.0.0.1:5432/postgres", {}),
            (f"url query raw {ch!r}", f"postgresql://127.0.0.1:5432/postgres?user=nosuch&password={pw}", {}),
            (f"url query encoded {ch!r}", f"postgres://127.0.0.1:5432/postgres?user=nosuch&password={enc}", {}),
            (f"kv raw {ch!r}", f"host=127.0.0.1 port=5432 user=nosuch password={pw}", {}),
            (f"kv quoted {ch!r}", f"host=127.0.0.1 port=5432 dbname=postgres user=nosuch password='{kv_quoted}'", {}),
            (f"PGPASSWORD {ch!r}", "", {"PGHOST": "127.0.0.1", "PGPORT": "5432", "PGUSER": "nosuch",
                                        "PGPASSWORD": pw}),
            (f"url + PGPASSWORD {ch!r}", "postgresql://nosuch@127.0.0.1:5432/postgres", {"PGPASSWORD": pw}),
        ]
    return out


SHAPES = _shapes()


def _assert_hidden(*texts: str) -> None:
    for text in texts:
        for piece in PIECES:
            assert piece not in text, f"{piece!r} shows in {text!r}"


@pytest.mark.postgres
@pytest.mark.parametrize(("label", "dsn", "env"), SHAPES, ids=[s[0] for s in SHAPES])
async def test_no_dsn_shape_shows_the_password(label: str, dsn: str, env: dict[str, str], tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    rec = fast(cfg_for(dsn, tmp_path))
    with pytest.raises(RecorderError) as ei:  # the role does not exist, or the DSN is refused unread
        await rec.start()
    err = ei.value
    assert err.exit_code == 2 and "\n" not in str(err)
    assert "nosuch" in str(err) or "not shown" in str(err)
    st = rec.status()
    _assert_hidden(str(err), repr(err), caplog.text, rec.target, rec.describe(), str(st), st.describe())


def _cli(tmp_path: Path, env: dict[str, str], config: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "settings.yaml"
    cfg.write_text(config)
    full = {k: v for k, v in os.environ.items() if not k.startswith("PG") and k != "LCM_PG_DSN"}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "lcm_tui.frontends.cli", "--config", str(cfg), "--demo",
                           "--headless", "--record"], capture_output=True, text=True, env=full, timeout=60,
                          cwd=tmp_path)


CLI_SHAPES = [s for s in SHAPES if s[0].split(" ")[0] in ("url", "kv", "PGPASSWORD") and s[0][-3:] in
              ("'?'", "'/'", "'#'", "' '")]


@pytest.mark.postgres
@pytest.mark.parametrize(("label", "dsn", "env"), CLI_SHAPES[::3], ids=[s[0] for s in CLI_SHAPES[::3]])
def test_cli_refuses_in_one_line_without_the_password(label: str, dsn: str, env: dict[str, str],
                                                      tmp_path: Path) -> None:
    """``lcm-tui --record`` with the DSN from LCM_PG_DSN: exit 2, one line on stderr, no password anywhere."""
    spill = tmp_path / "spill.jsonl"
    run = _cli(tmp_path, {**env, **({"LCM_PG_DSN": dsn} if dsn else {})},
               f"recorder:\n  spill_path: {spill}\n")
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lcm-tui: "), run.stderr
    _assert_hidden(run.stdout, run.stderr)


@pytest.mark.postgres
def test_cli_unwritable_spill_journal_is_one_line_exit_2(tmp_path: Path) -> None:
    run = _cli(tmp_path, {"LCM_PG_DSN": "postgresql://postgres@127.0.0.1:5432/postgres"},
               "recorder:\n  spill_path: /dev/null/lcm/spill.jsonl\n")
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "spill journal /dev/null/lcm/spill.jsonl" in lines[0], run.stderr
