"""The pure parts of the systemd support: notification messages, the environment's
variables (NOTIFY_SOCKET, WATCHDOG_USEC/PID, LISTEN_FDS/PID/FDNAMES) read as systemd means
them, with properties over any value."""

from __future__ import annotations

import socket

from hypothesis import given
from hypothesis import strategies as st

from standby.process.activation import (
    FIRST_FD,
    MAX_FDS,
    ActivationError,
    passed,
    same_address,
)
from standby.process.notify import (
    MAX_STATUS,
    NOTIFY_SOCKET,
    USEC,
    WATCHDOG_FRACTION,
    SystemdNotifier,
    one_line,
    ready_message,
    reloading_message,
    socket_address,
    status_line,
    watchdog_interval,
)

PID = 4242


def assignments(message: str) -> dict[str, str]:
    pairs = [line.partition("=") for line in message.split("\n")]
    assert all(sep == "=" for _, sep, _ in pairs), message
    return {key: value for key, _, value in pairs}


@given(st.text())
def test_a_status_is_always_one_bounded_line(text: str) -> None:
    line = one_line(text)
    assert "\n" not in line and "\r" not in line
    assert len(line) <= MAX_STATUS
    assert assignments(ready_message(text)) == {"READY": "1", "STATUS": line}


def test_ready_names_the_main_pid_when_asked() -> None:
    assert ready_message() == "READY=1"
    assert assignments(ready_message("up", main_pid=PID)) == {
        "READY": "1",
        "MAINPID": str(PID),
        "STATUS": "up",
    }


@given(st.integers(min_value=0, max_value=2**63))
def test_reloading_carries_the_monotonic_time(usec: int) -> None:
    message = assignments(reloading_message(usec))
    assert message["RELOADING"] == "1" and message["MONOTONIC_USEC"] == str(usec)


def test_status_line() -> None:
    assert status_line(2, 1, 0, 17, 4) == "backends 2 up, 1 down; 17 requests served; 4 workers"
    assert status_line(0, 0, 3, 0, 1) == (
        "backends 0 up, 0 down, 3 disabled; 0 requests served; 1 worker"
    )


@given(st.text())
def test_notify_socket_values(value: str) -> None:
    address = socket_address(value)
    if value.startswith("/"):
        assert address == value
    elif value.startswith("@") and len(value) > 1:
        assert address == b"\0" + value[1:].encode()
    else:
        assert address is None  # nothing to send to: no notifier


@given(st.integers(min_value=-(2**40), max_value=2**40), st.sampled_from([None, PID, 1]))
def test_watchdog_interval(usec: int, owner: int | None) -> None:
    env = {"WATCHDOG_USEC": str(usec)}
    if owner is not None:
        env["WATCHDOG_PID"] = str(owner)
    interval = watchdog_interval(env, PID)
    if usec <= 0 or owner not in (None, PID):
        assert interval is None
    else:
        assert interval == usec / USEC * WATCHDOG_FRACTION


@given(st.text())
def test_watchdog_ignores_what_is_not_a_number(text: str) -> None:
    interval = watchdog_interval({"WATCHDOG_USEC": text}, PID)
    try:
        usec = int(text)
    except ValueError:
        assert interval is None
    else:
        assert (interval is None) == (usec <= 0)


def test_the_variables_are_taken_out_of_the_environment() -> None:
    env = {NOTIFY_SOCKET: "@sd", "WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(PID), "K": "v"}
    notifier = SystemdNotifier.from_environ(env, PID)
    assert notifier is not None
    assert (notifier.address, notifier.watchdog) == (b"\0sd", 1.0)
    assert env == {"K": "v"}  # children never see them
    assert SystemdNotifier.from_environ({"K": "v"}, PID) is None


@given(st.integers(min_value=0, max_value=MAX_FDS), st.lists(st.text(alphabet="ab.-")))
def test_listen_fds_for_us(count: int, names: list[str]) -> None:
    env = {"LISTEN_PID": str(PID), "LISTEN_FDS": str(count), "LISTEN_FDNAMES": ":".join(names)}
    pairs = passed(env, PID)
    assert [fd for fd, _ in pairs] == list(range(FIRST_FD, FIRST_FD + count))
    for index, (fd, label) in enumerate(pairs):
        assert label.startswith(f"fd {fd}")
        if index < len(names) and names[index]:
            assert label == f"fd {fd} ({names[index]})"


@given(st.text(), st.text())
def test_listen_fds_for_another_process_are_ignored(pid: str, count: str) -> None:
    if pid.strip() == str(PID):
        return
    assert passed({"LISTEN_PID": pid, "LISTEN_FDS": count}, PID) == []


@given(st.text())
def test_a_bad_count_is_an_error(count: str) -> None:
    env = {"LISTEN_PID": str(PID), "LISTEN_FDS": count}
    try:
        number = int(count.strip())
    except ValueError:
        number = None
    if number is not None and 0 <= number <= MAX_FDS:
        assert len(passed(env, PID)) == number
        return
    try:
        passed(env, PID)
    except ActivationError as exc:
        assert "LISTEN_FDS" in str(exc)
    else:
        raise AssertionError(f"accepted LISTEN_FDS={count!r}")


def test_addresses_compare_by_value() -> None:
    v4, v6 = socket.AF_INET, socket.AF_INET6
    assert same_address(("127.0.0.1", 80), ("127.0.0.1", 80), v4)
    assert not same_address(("127.0.0.1", 80), ("127.0.0.1", 81), v4)
    assert not same_address(("127.0.0.1", 80), ("127.0.0.2", 80), v4)
    assert same_address(("::1", 80, 0, 0), ("0:0::1", 80, 0, 0), v6)
    assert not same_address(("::", 80, 0, 0), ("::1", 80, 0, 0), v6)
    assert not same_address(("not an address", 80), ("127.0.0.1", 80), v4)
