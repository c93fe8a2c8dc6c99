"""The recorder's user-facing error, importable without asyncpg so the CLI can catch it cheaply."""

from __future__ import annotations

# Exit status for a mistake in the settings or environment the user must fix (same as a config error).
EXIT_CONFIG = 2
EXIT_FAILURE = 1


class RecorderError(RuntimeError):
    """A recorder problem with a one-line message that never contains the database password.

    ``exit_code`` is what the command line should exit with: 2 when the user must change a setting
    (refused login, unknown database, unusable DSN or spill journal), 1 for anything else.
    """

    def __init__(self, message: str, *, exit_code: int = EXIT_FAILURE) -> None:
        super().__init__(" ".join(message.split()))
        self.exit_code = exit_code
