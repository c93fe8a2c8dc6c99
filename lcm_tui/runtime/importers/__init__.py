"""Other tools' recordings as lcm-tui captures: ``lcm-tui import cryptofeed|tardis FILE... -o OUT``.

The output is an ordinary capture file, so ``lcm-tui replay`` and the TUI take it as it is.
"""

from __future__ import annotations

import argparse
import sys

from lcm_tui.runtime.importers.common import ImportFailed, Stats
from lcm_tui.runtime.importers.cryptofeed import import_cryptofeed
from lcm_tui.runtime.importers.tardis import EXCHANGES, import_tardis

__all__ = ["ImportFailed", "Stats", "add_arguments", "import_cryptofeed", "import_tardis", "run"]


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=["cryptofeed", "tardis"],
                   help="cryptofeed: its raw recorder files (.ws. and .http.); tardis: tardis.dev raw messages")
    p.add_argument("files", nargs="+", metavar="FILE", help="input files, plain or gzip")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="capture to write (.jsonl or .jsonl.gz)")
    p.add_argument("--exchange", choices=sorted(EXCHANGES),
                   help="tardis exchange id of the files (default: from the file names)")


def run(args: argparse.Namespace) -> int:
    try:
        if args.format == "cryptofeed":
            stats = import_cryptofeed(list(args.files), args.output)
        else:
            stats = import_tardis(list(args.files), args.output, exchange=args.exchange)
    except ImportFailed as e:
        print(f"lcm-tui: import: {e}", file=sys.stderr)
        return 2 if "--exchange" in str(e) else 1
    print(f"lcm-tui: imported {args.output}: {stats.report()}", file=sys.stderr)
    return 0
