"""lcm-tui benchmarks against the original design, one table for every area.

    python benchmark_test.py            # full run, prints the table
    python benchmark_test.py --quick    # short run
    python benchmark_test.py --json     # one JSON object: core numbers + every area's "json" part

Not a pytest module (pytest collects tests/ only) and it asserts nothing: benchmarks measure.
Each ``benches/<area>.py`` provides ``run(quick: bool = False) -> {"rows": [...], "json": {...}}``
(plus optional ``"notes": [str]``, printed under the table);
a module that is missing or fails prints a note instead of stopping the others.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import sys
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# benches/core.py first: its numbers head the table and the top level of --json.
FIRST = "core"


def discover() -> list[str]:
    names = sorted(p.stem for p in (ROOT / "benches").glob("*.py") if not p.stem.startswith("_"))
    return sorted(names, key=lambda n: n != FIRST)


def run_area(name: str, quick: bool) -> tuple[dict[str, Any] | None, str | None]:
    """(result, None) or (None, a one-line note saying why the area has no numbers)."""
    try:
        mod = importlib.import_module(f"benches.{name}")
    except Exception as e:
        return None, f"benches/{name}.py not imported: {type(e).__name__}: {e}"
    run = getattr(mod, "run", None)
    if not callable(run):
        return None, f"benches/{name}.py has no run(quick)"
    try:
        out = run(quick=quick)
    except Exception as e:
        tb = traceback.extract_tb(e.__traceback__)[-1]
        return None, f"benches/{name}.py failed: {type(e).__name__}: {e} ({Path(tb.filename).name}:{tb.lineno})"
    if not isinstance(out, dict):
        return None, f"benches/{name}.py returned {type(out).__name__}, not a dict"
    return out, None


def fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    if isinstance(v, float):
        if v >= 100:
            return f"{v:,.0f}"
        return f"{v:.3g}" if v < 10 else f"{v:.1f}"
    return str(v)


def ratio(lcm: Any, base: Any, unit: str) -> str:
    if not isinstance(lcm, int | float) or not isinstance(base, int | float) or not lcm or not base:
        return "-"
    # Latencies and durations: lower is better, so the speed-up is base / lcm.
    # A unit is a duration when its first word is one ("ms", "µs p99", "ms/tick"); "streams" is not.
    lower_is_better = unit.replace("/", " ").split(" ")[0] in ("µs", "us", "ms", "s", "ns")
    r = base / lcm if lower_is_better else lcm / base
    return f"{r:.1f}x"


def table(results: list[tuple[str, dict[str, Any]]], notes: list[str]) -> str:
    head = ("area", "measure", "lcm", "baseline", "unit", "lcm vs baseline")
    lines = [head]
    for name, res in results:
        for row in res.get("rows", []):
            try:
                label, lcm, base, unit = row
            except (TypeError, ValueError):
                notes.append(f"benches/{name}.py: malformed row {row!r}")
                continue
            lines.append((name, str(label), fmt(lcm), fmt(base), str(unit), ratio(lcm, base, str(unit))))
    widths = [max(len(r[i]) for r in lines) for i in range(len(head))]
    out = []
    for i, r in enumerate(lines):
        out.append("  ".join(c.ljust(w) if j < 2 or j == 4 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths,
                                                                                                           strict=True))))
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    out += [f"note: {n}" for n in notes]
    return "\n".join(out)


def merged_json(results: list[tuple[str, dict[str, Any]]], notes: list[str]) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for name, res in results:
        part = res.get("json") or {}
        if not isinstance(part, dict):
            notes.append(f"benches/{name}.py: json part is not an object")
            continue
        for k, v in part.items():
            # A key another area already used keeps both: the later one is prefixed with its area.
            merged[k if k not in merged else f"{name}.{k}"] = v
    if notes:
        merged["notes"] = notes
    return merged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (seconds, noisier numbers)")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--only", nargs="*", metavar="AREA", help="run only these benches modules")
    args = ap.parse_args(argv)
    results: list[tuple[str, dict[str, Any]]] = []
    notes: list[str] = []
    names = discover()
    if args.only:
        names = [n for n in names if n in args.only]
    for name in names:
        if not args.json:
            print(f"running benches/{name}.py ...", file=sys.stderr, flush=True)
        # Whatever a module prints goes to stderr, so --json stdout stays exactly one JSON object.
        with contextlib.redirect_stdout(sys.stderr):
            res, note = run_area(name, args.quick)
        if res is None:
            notes.append(note or name)
        else:
            results.append((name, res))
            # An area may say how its numbers were obtained (e.g. which book implementation ran).
            notes.extend(str(n) for n in res.get("notes") or [])
    if args.json:
        print(json.dumps(merged_json(results, notes), default=str))
    else:
        print(table(results, notes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
