"""One build or install step of the packaging tests: a command that must succeed."""

from __future__ import annotations

import subprocess
from pathlib import Path

OUTPUT_TAIL = 6000  # characters of output shown when a step fails (the end says why)


def step(
    *command: str | Path,
    timeout: float,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``command``; fail the test with the end of its output unless it exits 0 (or
    ``check`` is false: the caller looks at the status)."""
    done = subprocess.run(
        [str(part) for part in command],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=cwd,
        check=False,
    )
    output = done.stdout[-OUTPUT_TAIL:] + done.stderr[-OUTPUT_TAIL:]
    assert done.returncode == 0 or not check, f"{command}: exit status {done.returncode}\n{output}"
    return done
