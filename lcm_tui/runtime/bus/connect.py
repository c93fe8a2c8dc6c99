"""Connecting to NATS: the server, credentials and TLS from the command line, the config or the environment.

Secrets (a password, a token, a URL's ``user:pass@``) are never printed: :meth:`NatsOptions.describe`
names the server without them, and :func:`connect` turns every failure into one :class:`BusError`
line from which each secret has been scrubbed. The environment wins over the file for secrets
(``LCM_NATS_USER`` / ``LCM_NATS_PASSWORD``, ``LCM_NATS_TOKEN``, ``LCM_NATS_CREDS``) so they need not be
written into a settings file.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "nats://127.0.0.1:4222"
DEFAULT_PREFIX = "lcm"


class BusError(Exception):
    """A bus problem the user can fix (server unreachable, refused login, bad URL): one line, no secret."""


@dataclass(frozen=True, slots=True)
class NatsOptions:
    url: str = DEFAULT_URL
    prefix: str = DEFAULT_PREFIX
    user: str = ""
    password: str = ""
    token: str = ""
    creds_file: str = ""
    tls_ca: str = ""
    tls_cert: str = ""
    tls_key: str = ""
    connect_timeout_s: float = 5.0

    def with_env(self, env: Mapping[str, str] | None = None) -> NatsOptions:
        e = os.environ if env is None else env
        changes: dict[str, Any] = {}
        for field_name, var in (("url", "LCM_NATS_URL"), ("user", "LCM_NATS_USER"),
                                ("password", "LCM_NATS_PASSWORD"), ("token", "LCM_NATS_TOKEN"),
                                ("creds_file", "LCM_NATS_CREDS")):
            if e.get(var):
                changes[field_name] = e[var]
        return replace(self, **changes) if changes else self

    def secrets(self) -> list[str]:
        out = [s for s in (self.password, self.token) if s]
        for url in self.url.split(","):
            parts = urlsplit(url.strip())
            if parts.password:
                out.append(parts.password)
            if parts.username:
                out.append(parts.username)  # a token may travel as the user part (nats://TOKEN@host)
        return sorted(set(out), key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for s in self.secrets():
            text = text.replace(s, "***")
        return text

    def describe(self) -> str:
        """The server(s) without any credential, for logs and error messages."""
        return ",".join(redact_url(u.strip()) for u in self.url.split(","))

    def servers(self) -> list[str]:
        urls = [u.strip() for u in self.url.split(",") if u.strip()]
        for u in urls:
            p = urlsplit(u)
            if p.scheme not in ("nats", "tls", "ws", "wss") or not p.hostname:
                raise BusError(f"nats url {redact_url(u)!r} is not allowed: must look like nats://HOST:4222")
        return urls


def redact_url(url: str) -> str:
    p = urlsplit(url)
    if p.username is None and p.password is None:
        return url
    host = p.hostname or ""
    if p.port:
        host = f"{host}:{p.port}"
    return urlunsplit((p.scheme, f"***@{host}", p.path, p.query, p.fragment))


def _tls(opts: NatsOptions) -> ssl.SSLContext | None:
    if not (opts.tls_ca or opts.tls_cert) and not opts.url.startswith("tls://"):
        return None
    try:
        ctx = ssl.create_default_context(cafile=opts.tls_ca or None)
        if opts.tls_cert:
            ctx.load_cert_chain(opts.tls_cert, opts.tls_key or None)
    except (OSError, ssl.SSLError) as e:
        raise BusError(f"nats TLS files: {e}") from None
    return ctx


async def connect(opts: NatsOptions, *, name: str, reconnect: bool = True, **extra: Any) -> Any:
    """A connected ``nats.aio.client.Client``; reconnects forever once the first connect succeeded."""
    import nats
    import nats.errors

    kw: dict[str, Any] = {"name": name, "connect_timeout": opts.connect_timeout_s,
                          "allow_reconnect": reconnect, "reconnect_time_wait": 0.5}
    if opts.user:
        kw["user"] = opts.user
        kw["password"] = opts.password
    if opts.token:
        kw["token"] = opts.token
    if opts.creds_file:
        if not os.path.isfile(opts.creds_file):
            raise BusError(f"nats creds file {opts.creds_file!r} not found")
        kw["user_credentials"] = opts.creds_file
    tls = _tls(opts)
    if tls is not None:
        kw["tls"] = tls
    errors: list[str] = []

    async def _error_cb(e: Exception) -> None:
        errors.append(opts.scrub(f"{type(e).__name__}: {e}"))

    kw["error_cb"] = _error_cb
    kw.update(extra)
    servers = opts.servers()
    try:
        # The first connect must succeed (a typo in the URL is a config mistake, not an outage to wait
        # out): a couple of attempts per server, then reconnect forever once connected.
        kw["max_reconnect_attempts"] = 1
        async with asyncio.timeout(opts.connect_timeout_s * 3 * len(servers) + 1):
            nc = await nats.connect(servers, **kw)
    except (nats.errors.NoServersError, OSError, TimeoutError, nats.errors.Error) as e:
        why = errors[-1] if errors else opts.scrub(f"{type(e).__name__}: {e}")
        # The refusal may be followed by the server closing the socket: say what the cause was.
        if any("authorization" in x.lower() for x in [*errors, why]):
            why = "authorization violation (check nats user/password, token or creds)"
        raise BusError(f"cannot connect to NATS at {opts.describe()}: {why}") from None
    if reconnect:
        nc.options["max_reconnect_attempts"] = -1
    return nc
