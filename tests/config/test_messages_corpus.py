"""A corpus of pound.cfg files written the way people use Pound 2 and 4 (tests/config/corpus,
our own files): each loads in standby, or is refused only with ``"X" is not supported``
naming a Pound keyword that a part of issue 15 is building. Where Pound 4.23 is
installed (/work/pound-bin, not in CI), every file it accepts is held to the same rule,
and the files it refuses are listed in POUND_REFUSES."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from standby.config import ConfigError, load_config

CORPUS = Path(__file__).with_name("corpus")
FILES = sorted(CORPUS.glob("*.cfg"))
POUND = Path("/work/pound-bin/sbin/pound")
RUN_TIMEOUT = 60.0  # generous bound for one `pound -c` on a loaded machine

# Pound 2 files that Pound 4.23 refuses (HAport and DynScale were removed; a backend's
# `HTTPS "file"`; xHTTP 4); standby accepts them (the first with a warning).
POUND_REFUSES = {"26-pound2-haport.cfg", "30-pound2-complete.cfg", "31-exchange-rpc.cfg"}


def standby_answer(path: Path) -> str:
    """ "" when ``path`` loads, else the error (FILE:LINE.COL: message)."""
    try:
        load_config(str(path))
    except ConfigError as exc:
        return str(exc)
    return ""


def test_the_corpus_is_there() -> None:
    assert len(FILES) >= 32


@pytest.mark.parametrize("path", FILES, ids=lambda path: path.name)
def test_every_file_loads(path: Path) -> None:
    assert standby_answer(path) == ""


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
        assert answer == "", answer
