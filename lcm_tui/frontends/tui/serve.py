"""``lcm-tui serve``: the same TUI in a browser through textual-serve.

textual-serve starts one ``lcm-tui`` process per browser session; the command it runs is built from
the options given to ``serve`` so the served app uses the same config, fps, recorder and demo mode.
It binds 127.0.0.1 unless ``--host`` says otherwise: the UI has no authentication.
"""

from __future__ import annotations

import argparse
import shlex
import sys


def served_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each session."""
    cmd = [sys.executable, "-m", "lcm_tui"]
    if args.config:
        cmd += ["--config", args.config]
    if args.fps is not None:
        cmd += ["--fps", str(args.fps)]
    if args.record:
        cmd.append("--record")
    if args.log_file:
        cmd += ["--log-file", args.log_file]
    if args.verbose:
        cmd.append("--verbose")
    if getattr(args, "demo", False):
        cmd.append("--demo")
    return shlex.join(cmd)


def run_serve(args: argparse.Namespace) -> int:
    from textual_serve.server import Server

    server = Server(served_command(args), host=args.host, port=args.port, title="lcm-tui")
    print(f"lcm-tui: serving on http://{args.host}:{args.port} (ctrl+c to stop)", file=sys.stderr)
    server.serve()
    return 0
