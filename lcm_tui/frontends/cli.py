"""Command line: ``lcm-tui [--demo] [--headless] [--record] [--capture F]``, ``replay``, ``serve``.

Each mode lives in its own module and is imported lazily, so ``lcm-tui replay --json`` never pays
for importing Textual, and the settings are loaded and validated before any mode starts: a config
mistake is one line on stderr and exit status 2, never a traceback.

The options every mode shares (``--config``, ``--fps``, ...) work before or after the subcommand
(``lcm-tui --config F replay X`` and ``lcm-tui replay X --config F`` are the same). A subcommand is
one entry in :data:`COMMANDS`: a function that adds its arguments and one that runs it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from typing import TYPE_CHECKING

from lcm_tui.config import ConfigError, Settings, check_number, load_settings

if TYPE_CHECKING:
    from lcm_tui.runtime.bus.connect import NatsOptions


def _version() -> str:
    try:
        return metadata.version("lcm-tui")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "(not installed)"


def _shared_options(*, after_command: bool) -> argparse.ArgumentParser:
    """The options every mode takes, as a parent parser.

    The top level and every subcommand get a copy. The subcommands' copies default to SUPPRESS, so
    a value given before the subcommand is not overwritten by the subcommand's default (argparse
    would otherwise quietly reset ``--config`` to None when it comes first).
    """
    p = argparse.ArgumentParser(add_help=False)

    def d(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    p.add_argument("--config", metavar="FILE", default=d(None),
                   help="settings.yaml (default: ./config/settings.yaml, else bundled)")
    p.add_argument("--fps", type=float, default=d(None), help="UI refresh rate (default from config: 10)")
    p.add_argument("--record", action="store_true", default=d(False),
                   help="record metrics, alerts and feed events to PostgreSQL")
    p.add_argument("--log-file", metavar="FILE", default=d(None), help="write logs here (the TUI owns the terminal)")
    p.add_argument("-v", "--verbose", action="store_true", default=d(False), help="debug logging")
    p.add_argument("--metrics-port", type=int, metavar="PORT", default=d(None),
                   help="serve Prometheus /metrics on 127.0.0.1:PORT (default from config: off)")
    return p


# ------------------------------------------------------------------------------------ subcommands


def _add_replay(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="capture file (.jsonl or .jsonl.gz)")
    p.add_argument("--json", action="store_true", help="no UI: print the final books' metrics as a JSON array")
    p.add_argument("--speed", type=float, default=1.0, help="replay speed in the TUI (0 = as fast as possible)")
    p.add_argument("--at", metavar="TIME", help="with --json: the state at TIME instead of the end (ISO-8601, "
                   "HH:MM:SS of the capture's day in UTC, or epoch seconds)")


def _run_replay(args: argparse.Namespace, settings: Settings) -> int:
    if args.json:
        _logging(args, tui=False)
        from lcm_tui.frontends.jsonout import run_replay_json

        return run_replay_json(settings, args.file, at=args.at)
    if args.at is not None:
        print("lcm-tui: replay --at needs --json", file=sys.stderr)
        return 2
    _logging(args, tui=True)
    from lcm_tui.frontends.tui.replay import run_replay

    return run_replay(settings, args.file, speed=args.speed)


def _add_serve(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS, help="serve the demo (simulator) mode")


def _run_serve(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, tui=False)
    from lcm_tui.frontends.tui.serve import run_serve

    return run_serve(args)


def _add_import(p: argparse.ArgumentParser) -> None:
    from lcm_tui.runtime.importers import add_arguments

    add_arguments(p)


def _run_import(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, tui=False)
    from lcm_tui.runtime.importers import run

    return run(args)


def _add_nats(p: argparse.ArgumentParser, *, positional: bool = False) -> None:
    """The NATS options of the bus commands; credentials come from the environment only (see docs/nats.md)."""
    if positional:
        p.add_argument("url", nargs="?", default=None, help="NATS server(s), comma-separated (default nats://127.0.0.1:4222)")
    else:
        p.add_argument("--nats", dest="url", metavar="URL", default=None,
                       help="NATS server(s), comma-separated (default $LCM_NATS_URL, else nats://127.0.0.1:4222)")
    p.add_argument("--nats-prefix", metavar="PREFIX", default=None, help="subject prefix (default lcm)")


def _nats_options(args: argparse.Namespace, settings: Settings) -> NatsOptions:
    """The ``nats`` section, then the environment (LCM_NATS_*), then --nats / the URL argument and --nats-prefix."""
    import dataclasses

    from lcm_tui.runtime.bus.connect import NatsOptions

    n = settings.nats
    opts = NatsOptions(url=n.url, prefix=n.prefix, user=n.user, password=n.password, token=n.token,
                       creds_file=n.creds_file, tls_ca=n.tls_ca, tls_cert=n.tls_cert, tls_key=n.tls_key).with_env()
    if args.url:
        opts = dataclasses.replace(opts, url=args.url)
    if args.nats_prefix:
        opts = dataclasses.replace(opts, prefix=args.nats_prefix)
    return opts


def _add_collect(p: argparse.ArgumentParser) -> None:
    _add_nats(p)
    p.add_argument("--venues", metavar="V1,V2", help="this collector's shard: only these venues")
    p.add_argument("--symbols", metavar="S1,S2", help="only these symbols (with --demo: BASE-QUOTE pairs)")
    p.add_argument("--demo", action="store_true", default=argparse.SUPPRESS,
                   help="run the embedded simulator for this collector's venues")
    p.add_argument("--collector-id", metavar="ID", help="this collector's name on the bus (default host-venues-pid)")


def _shard(args: argparse.Namespace, settings: Settings) -> None:
    """--venues / --symbols (else ``collector.shard``) narrow the configured venues to this collector's shard."""
    venues = args.venues or ",".join(settings.collector.shard_venues)
    symbols = args.symbols or ",".join(settings.collector.shard_symbols)
    if venues:
        want = [v.strip() for v in venues.split(",") if v.strip()]
        unknown = [v for v in want if v not in settings.venues]
        if unknown:
            raise ConfigError(f"--venues: {unknown[0]!r} is not a known venue: one of {', '.join(settings.venues)}")
        for name, vc in settings.venues.items():
            vc.enabled = name in want
    if symbols:
        syms = [x.strip() for x in symbols.split(",") if x.strip()]
        if getattr(args, "demo", False):
            settings.demo.symbols = syms
        else:
            for vc in settings.venues.values():
                if vc.enabled:
                    vc.symbols = syms


