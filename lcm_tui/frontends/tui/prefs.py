"""What the TUI remembers between runs: the theme last chosen with ``t`` or the command palette.

It lives in the user's config directory, where Textual apps keep theirs: ``$XDG_CONFIG_HOME/lcm-tui``,
else ``~/.config/lcm-tui``, in ``state.json``. It is a convenience, never a reason not to start: a missing,
unreadable or malformed file, or a theme this Textual no longer ships, is ignored.

Which wins, the remembered theme or ``ui.theme`` in settings.yaml? The most recent choice. The file
records the ``ui.theme`` that was in force when the user picked a theme: while settings.yaml still says
that, the pick is newer and wins; once ``ui.theme`` is edited to something else, the edit is newer and
wins (and the next pick is remembered against it).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

log = logging.getLogger("lcm_tui.frontends.tui")

STATE_FILE = "state.json"
MAX_BYTES = 64 * 1024  # the file holds two names; anything bigger is not ours


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CONFIG_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path(env.get("HOME") or Path.home()) / ".config"
    return root / "lcm-tui"


def _load(path: Path) -> dict[str, object]:
    try:
        if path.stat().st_size > MAX_BYTES:
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def initial_theme(config_theme: str, available: Iterable[str], directory: Path | None = None) -> str:
    """The theme to start with: the remembered pick unless settings.yaml changed ``ui.theme`` since."""
    state = _load((directory or config_dir()) / STATE_FILE)
    theme, base = state.get("theme"), state.get("config_theme")
    if isinstance(theme, str) and base == config_theme and theme in set(available):
        return theme
    return config_theme


def remember_theme(theme: str, config_theme: str, directory: Path | None = None) -> None:
    """Write the pick atomically (a crash mid-write leaves the old file); a failure is logged, not raised."""
    d = directory or config_dir()
    path = d / STATE_FILE
    state = _load(path)
    state.update(theme=theme, config_theme=config_theme)
    tmp = path.with_suffix(".tmp")
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(state, indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        log.warning("cannot remember the theme in %s: %s", path, e)
        with contextlib.suppress(OSError):
            tmp.unlink()
