"""Command line: ``lcm-tui [--demo] [--headless] [--record] [--capture F]``, ``replay``, ``serve``.

Each mode lives in its own module and is imported lazily, so ``lcm-tui replay --json`` never pays
for importing Textual and a bad config is reported before anything starts.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from lcm_tui.config import ConfigError, Settings, load_settings


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", help="settings.yaml (default: ./config/settings.yaml, else bundled)")
    p.add_argument("--fps", type=float, help="UI refresh rate (default from config: 10)")
    p.add_argument("--record", action="store_true", help="record metrics, alerts and feed events to PostgreSQL")
    p.add_argument("--log-file", metavar="FILE", help="write logs here (the TUI owns the terminal)")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="lcm-tui",
        description="Liquidity crunch monitor: live L2 books, depth, slippage and crunch alerts.",
    )
    _common(p)
    p.add_argument("--demo", action="store_true", help="run against the embedded exchange simulator (offline)")
    p.add_argument("--seed", type=int, help="simulator seed for --demo (default from config)")
    p.add_argument("--headless", action="store_true", help="no UI: print one JSON line per venue+symbol per sample")
    p.add_argument("--capture", metavar="FILE", help="write every received frame to FILE (.jsonl or .jsonl.gz)")
    sub = p.add_subparsers(dest="command")

    r = sub.add_parser("replay", help="replay a capture file through the same adapters")
    _common(r)
    r.add_argument("file", help="capture file (.jsonl or .jsonl.gz)")
    r.add_argument("--json", action="store_true", help="no UI: print the final books' metrics as a JSON array")
    r.add_argument("--speed", type=float, default=1.0, help="replay speed in the TUI (0 = as fast as possible)")

    s = sub.add_parser("serve", help="serve the TUI to a browser with textual-serve")
    _common(s)
    s.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--demo", action="store_true", help="serve the demo (simulator) mode")
    return p


def _settings(args: argparse.Namespace) -> Settings:
    s = load_settings(args.config)
    if args.fps is not None:
        if not 0.5 <= args.fps <= 60:
            raise ConfigError(f"--fps: {args.fps!r} is not allowed: must be between 0.5 and 60")
        s.ui.fps = args.fps
    if args.record:
        s.recorder.enabled = True
    if getattr(args, "seed", None) is not None:
        s.demo.seed = args.seed
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
        print(f"lcm-tui: config error: {e}", file=sys.stderr)
        return 2

    if args.command == "replay":
        if args.json:
            _logging(args, tui=False)
            from lcm_tui.runtime.replay import replay_json

            return replay_json(settings, args.file)
        _logging(args, tui=True)
        from lcm_tui.frontends.tui.app import run_replay_app

        return run_replay_app(settings, args.file, speed=args.speed)
    if args.command == "serve":
        _logging(args, tui=False)
        from lcm_tui.frontends.tui.serve import run_serve

        return run_serve(args)
    if args.headless:
        _logging(args, tui=False)
        from lcm_tui.frontends.headless import run_headless

        return run_headless(settings, demo=args.demo, capture=args.capture)
    _logging(args, tui=True)
    from lcm_tui.frontends.tui.app import run_app

    return run_app(settings, demo=args.demo, capture=args.capture)


if __name__ == "__main__":
    raise SystemExit(main())
