"""A corpus of pound.cfg files written the way people use Pound 2 and 4 (tests/config/corpus,
our own files): each loads in standby, or is refused only with ``"X" is not supported``
naming a Pound keyword that a part of issue 15 is building. Where Pound 4.23 is
installed (/work/pound-bin, not in CI), every file it accepts is held to the same rule,
and the files it refuses are listed in POUND_REFUSES."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from standby.config import ConfigError, load_config
from standby.config.schema import UNSUPPORTED, UNSUPPORTED_IN

CORPUS = Path(__file__).with_name("corpus")
FILES = sorted(CORPUS.glob("*.cfg"))
POUND = Path("/work/pound-bin/sbin/pound")
RUN_TIMEOUT = 60.0  # generous bound for one `pound -c` on a loaded machine

# Files that load today: they must keep loading (the list only grows as issue 15 lands).
LOADS = {
    "01-wordpress-failover.cfg",
    "02-https-redirect.cfg",
    "03-sessions-cookie.cfg",
    "04-header-edits.cfg",
    "05-vhosts-pound2.cfg",
    "06-vhosts-pound4.cfg",
    "07-maintenance-pages.cfg",
    "08-globals-repeated.cfg",
    "09-threads-tuning.cfg",
    "10-control-socket.cfg",
    "11-websockets.cfg",
    "12-api-limits.cfg",
    "13-rewrite-location.cfg",
    "14-https-hardened.cfg",
    "15-client-certs.cfg",
    "16-https-backend.cfg",
    "17-acme.cfg",
    "18-metrics.cfg",
    "19-ip-sessions-pound2.cfg",
    "20-includes.cfg",
    "21-rate-limit.cfg",
    "22-redirect-moved.cfg",
    "23-acl-admin.cfg",
    "24-rewrite-block.cfg",
    "25-named-backends.cfg",
    "26-pound2-haport.cfg",
    "27-basic-auth.cfg",
    "28-unix-socket-backend.cfg",
    "29-disabled-and-priorities.cfg",
    "30-pound2-complete.cfg",
    "31-exchange-rpc.cfg",
    "32-big-cookies.cfg",
}
# Pound 2 files that Pound 4.23 refuses (HAport and DynScale were removed; a backend's
# `HTTPS "file"`; xHTTP 4); standby accepts them (the first with a warning).
POUND_REFUSES = {"26-pound2-haport.cfg", "30-pound2-complete.cfg", "31-exchange-rpc.cfg"}

_NOT_SUPPORTED = re.compile(r'"([^"]+)" is not supported yet')


def pending() -> set[str]:
    """Every keyword and option some part of issue 15 is still building."""
    names = set(UNSUPPORTED)
    for section_names in UNSUPPORTED_IN.values():
        names.update(section_names)
    return names


def standby_answer(path: Path) -> str:
    """ "" when ``path`` loads, else the error (FILE:LINE.COL: message)."""
    try:
        load_config(str(path))
    except ConfigError as exc:
        return str(exc)
    return ""


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 20
    assert {path.name for path in FILES} >= LOADS


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_loads_or_waits_only_for_issue_15(path: Path) -> None:
    answer = standby_answer(path)
    if path.name in LOADS:
        assert answer == ""
        return
    match = _NOT_SUPPORTED.search(answer)
    assert match is not None, answer
    assert match.group(1) in pending(), answer


@pytest.mark.skipif(not POUND.exists(), reason="Pound 4.23 is not installed here")
@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_what_pound_accepts_standby_loads_or_names(path: Path, tmp_path: Path) -> None:
    # Pound takes relative names from its include directory (Include, ErrorFile, Cert)
    # or its working directory (CAlist, ACME): the corpus's for both.
    work = tmp_path / "corpus"
    shutil.copytree(CORPUS, work)
    done = subprocess.run(
        [str(POUND), "-c", "-W", f"include-dir={work}", "-f", str(work / path.name)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        stdin=subprocess.DEVNULL,
        check=False,
        cwd=work,
    )
    assert (done.returncode != 0) == (path.name in POUND_REFUSES), done.stderr
    if done.returncode == 0:
        answer = standby_answer(work / path.name)
        assert answer == "" or _NOT_SUPPORTED.search(answer), answer
