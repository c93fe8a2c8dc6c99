"""Optional PostgreSQL recorder (``--record`` / ``recorder.enabled``): see ``postgres.Recorder``."""

from lcm_tui.record.dsn import redact_dsn
from lcm_tui.record.postgres import Recorder, RecorderError, RecorderStatus

__all__ = ["Recorder", "RecorderError", "RecorderStatus", "redact_dsn"]