def _run_collect(args: argparse.Namespace, settings: Settings) -> int:
    import asyncio

    from lcm_tui.runtime.bus.run import collect

    _logging(args, tui=False)
    try:
        _shard(args, settings)
    except ConfigError as e:
        print(f"lcm-tui: config error: {e}", file=sys.stderr)
        return 2
    opts = _nats_options(args, settings)
    c = settings.collector
    return asyncio.run(collect(settings, opts, demo=getattr(args, "demo", False),
                               collector_id=args.collector_id or c.id or None, book_levels=c.book_levels,
                               heartbeat_s=c.heartbeat_s))


def _add_attach(p: argparse.ArgumentParser) -> None:
    _add_nats(p, positional=True)
    p.add_argument("--headless", action="store_true", default=argparse.SUPPRESS,
                   help="no UI: print the same JSON lines as local --headless")
    p.add_argument("--down-after", type=float, default=3.0, metavar="S",
                   help="show a collector's streams DOWN after S seconds without its heartbeat (default 3)")


def _run_attach(args: argparse.Namespace, settings: Settings) -> int:
    headless = getattr(args, "headless", False)
    _logging(args, tui=not headless)
    from lcm_tui.frontends.attach import run_attach

    return run_attach(settings, _nats_options(args, settings), headless=headless,
                      down_after_s=args.down_after)


