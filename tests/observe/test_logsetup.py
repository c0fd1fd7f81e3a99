"""Where logs go: syslog with the configured facility, or stderr (-e, LogFacility -)."""

from __future__ import annotations

import io
import logging
import logging.handlers
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from standby.model import ListenerSpec
from standby.observe.access import AccessLog, AccessRecord
from standby.observe.logsetup import (
    LOGGER_NAME,
    NOTICE,
    STANDBY_ONLY,
    STYLE_POUND,
    STYLE_STANDBY,
    LogSetupError,
    StderrAccessWriter,
    _Stamp,
    access_emitter,
    facility_code,
    reopen_log_file,
    setup_logging,
)

RECV_TIMEOUT = 10.0  # generous: the datagram is already queued when we read
SEVERITY_INFO = 6
SEVERITY_WARNING = 4


@pytest.fixture(autouse=True)
def restore_logger() -> Iterator[None]:
    logger = logging.getLogger(LOGGER_NAME)
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
        handler.close()
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


@pytest.fixture
def syslog_socket(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    """A real local syslog endpoint: a UNIX datagram socket like /dev/log."""
    path = str(tmp_path / "log")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(RECV_TIMEOUT)
    yield path, sock
    sock.close()


def test_syslog_with_the_configured_facility(syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    handler = setup_logging("local3", to_stderr=False, verbose=False, syslog_address=path)
    assert isinstance(handler, logging.handlers.SysLogHandler)
    logging.getLogger("standby.health").warning("backend 127.0.0.1:81 dead")
    data = sock.recv(4096).decode()
    priority = facility_code("local3") * 8 + SEVERITY_WARNING
    assert data == f"<{priority}>standby[{os.getpid()}]: backend 127.0.0.1:81 dead\x00"


def test_access_lines_reach_syslog_at_info(syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    setup_logging("daemon", to_stderr=False, verbose=False, syslog_address=path)
    log = AccessLog(1, False, access_emitter())
    listener = ListenerSpec(name=None, address="127.0.0.1", port=80)
    answer = b"HTTP/1.1 400 Bad Request\r\n\r\n"
    log.log(AccessRecord("192.0.2.1", listener, None, None, None, 400, 0, 0.0, 0.0, answer))
    priority = facility_code("daemon") * 8 + SEVERITY_INFO
    assert sock.recv(4096).decode() == (
        f"<{priority}>standby[{os.getpid()}]: 192.0.2.1  - HTTP/1.1 400 Bad Request\x00"
    )


def test_log_tag_names_syslog_messages(syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    setup_logging("daemon", to_stderr=False, verbose=False, syslog_address=path, tag="web-front")
    log = AccessLog(1, False, access_emitter())
    listener = ListenerSpec(name=None, address="127.0.0.1", port=80)
    answer = b"HTTP/1.1 200 OK\r\n\r\n"
    log.log(AccessRecord("192.0.2.1", listener, None, None, None, 200, 0, 0.0, 0.0, answer))
    assert sock.recv(4096).decode().startswith(f"<30>web-front[{os.getpid()}]: 192.0.2.1 ")
    logging.getLogger("standby.x").warning("w")
    assert sock.recv(4096).decode() == f"<28>web-front[{os.getpid()}]: w\x00"


def test_minus_facility_means_stderr(syslog_socket: tuple[str, socket.socket]) -> None:
    path, _ = syslog_socket
    stream = io.StringIO()
    handler = setup_logging("-", to_stderr=False, verbose=False, syslog_address=path, stream=stream)
    assert not isinstance(handler, logging.handlers.SysLogHandler)
    logging.getLogger("standby").info("hello")
    assert stream.getvalue().endswith(f"standby[{os.getpid()}]: hello\n")


def test_dash_e_overrides_the_facility(syslog_socket: tuple[str, socket.socket]) -> None:
    path, sock = syslog_socket
    stream = io.StringIO()
    setup_logging("local0", to_stderr=True, verbose=False, syslog_address=path, stream=stream)
    logging.getLogger("standby.x").info("to stderr")
    assert "to stderr" in stream.getvalue()
    sock.setblocking(False)
    with pytest.raises(BlockingIOError):
        sock.recv(4096)


def test_no_syslog_socket_falls_back_to_stderr(tmp_path: Path) -> None:
    stream = io.StringIO()
    setup_logging(
        "daemon",
        to_stderr=False,
        verbose=False,
        syslog_address=str(tmp_path / "none"),
        stream=stream,
    )
    logging.getLogger("standby").error("still visible")
    text = stream.getvalue()
    assert "no syslog socket" in text and "still visible" in text


def test_verbose_enables_debug() -> None:
    stream = io.StringIO()
    setup_logging("-", to_stderr=True, verbose=False, stream=stream)
    logging.getLogger("standby").debug("hidden")
    setup_logging("-", to_stderr=True, verbose=True, stream=stream)
    logging.getLogger("standby").debug("shown")
    assert "hidden" not in stream.getvalue() and "shown" in stream.getvalue()


def test_unknown_facility() -> None:
    with pytest.raises(LogSetupError, match="unknown syslog facility 'nosuch'"):
        setup_logging("nosuch", to_stderr=False, verbose=False)


def test_stderr_access_lines_carry_the_millisecond_and_pid() -> None:
    stream = io.StringIO()
    writer = StderrAccessWriter(stream)
    stamp = _Stamp()
    when = 1_700_000_000.0
    date = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))
    tail = f" standby[{os.getpid()}]: "
    assert stamp.prefix(when + 0.1234) == f"{date},123{tail}"
    assert stamp.prefix(when + 0.1239) == f"{date},123{tail}"  # same millisecond
    assert stamp.prefix(when + 0.1241) == f"{date},124{tail}"
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when + 1))
    assert stamp.prefix(when + 1.0005) == f"{later},000{tail}"
    writer("a line")  # outside an event loop: written at once
    text = stream.getvalue()
    assert text.endswith(f"{tail}a line\n") and text.count("\n") == 1
    writer.flush()


