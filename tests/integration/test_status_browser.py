"""The status page in a real browser (issue 16): headless Chromium, driven by Playwright,
loads it from the installed standby (default workers) while the primary backend, a real
process, is killed. With JavaScript the same tab updates in place; without it the server
renders everything. A screenshot is kept under the test's tmp dir (and in
``$STANDBY_ARTIFACTS`` when set)."""

from __future__ import annotations

import calendar
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.process.harness import DEADLINE, free_port, running_standby, wait_for
from tests.support.configs import primary_and_emergency
from tests.support.harness import BackendProcess, get

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None
)
try:
    from playwright.sync_api import sync_playwright
except ImportError:  # the test extra installs it; CI must have it
    sync_playwright = None  # type: ignore[assignment]

pytestmark = pytest.mark.skipif(
    (CHROMIUM is None or sync_playwright is None) and not os.environ.get("CI"),
    reason="chromium or playwright is not installed",
)

# As root Chromium needs --no-sandbox; the rest keeps it from reaching anything but the
# loopback page (no updates, no sync, no QUIC) and from needing a GPU.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# Seconds a browser may take to start or load on two shared, busy cores (only a bound).
BROWSER_DEADLINE = 2 * DEADLINE
# Requests sent after the kill for standby to notice it (the first one does; the page
# shows it within a poll): a bound on the traffic, not a timing.
MAX_VISITS = 20
EVIL = "<script>window.pwned=1</script>"  # a service name: shown as text, never run

# The status page's service, before the site's (which takes every request): its name
# would run a script if it were written as markup.
STATUS_SERVICE = f"""  Service "{EVIL}"
    URL "^/status"
    Status
  End"""


def _context(pw: Any, profile: Path, javascript: bool) -> Any:
    """A browser with its own new profile directory (Playwright passes it as
    --user-data-dir); never a browser of Playwright's own: the Debian one."""
    assert CHROMIUM is not None, "chromium must be installed in CI (.ci/run)"
    return pw.chromium.launch_persistent_context(
        str(profile),
        executable_path=CHROMIUM,
        headless=True,
        args=list(FLAGS),
        java_script_enabled=javascript,
        viewport={"width": 1400, "height": 700},
        timeout=BROWSER_DEADLINE * 1000,
    )


def _row(page: Any, where: str) -> dict[str, str]:
    """The text of each cell of the backend row ``where`` ("L/S/B"), by class."""
    return dict(
        page.eval_on_selector(
            f'tr[data-backend="{where}"]',
            "r => Array.from(r.cells).map(c => [c.className, c.textContent])",
        )
    )


def _serving(page: Any, where: str) -> str:
    return str(page.text_content(f'table[data-service="{where}"] .serving'))


@pytest.fixture
def artifacts(tmp_path: Path) -> Iterator[Path]:
    """Where screenshots go; copied to $STANDBY_ARTIFACTS at the end when it is set."""
    shots = tmp_path / "screenshots"
    shots.mkdir()
    yield shots
    target = os.environ.get("STANDBY_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        for shot in shots.iterdir():
            shutil.copy(shot, Path(target) / shot.name)


def test_status_page_follows_a_failover_live_and_without_javascript(
    tmp_path: Path, artifacts: Path
) -> None:
    assert sync_playwright is not None, "playwright must be installed in CI (the test extra)"
    listen = free_port()
    primary = BackendProcess("primary").start()
    emergency = BackendProcess("emergency").start()
    cfg = tmp_path / "standby.cfg"
    cfg.write_text(
        primary_and_emergency(
            primary.port,
            emergency.port,
            port=listen,
            global_extra="Daemon 0\nAlive 2",
            listener_extra=STATUS_SERVICE,
        )
    )
    url = f"http://127.0.0.1:{listen}/status"
    try:
        with running_standby(cfg), sync_playwright() as pw:
            assert get(listen, "/").body == b"primary"
            browser = _context(pw, tmp_path / "profile-js", javascript=True)
            try:
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.set_default_timeout(BROWSER_DEADLINE * 1000)
                page.goto(url)
                assert _row(page, "0/1/0")["state"] == "up"
                assert _serving(page, "0/1") == "regular"
                # The name is text: the caption shows it, the script in it never ran.
                assert EVIL in str(page.text_content('table[data-service="0/0"] caption'))
                assert page.evaluate("window.pwned") is None
                page.evaluate("window.sameTab = 'still here'")  # lost on a full reload
                wait_for(
                    lambda: str(page.text_content("#live")).startswith("live"),
                    "the script's first update",
                )

                primary.kill()  # the real process: its port now refuses
                before = time.time()

                visits = [0]

                def shows_failover() -> bool:
                    row = _row(page, "0/1/0")
                    if row["state"] == "up" and visits[0] < MAX_VISITS:
                        visits[0] += 1
                        get(listen, "/")  # a visitor, who makes standby try the primary
                    return row["state"] == "down" and _serving(page, "0/1") == "emergency"

                wait_for(shows_failover, "the page to show the primary down", BROWSER_DEADLINE)
                row = _row(page, "0/1/0")
                assert row["reason"], row  # why: the health writer's reason
                assert "UTC" in row["since"], row
                since = time.strptime(row["since"], "%Y-%m-%d %H:%M:%S UTC")
                assert calendar.timegm(since) >= int(before) - 1
                assert "down" in row["history"], row
                assert "serving" in str(page.get_attribute('tr[data-backend="0/1/1"]', "class"))
                assert get(listen, "/").body == b"emergency"
                assert page.evaluate("window.sameTab") == "still here"  # updated in place
                # Rebuilt by the script: the name is still text, and still never ran.
                assert EVIL in str(page.text_content('table[data-service="0/0"] caption'))
                assert page.evaluate("window.pwned") is None
                page.screenshot(path=str(artifacts / "status-live.png"), full_page=True)
            finally:
                browser.close()

            still = _context(pw, tmp_path / "profile-nojs", javascript=False)
            try:
                page = still.pages[0] if still.pages else still.new_page()
                page.set_default_timeout(BROWSER_DEADLINE * 1000)
                page.goto(url)
                row = _row(page, "0/1/0")
                assert row["state"] == "down" and row["reason"] and "UTC" in row["since"]
                assert _serving(page, "0/1") == "emergency"
                assert str(page.text_content("#live")).startswith("reloads every")
                refresh = page.get_attribute('noscript meta[http-equiv="refresh"]', "content")
                assert refresh is not None and int(refresh) > 0
                assert EVIL in str(page.text_content('table[data-service="0/0"] caption'))
                page.screenshot(path=str(artifacts / "status-nojs.png"), full_page=True)
            finally:
                still.close()
    finally:
        primary.kill()
        emergency.kill()
