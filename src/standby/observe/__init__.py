"""observe: the access log (Pound's LogLevel formats) and where logs go."""

from standby.observe.access import (
    LEVEL_NAMES,
    MAX_LOG_LEVEL,
    AccessLog,
    AccessRecord,
    RequestView,
    anonymise_peer,
)
from standby.observe.logsetup import LogSetupError, access_emitter, setup_logging

__all__ = [
    "LEVEL_NAMES",
    "MAX_LOG_LEVEL",
    "AccessLog",
    "AccessRecord",
    "LogSetupError",
    "RequestView",
    "access_emitter",
    "anonymise_peer",
    "setup_logging",
]