def test_pound_style_stderr_is_pound_s_tag_and_only_what_pound_would_say() -> None:
    # The `pound` wrapper's style: Pound 4's lines with -e (its tag, no time stamp or
    # pid), and none of standby's own INFO/DEBUG news at any LogLevel.
    stream = io.StringIO()
    setup_logging("-", to_stderr=True, verbose=True, stream=stream, style=STYLE_POUND)
    logger = logging.getLogger("standby.supervisor")
    logger.debug("listening on somewhere")
    logger.info("standby started")
    logger.log(NOTICE, "e503: no backend")
    logger.warning("backend dead")
    logger.warning("f.cfg:3.5: warning: advice", extra={STANDBY_ONLY: True})  # not Pound's
    emit = access_emitter()
    emit("127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK")
    assert isinstance(emit, StderrAccessWriter)
    emit.flush()
    assert stream.getvalue().splitlines() == [
        "pound: e503: no backend",
        "pound: backend dead",
        "pound: 127.0.0.1 GET / HTTP/1.1 - HTTP/1.1 200 OK",
    ]


def test_standby_s_own_warnings_stay_in_standby_s_style() -> None:
    stream = io.StringIO()
    setup_logging("-", to_stderr=True, verbose=False, stream=stream, style=STYLE_STANDBY)
    logging.getLogger("standby").warning("advice", extra={STANDBY_ONLY: True})
    assert stream.getvalue().endswith("]: advice\n")


def test_unknown_log_style() -> None:
    with pytest.raises(LogSetupError, match="unknown log style 'nosuch'"):
        setup_logging("-", to_stderr=True, verbose=False, style="nosuch")


# --- issue 16: every level's priority; journald's stream; the log file ------------------

# Each level standby logs at, and the syslog severity (RFC 5424) it must arrive with.
LEVELS = (
    (logging.DEBUG, 7),
    (logging.INFO, 6),
    (NOTICE, 5),
    (logging.WARNING, 4),
    (logging.ERROR, 3),
    (logging.CRITICAL, 2),
)


@pytest.mark.parametrize("facility", ["daemon", "local0", "local7", "user", "auth"])
def test_syslog_pri_is_facility_times_8_plus_severity_at_every_level(
    syslog_socket: tuple[str, socket.socket], facility: str
) -> None:
    path, sock = syslog_socket
    setup_logging(facility, to_stderr=False, verbose=True, syslog_address=path)
    logger = logging.getLogger("standby.test")
    for level, _ in LEVELS:
        logger.log(level, "at %s", logging.getLevelName(level))
    code = facility_code(facility)
    for level, sev in LEVELS:
        data = sock.recv(4096).decode()
        expected = f"<{code * 8 + sev}>standby[{os.getpid()}]: at {logging.getLevelName(level)}"
        assert data == expected + "\x00"
    access_emitter()("127.0.0.1 GET / HTTP/1.1 - 200")
    assert sock.recv(4096).decode().startswith(f"<{code * 8 + SEVERITY_INFO}>standby[")


def journal_variable(stream: io.TextIOBase | object) -> str:
    info = os.fstat(stream.fileno())  # type: ignore[attr-defined]
    return f"{info.st_dev}:{info.st_ino}"


