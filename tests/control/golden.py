"""Golden files: compare with the committed file; STANDBY_UPDATE_GOLDEN=1 rewrites them."""

from __future__ import annotations

import os
from pathlib import Path

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("STANDBY_UPDATE_GOLDEN") == "1"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with STANDBY_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file"
