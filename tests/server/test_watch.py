"""server/watch.py's -filewatch lists: what a change, a removal and a bad file do to the
content in memory, and the lines logged as Pound logs them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from standby.acl import acl_contains
from standby.config import load_config
from standby.server.watch import ListFiles


def write(path: Path, text: str, stamp: int) -> None:
    """Write ``text`` with a distinct mtime (a change of the same size is still seen)."""
    path.write_text(text)
    os.utime(path, ns=(stamp, stamp))


def test_list_files_reload_clear_and_keep(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    nets = tmp_path / "nets"
    write(nets, "10.0.0.0/8\n", 1)
    config_file = tmp_path / "pound.cfg"
    config_file.write_text(
        f'ACL "a" -filewatch "{nets}"\n'
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n"
        ' Service\n  ACL "a"\n  Backend\n   Address 127.0.0.1\n   Port 8081\n  End\n'
        ' End\n Service\n  Not ACL "a"\n  Backend\n   Address 127.0.0.1\n   Port 8082\n'
        "  End\n End\nEnd\n"
    )
    config = load_config(str(config_file))
    acl = config.listeners[0].services[0].conditions[0].acl
    assert acl is not None
    files = ListFiles()
    assert files.follow(config)
    caplog.set_level(logging.INFO, logger="standby.server.watch")
    files.poll()  # nothing changed since the configuration read it
    assert caplog.records == []
    assert acl_contains(acl, "10.1.2.3") and not acl_contains(acl, "127.0.0.1")

    write(nets, "127.0.0.0/8\n", 2)
    files.poll()
    assert acl_contains(acl, "127.0.0.1") and not acl_contains(acl, "10.1.2.3")
    # Once for the named ACL, though two conditions use it.
    assert [r.getMessage() for r in caplog.records] == [
        f"{config_file}:1.20: {nets}: file reloaded"
    ]

    caplog.clear()
    nets.unlink()
    files.poll()
    assert not acl_contains(acl, "127.0.0.1")
    assert [r.getMessage() for r in caplog.records] == [
        f"{config_file}:1.20: {nets}: content cleared"
    ]

    write(nets, "127.0.0.1\n", 3)
    files.poll()
    caplog.clear()
    write(nets, "300.0.0.1\n", 4)
    files.poll()
    assert acl_contains(acl, "127.0.0.1")  # the bad file is not taken
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert "its content stays" in caplog.records[0].getMessage()


def test_no_watched_files(tmp_path: Path) -> None:
    config_file = tmp_path / "pound.cfg"
    config_file.write_text(
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n"
        " Service\n  Backend\n   Address 127.0.0.1\n   Port 8081\n  End\n End\nEnd\n"
    )
    assert not ListFiles().follow(load_config(str(config_file)))


def test_htpasswd_reloaded_and_cleared(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    users = tmp_path / "htpass"
    write(users, "ann:one\n", 1)
    config_file = tmp_path / "pound.cfg"
    config_file.write_text(
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n"
        f' Service\n  BasicAuth "{users}"\n  Backend\n   Address 127.0.0.1\n   Port 8081\n'
        "  End\n End\nEnd\n"
    )
    config = load_config(str(config_file))
    table = config.listeners[0].services[0].conditions[0].users
    assert table is not None
    files = ListFiles()
    assert files.follow(config)
    caplog.set_level(logging.INFO, logger="standby.server.watch")
    write(users, "ann:two\n", 2)
    files.poll()
    assert table.verify(b"ann", b"two") and not table.verify(b"ann", b"one")
    assert [r.getMessage() for r in caplog.records] == [
        f"{config_file}:5.3: {users}: file reloaded"
    ]
    write(users, "no colon\n", 3)
    files.poll()
    assert table.verify(b"ann", b"two")  # a malformed file is not taken
    caplog.clear()
    users.unlink()
    files.poll()  # as Pound: a removed file lets nobody in
    assert not table.verify(b"ann", b"two")
    assert [r.getMessage() for r in caplog.records] == [
        f"{config_file}:5.3: {users}: content cleared"
    ]


def test_a_change_before_following_the_same_conditions_again_is_still_seen(
    tmp_path: Path,
) -> None:
    nets = tmp_path / "nets"
    write(nets, "10.0.0.0/8\n", 1)
    config_file = tmp_path / "pound.cfg"
    config_file.write_text(
        "ListenHTTP\n Address 127.0.0.1\n Port 8080\n"
        f' Service\n  ACL -filewatch "{nets}"\n  Backend\n   Address 127.0.0.1\n   Port 8081\n'
        "  End\n End\nEnd\n"
    )
    config = load_config(str(config_file))
    acl = config.listeners[0].services[0].conditions[0].acl
    assert acl is not None
    files = ListFiles()
    files.follow(config)
    write(nets, "127.0.0.0/8\n", 2)
    files.follow(config)  # e.g. rebuilt with new DNS addresses: the same conditions
    files.poll()
    assert acl_contains(acl, "127.0.0.1")