def test_stderr_that_is_the_journal_gets_priorities_and_no_time_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open(tmp_path / "journal", "w+") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_variable(stream))
        setup_logging("-", to_stderr=True, verbose=True, stream=stream)
        logger = logging.getLogger("standby.test")
        for level, _ in LEVELS:
            logger.log(level, "at %s", logging.getLevelName(level))
        logger.error("two\nlines")
        emit = access_emitter()
        emit("127.0.0.1 GET / HTTP/1.1 - 200")
        assert isinstance(emit, StderrAccessWriter)
        emit.flush()
        stream.flush()
        lines = (tmp_path / "journal").read_text().splitlines()
    expected = [f"<{sev}>at {logging.getLevelName(level)}" for level, sev in LEVELS]
    expected += ["<3>two", "<3>lines", "<6>127.0.0.1 GET / HTTP/1.1 - 200"]
    assert lines == expected


def test_a_journal_stream_that_is_not_stderr_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stderr redirected elsewhere keeps $JOURNAL_STREAM, naming another file."""
    with open(tmp_path / "other", "w") as other, open(tmp_path / "err", "w+") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", journal_variable(other))
        setup_logging("-", to_stderr=True, verbose=False, stream=stream)
        logging.getLogger("standby.test").warning("plain")
        stream.flush()
    (line,) = (tmp_path / "err").read_text().splitlines()
    assert line.endswith(f" standby[{os.getpid()}]: plain") and not line.startswith("<")


@pytest.mark.parametrize("value", ["", "garbage", "1:", ":2", "x:y"])
def test_a_malformed_journal_stream_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    with open(tmp_path / "err", "w+") as stream:
        monkeypatch.setenv("JOURNAL_STREAM", value)
        setup_logging("-", to_stderr=True, verbose=False, stream=stream)
        logging.getLogger("standby.test").warning("plain")
        stream.flush()
    assert not (tmp_path / "err").read_text().startswith("<")


def test_log_file_takes_diagnostics_and_access_lines_and_reopens(tmp_path: Path) -> None:
    path = tmp_path / "standby.log"
    setup_logging("daemon", to_stderr=False, verbose=False, log_file=str(path))
    logging.getLogger("standby.test").warning("first")
    emit = access_emitter()
    emit("GET /one")
    assert isinstance(emit, StderrAccessWriter)
    emit.flush()
    path.rename(tmp_path / "standby.log.1")
    logging.getLogger("standby.test").warning("still the old file")
    assert reopen_log_file()
    emit("GET /two")
    emit.flush()
    old = (tmp_path / "standby.log.1").read_text().splitlines()
    new = path.read_text().splitlines()
    assert [line.split(": ", 1)[1] for line in old] == ["first", "GET /one", "still the old file"]
    assert [line.split(": ", 1)[1] for line in new] == [f"log file {path} reopened", "GET /two"]
    assert all(f" standby[{os.getpid()}]: " in line for line in old + new)


def test_a_log_file_that_cannot_be_reopened_keeps_the_old_one(tmp_path: Path) -> None:
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "standby.log"
    setup_logging("daemon", to_stderr=False, verbose=False, log_file=str(path))
    path.rename(tmp_path / "moved.log")
    path.mkdir()  # the name is now a directory: opening it for writing fails
    assert reopen_log_file()
    logging.getLogger("standby.test").warning("after")
    text = (tmp_path / "moved.log").read_text()
    assert f"cannot reopen log file {path}: Is a directory" in text and "after" in text


def test_no_log_file_nothing_to_reopen() -> None:
    setup_logging("-", to_stderr=True, verbose=False, stream=io.StringIO())
    assert not reopen_log_file()


def test_a_log_file_that_cannot_be_opened_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(LogSetupError, match=r"cannot open log file .*/none/x\.log: No such file"):
        setup_logging("-", to_stderr=False, verbose=False, log_file=str(tmp_path / "none/x.log"))


def test_the_pound_formatter_places_a_diagnostic_from_the_file_as_it_is_now(
    tmp_path: Path,
) -> None:
    from standby.config import pound_form
    from standby.config.pound_form import POUND_FORM
    from standby.model import Location
    from standby.observe.handlers import PoundFormatter

    path = tmp_path / "p.cfg"
    path.write_text("Service\n\tFooBar 1\nEnd\n")
    formatter = PoundFormatter("pound: ")

    def line(col: int = 2) -> str:
        record = logging.LogRecord("standby.config", logging.WARNING, "", 0, "ours", None, None)
        form = pound_form.token(Location(str(path), 2, col), "warning: theirs")
        setattr(record, POUND_FORM, form)
        return formatter.format(record)

    assert line() == f"pound: {path}:2.9-14: warning: theirs"
    assert line() == f"pound: {path}:2.9-14: warning: theirs"  # the text kept
    path.write_text("Service\n  FooBarBaz 1\nEnd\n")  # another size: read again
    assert line(3) == f"pound: {path}:2.3-11: warning: theirs"
    plain = logging.LogRecord("standby", logging.WARNING, "", 0, "ours", None, None)
    assert formatter.format(plain) == "pound: ours"