def _add_record(p: argparse.ArgumentParser) -> None:
    p.add_argument("--from", dest="url", metavar="URL", required=True, help="the NATS server(s) to consume")
    p.add_argument("--nats-prefix", metavar="PREFIX", default=None, help="subject prefix (default lcm)")
    p.add_argument("--durable", default="lcm-recorder", help="durable consumer name (default lcm-recorder)")


def _run_record(args: argparse.Namespace, settings: Settings) -> int:
    _logging(args, tui=False)
    from lcm_tui.frontends.attach import run_record_from

    return run_record_from(settings, _nats_options(args, settings), durable=args.durable)


@dataclass(frozen=True, slots=True)
class Command:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, Settings], int]


COMMANDS: dict[str, Command] = {
    "replay": Command("replay a capture file through the same adapters", _add_replay, _run_replay),
    "serve": Command("serve the TUI to a browser with textual-serve", _add_serve, _run_serve),
    "import": Command("convert cryptofeed or tardis.dev recordings into a capture file", _add_import, _run_import),
    "collect": Command("publish a shard of venues to NATS JetStream (headless)", _add_collect, _run_collect),
    "attach": Command("the TUI (or --headless) over collectors on NATS", _add_attach, _run_attach),
    "record": Command("record to PostgreSQL from NATS (record --from nats://...)", _add_record, _run_record),
}


def _run_live(args: argparse.Namespace, settings: Settings) -> int:
    """No subcommand: the live monitor (TUI, or JSON lines with --headless)."""
    if args.headless:
        _logging(args, tui=False)
        from lcm_tui.frontends.headless import run_headless

        return run_headless(settings, demo=args.demo, capture=args.capture)
    _logging(args, tui=True)
    from lcm_tui.frontends.tui.app import run_app

    return run_app(settings, demo=args.demo, capture=args.capture)


# ------------------------------------------------------------------------------------ parsing


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lcm-tui",
        description="Liquidity crunch monitor: live L2 books, depth, slippage and crunch alerts.",
        parents=[_shared_options(after_command=False)],
    )
    p.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    p.add_argument("--demo", action="store_true", help="run against the embedded exchange simulator (offline)")
    p.add_argument("--seed", type=int, help="simulator seed for --demo (default from config)")
    p.add_argument("--headless", action="store_true", help="no UI: print one JSON line per venue+symbol per sample")
    p.add_argument("--capture", metavar="FILE", help="write every received frame to FILE (.jsonl or .jsonl.gz)")
    sub = p.add_subparsers(dest="command")
    for name, cmd in COMMANDS.items():
        cmd.add_arguments(sub.add_parser(name, help=cmd.help, parents=[_shared_options(after_command=True)]))
    return p


def _settings(args: argparse.Namespace) -> Settings:
    s = load_settings(args.config)
    if args.fps is not None:
        s.ui.fps = check_number("ui.fps", args.fps, name="--fps")
    if args.record:
        s.recorder.enabled = True
    if getattr(args, "metrics_port", None) is not None:
        s.prometheus.port = int(check_number("prometheus.port", args.metrics_port, name="--metrics-port"))
    if getattr(args, "seed", None) is not None:
        s.demo.seed = int(check_number("demo.seed", args.seed, name="--seed"))
    return s


def _logging(args: argparse.Namespace, *, tui: bool) -> None:
    level = logging.DEBUG if args.verbose else logging.INFO
    if args.log_file:
        logging.basicConfig(filename=args.log_file, level=level,
                            format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    elif tui:
        logging.basicConfig(level=logging.CRITICAL + 1)  # never write over the screen
    else:
        logging.basicConfig(stream=sys.stderr, level=logging.WARNING if not args.verbose else level,
                            format="%(levelname)s %(name)s: %(message)s")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ConfigError as e:
        one_line = str(e).replace("\r", " ").replace("\n", " ")
        print(f"lcm-tui: config error: {one_line}", file=sys.stderr)
        return 2
    cmd = COMMANDS.get(args.command) if args.command else None
    if cmd is not None:
        return cmd.run(args, settings)
    return _run_live(args, settings)


if __name__ == "__main__":
    raise SystemExit(main())
