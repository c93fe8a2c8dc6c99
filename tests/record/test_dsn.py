"""The password never leaves the process: redaction of DSNs and scrubbing of arbitrary messages."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from recdata import SECRET, cfg_for, fast, make_samples
from recnet import free_port

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
