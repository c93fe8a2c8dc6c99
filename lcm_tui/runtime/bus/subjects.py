"""Subject, stream and bucket names of the bus, and the one safe spelling of a symbol in them.

Every name is versioned (``<prefix>.v1.<kind>.<venue>.<symbol>``) so a later payload change can run
beside this one during an upgrade. A NATS subject token may not hold ``.``, ``*``, ``>`` or white
space, and a KV key allows only ``[-/_=.a-zA-Z0-9]``; venue symbols hold all sorts (``BTC/USD``,
``ETH-PERP``, a dated future with a space). A symbol is therefore spelled with ``[A-Za-z0-9_-]`` kept
and every other byte of its UTF-8 written ``=XX`` (upper-case hex): the same token is valid as a
subject token and as a KV key token, it is reversible, and two symbols never share a spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

VERSION = "v1"
_SAFE = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_TOKEN_RE = re.compile(r"^(?:[A-Za-z0-9_-]|=[0-9A-F]{2})+$")

# The kinds of message, each its own subject tree.
SAMPLE = "sample"  # JetStream: every sample of the sample clock
ALERT = "alert"  # JetStream: alert open / escalate / close
EVENT = "event"  # JetStream: feed events
BOOK = "book"  # plain: top-N book view at the UI rate, only while watched
WATCH = "watch"  # plain: a viewer's lease on one stream's book view
HEARTBEAT = "hb"  # plain: one per collector per second


class SubjectError(ValueError):
    """A prefix or a token that cannot be a subject: the message says which and why."""


def encode_token(text: str) -> str:
    """``text`` as one subject token (and KV key token): see the module docstring."""
    if not text:
        raise SubjectError("an empty name cannot be a subject token")
    raw = text.encode()
    if all(b in _SAFE for b in raw):
        return text
    return "".join(chr(b) if b in _SAFE else f"={b:02X}" for b in raw)


def decode_token(token: str) -> str:
    """The inverse of :func:`encode_token`; raises :class:`SubjectError` for a token it never makes."""
    if not _TOKEN_RE.match(token):
        raise SubjectError(f"not an encoded token: {token[:40]!r}")
    if "=" not in token:
        return token
    out = bytearray()
    i = 0
    while i < len(token):
        c = token[i]
        if c == "=":
            out.append(int(token[i + 1:i + 3], 16))
            i += 3
        else:
            out.append(ord(c))
            i += 1
    try:
        return out.decode()
    except UnicodeDecodeError:
        raise SubjectError(f"not an encoded token: {token[:40]!r}") from None


def check_prefix(prefix: str) -> str:
    """The prefix names streams and buckets too, which allow no ``.``: one token of ``[A-Za-z0-9_-]``."""
    if not _PREFIX_RE.match(prefix):
        raise SubjectError(f"nats prefix {prefix[:40]!r} is not allowed: 1-32 characters of A-Z a-z 0-9 _ -")
    return prefix


@dataclass(frozen=True, slots=True)
class Names:
    """Every name one deployment (one prefix) uses on the server."""

    prefix: str = "lcm"

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    def subject(self, kind: str, venue: str, symbol: str) -> str:
        return f"{self.prefix}.{VERSION}.{kind}.{encode_token(venue)}.{encode_token(symbol)}"

    def all(self, kind: str) -> str:
        """The wildcard of one kind (every venue, every symbol)."""
        return f"{self.prefix}.{VERSION}.{kind}.>"

    def heartbeat(self, collector: str) -> str:
        return f"{self.prefix}.{VERSION}.{HEARTBEAT}.{encode_token(collector)}"

    def parse(self, subject: str) -> tuple[str, str, str]:
        """(kind, venue, symbol) of a stream subject of this prefix; SubjectError otherwise."""
        parts = subject.split(".")
        if len(parts) != 5 or parts[0] != self.prefix or parts[1] != VERSION:
            raise SubjectError(f"not a {self.prefix}.{VERSION} stream subject: {subject[:80]!r}")
        return parts[2], decode_token(parts[3]), decode_token(parts[4])

    # JetStream streams (names allow no '.'), the KV bucket and its keys.
    def stream(self, kind: str) -> str:
        return f"{self.prefix}_{kind}s".upper()

    @property
    def bucket(self) -> str:
        return f"{self.prefix}_state"

    def key(self, venue: str, symbol: str) -> str:
        return f"{encode_token(venue)}.{encode_token(symbol)}"

    @staticmethod
    def parse_key(key: str) -> tuple[str, str]:
        venue, _, symbol = key.partition(".")
        return decode_token(venue), decode_token(symbol)
