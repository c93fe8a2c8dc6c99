"""Keeping the database password out of logs, the UI and error messages.

The DSN comes from ``recorder.dsn`` / ``LCM_PG_DSN`` or, when empty, from libpq's ``PG*`` variables
(asyncpg reads them itself). It is checked by ``parse_dsn`` before anything connects: asyncpg's own
parse errors quote the DSN piece they choke on, and with an unencoded ``?``, ``/``, ``#`` or ``@`` in
the password that piece *is* the password (``bad query field: 'x9Zq@host'``). So a DSN that would not
parse as meant is refused here with a message that quotes none of it. What we show about the target
is rebuilt from the parsed parts without the password (``describe_target``); any text that came from
asyncpg or the OS goes through ``Secrets.scrub``, which removes the literal password values, their
pieces around URL delimiters, and ``password=`` shapes.

asyncpg only understands URLs, so the libpq ``key=value`` form is parsed here and passed to it as
keyword arguments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

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


class DsnError(ValueError):
    """``recorder.dsn`` cannot be used; the message quotes no part of it."""


_HINT = ("not shown: it may hold the password; in a URL, percent-encode / ? # @ % and spaces in the user "
         "and password, or use key=value form or PGPASSWORD")

# libpq key=value keys and the asyncpg.connect argument each becomes (None: accepted, not needed).
_KV_KEYS: dict[str, str | None] = {
    "host": "host", "hostaddr": "host", "port": "port", "user": "user", "password": "password",
    "dbname": "database", "sslmode": "ssl", "connect_timeout": None, "application_name": None,
}
_LIBPQ_OTHER = {"passfile", "options", "sslcert", "sslkey", "sslrootcert", "sslcrl", "service",
                "target_session_attrs", "client_encoding", "keepalives", "gssencmode", "krbsrvname"}


@dataclass(frozen=True, slots=True)
class ParsedDsn:
    """What to hand to ``asyncpg.connect``: the URL itself, or keyword arguments from key=value."""

    url: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    shown: str = ""  # the target without the password, for the UI and messages


def _bad(reason: str) -> DsnError:
    return DsnError(f"recorder.dsn is not usable: {reason} ({_HINT})")


def _check_hostspec(hostspec: str) -> None:
    for part in hostspec.split(","):
        if part.startswith("["):
            end = part.find("]")
            if end < 0:
                raise _bad("an IPv6 host is not closed with ']'")
            rest = part[end + 1:]
            port = rest[1:] if rest.startswith(":") else ("" if not rest else None)
        else:
            _, colon, port = part.rpartition(":") if ":" in part else (part, "", "")
            if not colon:
                port = ""
        if port is None or (port and not port.isdigit()):
            raise _bad("the port is not a number")


def _parse_url(dsn: str) -> ParsedDsn:
    try:
        u = urlsplit(dsn)
    except ValueError:
        raise _bad("it does not parse as a URL") from None
    if u.scheme not in ("postgresql", "postgres"):
        raise _bad("a URL must start with postgresql:// or postgres://")
    if u.fragment or "#" in dsn:
        raise _bad("it contains '#'")
    auth, at, hostspec = u.netloc.partition("@")
    if not at:
        auth, hostspec = "", u.netloc
    if "@" in hostspec:
        raise _bad("it contains more than one '@' before the host")
    if "@" in u.path:
        raise _bad("the database name contains '@'")
    _check_hostspec(hostspec)
    query: dict[str, list[str]] = {}
    if u.query:
        try:
            query = parse_qs(u.query, strict_parsing=True)
        except ValueError:
            raise _bad("a query field is not key=value") from None
    user = unquote(auth.partition(":")[0]) if auth else ""
    user = query.get("user", [user])[-1]
    if user and ":" in auth:
        user += ":***"
    host = unquote(hostspec) or query.get("host", [""])[-1]
    db = unquote(u.path[1:]) if u.path.startswith("/") else ""
    db = db or query.get("dbname", query.get("database", [""]))[-1]
    shown = f"{u.scheme}://{user + '@' if user else ''}{host}/{db}"
    keys = [k for k in query if k not in ("user", "host", "dbname", "database")]
    if keys:
        shown += "?" + "&".join(f"{k}=***" if k == "password" else f"{k}={query[k][-1]}" for k in keys)
    return ParsedDsn(dsn, {}, shown)


_KV_TOKEN = re.compile(r"""\s*(?P<key>[A-Za-z_]+)\s*=\s*(?P<val>'(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)*)""", re.DOTALL)


def _parse_kv(dsn: str) -> ParsedDsn:
    kwargs: dict[str, Any] = {}
    pos = 0
    n = 0
    while pos < len(dsn):
        if dsn[pos:].strip() == "":
            break
        m = _KV_TOKEN.match(dsn, pos)
        n += 1
        if m is None or (m.end() < len(dsn) and not dsn[m.end()].isspace()):
            raise _bad(f"item {n} of the key=value form is not key=value (quote values with spaces: key='a b')")
        key, val = m["key"].lower(), m["val"]
        if val.startswith("'"):
            val = val[1:-1]
        val = re.sub(r"\\(.)", r"\1", val, flags=re.DOTALL)
        if key not in _KV_KEYS:
            raise _bad(f"key {key!r} is not supported" if key in _LIBPQ_OTHER else f"item {n} has an unknown key")
        target = _KV_KEYS[key]
        if target == "port":
            if not val.isdigit():
                raise _bad("the port is not a number")
            kwargs["port"] = int(val)
        elif target is not None:
            kwargs[target] = val
        pos = m.end()
    if not kwargs:
        raise _bad("it is neither a postgresql:// URL nor key=value settings")
    shown = " ".join(f"{k}={kwargs[a]}" for k, a in (("host", "host"), ("port", "port"), ("user", "user"),
                                                   ("dbname", "database")) if a in kwargs)
    if "password" in kwargs:
        shown += " password=***"
    return ParsedDsn(None, kwargs, shown.strip())


def parse_dsn(dsn: str) -> ParsedDsn:
    """Check ``dsn`` the way asyncpg will read it; ``DsnError`` (quoting none of it) if it would not work."""
    if not dsn:
        return ParsedDsn(None, {}, describe_target(""))
    if "://" in dsn or not re.match(r"\s*[A-Za-z_]+\s*=", dsn):
        return _parse_url(dsn.strip())
    return _parse_kv(dsn)


def describe_target(dsn: str, env: Mapping[str, str] | None = None) -> str:
    """Where the recorder writes, for the UI and messages: the target without the password, or the PG* settings."""
    if dsn:
        try:
            return parse_dsn(dsn).shown
        except DsnError:
            return "recorder.dsn (not shown: it does not parse)"
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
    try:
        pw_kv = _parse_kv(dsn).kwargs.get("password") if "://" not in dsn else None
    except DsnError:
        pw_kv = None
    if pw_kv:
        found.append(pw_kv)
    return found


# A password split by a URL delimiter shows up in pieces in parse errors (``bad query field: 'x9Zq@h'``).
_DELIMS = re.compile(r"[?/#@%\s:&=']+")
_MIN_PIECE = 4  # shorter pieces would blank ordinary words; the DSN check keeps such errors from happening


class Secrets:
    """The password values that must never be shown: from the DSN and from ``PGPASSWORD``."""

    def __init__(self, dsn: str, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        values = _dsn_passwords(dsn)
        if env.get("PGPASSWORD"):
            values.append(env["PGPASSWORD"])
        values += [piece for v in values for piece in _DELIMS.split(v) if len(piece) >= _MIN_PIECE]
        # Longest first, so a password that contains another one is removed whole.
        self._values = sorted({v for v in values if v}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        """``text`` with every known password value and every ``password=`` / URL password redacted."""
        for v in self._values:
            text = text.replace(v, REDACTED)
        return redact_dsn(text)
