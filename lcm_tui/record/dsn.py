"""Keeping the database password out of logs, the UI and error messages.

The DSN comes from ``recorder.dsn`` / ``LCM_PG_DSN`` or, when empty, from libpq's ``PG*`` variables
(asyncpg reads them itself). Anything we show about the target goes through ``redact_dsn``; any text
that came from asyncpg or the OS (which may echo the DSN back, e.g. a DSN parse error) goes through
``Secrets.scrub``, which removes the literal password values as well as ``password=`` shapes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

REDACTED = "***"

# scheme://user:password@host... ; greedy up to the LAST '@' so a password containing '@' is still
# covered (over-redacting a query string with an '@' is the safe direction).
_URL_PW = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:@/?#\s]*:)(?P<pw>.*)(?P<at>@)", re.DOTALL)
# password=... in a URL query string or a libpq key=value DSN (quoted or not).
_KV_PW = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<val>'(?:[^'\\]|\\.)*'|[^\s&]*)", re.IGNORECASE)


def redact_dsn(dsn: str) -> str:
    """The DSN with any password replaced by ``***``; safe to log and show."""
    out = _URL_PW.sub(lambda m: m["head"] + REDACTED + m["at"], dsn)
    return _KV_PW.sub(lambda m: m["key"] + REDACTED, out)


def describe_target(dsn: str, env: Mapping[str, str] | None = None) -> str:
    """Where the recorder writes, for the UI and messages: the redacted DSN or the PG* settings in use."""
    if dsn:
        return redact_dsn(dsn)
    env = os.environ if env is None else env
    host = env.get("PGHOST", "localhost")
    port = env.get("PGPORT", "5432")
    user = env.get("PGUSER", "<os user>")
    db = env.get("PGDATABASE", user)
    return f"PG* environment (host={host} port={port} user={user} dbname={db})"


def _dsn_passwords(dsn: str) -> list[str]:
    found: list[str] = []
    m = _URL_PW.search(dsn)
    if m:
        found.append(m["pw"])
    for kv in _KV_PW.finditer(dsn):
        val = kv["val"]
        found.append(val)
        if len(val) >= 2 and val[0] == val[-1] == "'":
            found.append(val[1:-1])
    try:
        pw = urlsplit(dsn).password
    except ValueError:
        pw = None
    if pw:
        found.append(pw)
    found += [unquote(p) for p in found]
    return found


class Secrets:
    """The password values that must never be shown: from the DSN and from ``PGPASSWORD``."""

    def __init__(self, dsn: str, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        values = _dsn_passwords(dsn)
        if env.get("PGPASSWORD"):
            values.append(env["PGPASSWORD"])
        # Longest first, so a password that contains another one is removed whole.
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every known password value and every ``password=`` / URL password redacted."""
        for v in self._values:
            text = text.replace(v, REDACTED)
        return redact_dsn(text)
