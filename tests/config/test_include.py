"""Include: relative and absolute names, globs in sorted order, loops, missing files."""

from __future__ import annotations

from pathlib import Path

import pytest

from standby.config import ConfigError, load_config, load_config_text

LISTENER = """\
ListenHTTP
  Address 127.0.0.1
  Port 8080
  Include "services.cfg"
End
"""

SERVICE = """\
Service "{name}"
  BackEnd
    Address 127.0.0.1
    Port {port}
  End
End
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_relative_include_is_read_from_the_including_files_directory(tmp_path: Path) -> None:
    main = write(tmp_path / "etc" / "pound.cfg", 'Alive 5\nInclude "conf/listener.cfg"\n')
    write(tmp_path / "etc" / "conf" / "listener.cfg", LISTENER)
    # services.cfg is relative to conf/, the directory of listener.cfg.
    write(tmp_path / "etc" / "conf" / "services.cfg", SERVICE.format(name="a", port=81))
    config = load_config(str(main))
    (service,) = config.listeners[0].services
    assert service.name == "a"
    assert service.location.file == str(tmp_path / "etc" / "conf" / "services.cfg")
    assert (service.location.line, service.location.col) == (1, 1)


def test_absolute_include(tmp_path: Path) -> None:
    elsewhere = write(tmp_path / "other" / "svc.cfg", SERVICE.format(name="abs", port=82))
    main = write(
        tmp_path / "main" / "pound.cfg",
        LISTENER.replace('"services.cfg"', f'"{elsewhere}"'),
    )
    assert load_config(str(main)).listeners[0].services[0].name == "abs"


def test_include_from_text_uses_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "services.cfg", SERVICE.format(name="t", port=83))
    config = load_config_text(LISTENER, "inline", str(tmp_path))
    assert config.listeners[0].services[0].backends[0].port == 83


def test_glob_includes_matches_in_sorted_order(tmp_path: Path) -> None:
    for name, port in (("b", 2), ("c", 3), ("a", 1), ("10", 10)):
        write(tmp_path / "conf.d" / f"{name}.cfg", SERVICE.format(name=name, port=port))
    write(tmp_path / "conf.d" / "ignored.txt", "this is not read\n")
    (tmp_path / "conf.d" / "z.cfg").mkdir()  # as Pound, a glob includes regular files only
    main = write(tmp_path / "pound.cfg", LISTENER.replace('"services.cfg"', '"conf.d/*.cfg"'))
    services = load_config(str(main)).listeners[0].services
    assert [s.name for s in services] == ["10", "a", "b", "c"]


def test_glob_without_match_includes_nothing(tmp_path: Path) -> None:
    main = write(
        tmp_path / "pound.cfg",
        LISTENER.replace('"services.cfg"', '"none/*.cfg"') + SERVICE.format(name="g", port=1),
    )
    config = load_config(str(main))
    assert config.listeners[0].services == ()
    assert config.services[0].name == "g"


def test_glob_siblings_may_include_each_other(tmp_path: Path) -> None:
    # a.cfg includes b.cfg, which is also a later glob match: not a loop.
    write(tmp_path / "d" / "a.cfg", 'Include "b.cfg"\n')
    write(tmp_path / "d" / "b.cfg", SERVICE.format(name="b", port=1))
    main = write(tmp_path / "pound.cfg", LISTENER.replace('"services.cfg"', '"d/*.cfg"'))
    assert [s.name for s in load_config(str(main)).listeners[0].services] == ["b", "b"]


def test_include_may_span_sections(tmp_path: Path) -> None:
    write(tmp_path / "head.cfg", "ListenHTTP\n  Address 127.0.0.1\n")
    main = write(
        tmp_path / "pound.cfg",
        'Include "head.cfg"\n  Port 9\n' + SERVICE.format(name="x", port=2) + "End\n",
    )
    assert load_config(str(main)).listeners[0].port == 9


def test_include_loop(tmp_path: Path) -> None:
    main = write(tmp_path / "pound.cfg", 'Alive 3\nInclude "a.cfg"\n')
    write(tmp_path / "a.cfg", '\n  Include "b.cfg"\n')
    write(tmp_path / "b.cfg", 'Include "pound.cfg"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(main))
    assert str(info.value) == (
        f'{tmp_path}/b.cfg:1.1: include loop: "{tmp_path}/pound.cfg" is already being read'
    )


def test_file_including_itself(tmp_path: Path) -> None:
    main = write(tmp_path / "self.cfg", 'Include "./self.cfg"\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(main))
    assert str(info.value) == f'{main}:1.1: include loop: "{main}" is already being read'


def test_missing_include(tmp_path: Path) -> None:
    main = write(tmp_path / "pound.cfg", 'Alive 3\n  Include "missing.cfg" # gone\n')
    with pytest.raises(ConfigError) as info:
        load_config(str(main))
    assert str(info.value) == (
        f'{main}:2.3: cannot read "{tmp_path}/missing.cfg": No such file or directory'
    )


def test_errors_inside_included_files_name_that_file(tmp_path: Path) -> None:
    main = write(tmp_path / "pound.cfg", 'Include "x.cfg"\n')
    write(tmp_path / "x.cfg", "\n\n    Colour red\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(main))
    assert str(info.value) == f'{tmp_path}/x.cfg:3.5: unknown keyword "Colour"'


def test_include_needs_a_name() -> None:
    with pytest.raises(ConfigError) as info:
        load_config_text("Include\n", "t.cfg")
    assert str(info.value) == 't.cfg:1.1: missing argument for "Include": expected file'
