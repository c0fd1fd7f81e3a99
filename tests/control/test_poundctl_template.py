"""poundctl's output templates (-t FILE, -T NAME): the engine, and listings pinned from
Pound 4.23's poundctl run with the same templates (ours) on the same configuration."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from standby.control import template
from tests.control.harness import short_dir
from tests.control.test_ctl import ctl_run
from tests.control.test_poundctl import view

# Ours; Pound's poundctl printed PINNED_* with it for tests/control/test_poundctl.CONFIG.
WALK = """\
{{define "state"}}{{if .enabled}}on{{else}}off{{end}}{{end -}}
{{define "default" -}}
{{- /* one line per object */ -}}
{{range $i, $l = .listeners -}}
L{{$i}} {{.protocol}} {{.address}} {{template "state" .}}
{{range $j, $s = .services -}}
{{"  "}}S{{$j}} {{with .name}}{{.}}{{else}}-{{end}} {{template "state" .}} {{len .backends}}
{{range $k, $b = .backends}}    B{{$k}} {{.type}}{{if eq .type "backend"}} \
{{printf "%-16s|%3d" .address .priority}}{{else if eq .type "control"}} (control){{end}}
{{end}}{{end}}{{end -}}
G {{len .services}} {{if exists . "services"}}yes{{end}} {{fdiv 3 2 | printf "%.2f"}}
{{end}}
""".replace("\\\n", "")
PINNED_WALK = "L0   off\n  S0 - off 0\nL1   off\n  S0 - off 0\nG 1 yes 1.50\n"
FIELDS = """\
{{define "default" -}}
[{{.name}}] [{{.nosuch}}] [{{.enabled}}] [{{.sessions}}] [{{len .backends}}]
{{range .backends}}<{{.address}} {{.priority}}>{{end}}
{{range $i, $b = .backends}}<{{$i}} {{$b.address}} {{.name}}>{{end}}
{{with .backends}}{{len .}}{{end}} {{with .nosuch}}x{{else}}none{{end}}
{{end}}
"""
PINNED_FIELDS = {
    "/1/0": (
        "[one] [] [true] [] [2]\n<127.0.0.1:28792 5><127.0.0.1:28793 3>\n"
        "<0 127.0.0.1:28792 one><1 127.0.0.1:28793 one>\n2 none\n"
    ),
    "/-/0": (
        "[default] [] [true] [] [1]\n<127.0.0.1:28791 5>\n<0 127.0.0.1:28791 default>\n1 none\n"
    ),
}


@pytest.fixture
def sock() -> Iterator[Path]:
    with short_dir() as d:
        yield d / "ctl.sock"


def test_a_listing_through_a_template(
    sock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "walk.tmpl").write_text(WALK)
    argv = ["-t", str(tmp_path / "walk.tmpl"), "list"]
    assert ctl_run(view(), sock, argv, capsys) == (0, PINNED_WALK, "")
    argv = ["-t", str(tmp_path / "walk.tmpl"), "-T", "state", "list", "/1/0"]
    assert ctl_run(view(), sock, argv, capsys) == (0, "on", "")


@pytest.mark.parametrize("target", sorted(PINNED_FIELDS))
def test_fields_nulls_and_ranges(
    target: str, sock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "fields.tmpl").write_text(FIELDS)
    argv = ["-t", str(tmp_path / "fields.tmpl"), "list", target]
    assert ctl_run(view(), sock, argv, capsys) == (0, PINNED_FIELDS[target], "")


def test_a_change_prints_nothing(
    sock: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "walk.tmpl").write_text(WALK)
    argv = ["-t", str(tmp_path / "walk.tmpl"), "disable", "/1/0/0"]
    assert ctl_run(view(), sock, argv, capsys) == (0, "", "")


def test_errors_as_poundctl_when_run_as_poundctl(sock: Path) -> None:
    from standby.control import ctl

    error = ctl.CtlError("no listener '9'", 404)
    assert ctl.describe_error(error, ctl.POUNDCTL) == "poundctl: Not Found"
    assert ctl.describe_error(error, ctl.PROG) == "standbyctl: no listener '9'"
    assert ctl.describe_error(ctl.CtlError("bad"), ctl.POUNDCTL) == "poundctl: bad"


def run(source: str, dot: Any, name: str = "t") -> str:
    return template.execute(template.parse(source, "t"), name, dot)


@pytest.mark.parametrize(
    ("source", "dot", "expected"),
    [
        ("a {{- .x -}} b", {"x": 1}, "a1b"),
        ("a  {{/* gone */}}  b", None, "a    b"),
        ("a \n{{- /* gone */ -}}\n b", None, "ab"),
        ("{{if eq .x 1}}one{{else if eq .x 2}}two{{else}}many{{end}}", {"x": 2}, "two"),
        ("{{if eq .x 1}}one{{else if eq .x 2}}two{{else}}many{{end}}", {"x": 7}, "many"),
        ("{{range .}}[{{.}}]{{else}}empty{{end}}", [1, 2], "[1][2]"),
        ("{{range .}}[{{.}}]{{else}}empty{{end}}", [], "empty"),
        ("{{range $k, $v = .}}{{$k}}={{$v}};{{end}}", {"b": 2, "a": 1}, "a=1;b=2;"),
        ("{{range $v := .}}{{$v}}{{end}}", ["x", "y"], "xy"),
        ("{{with .a}}{{.b}}{{else}}no{{end}}", {"a": {"b": "in"}}, "in"),
        ("{{with .a}}{{.b}}{{else}}no{{end}}", {"a": None}, "no"),
        ('{{printf "%3d|%-3s|%.1f" 7 "ab" 2.25}}', None, "  7|ab |2.2"),
        ('{{fdiv .t 1000 | printf "%.2f"}}', {"t": 1234}, "1.23"),
        ("{{len .x}} {{len .y}} {{len .z}}", {"x": None, "y": [1], "z": "abc"}, "0 1 3"),
        ('{{exists . "a"}} {{exists . "b"}}', {"a": None}, "true false"),
        ("{{and 1 0}} {{or 0 2}} {{not .x}}", {"x": ""}, "0 2 true"),
        ("{{gt 3 2}} {{le 3 2}} {{ne 1 1}}", None, "true false false"),
        ("{{add 1 2}} {{sub 5 7}} {{div 7 2}} {{mod 7 2}} {{mul 2 3}}", None, "3 -2 3 1 6"),
        ('{{index . "k"}}', {"k": "v"}, "v"),
        ('{{define "d"}}<{{.}}>{{end}}{{template "d" .x}}', {"x": 5}, "<5>"),
        ('{{block "b" .x}}[{{.}}]{{end}}{{block "b" .y}}', {"x": 1, "y": 2}, "[1][2]"),
        ("{{.a.b.c}}|{{.a.none.c}}", {"a": {"b": {"c": "deep"}}}, "deep|"),
        ("{{true}} {{false}} {{null}} {{1.5}}", None, "true false  1.5"),
        ('{{"q\\"uote"}}', None, 'q"uote'),
    ],
)
def test_the_language(source: str, dot: Any, expected: str) -> None:
    assert run(source, dot) == expected


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{if .x}}never closed", "missing {{end}}"),
        ("{{end}}", "unexpected 'end'"),
        ("{{frob 1}}", "'frob' is not a function"),
        ("{{$nope}}", "undefined variable $nope"),
        ('{{template "none"}}', "no template 'none'"),
        ("{{range 5}}{{end}}", "range over"),
        ('{{define "r"}}{{template "r"}}{{end}}{{template "r"}}', "nested deeper than"),
        ("{{div 1 0}}", "division by zero"),
        ('{{lt 1 "a"}}', "cannot compare"),
        ('{{printf "%d" "x"}}', "printf"),
    ],
)
def test_errors(source: str, message: str) -> None:
    with pytest.raises(template.TemplateError) as info:
        run(source, {})
    assert message in str(info.value)


def test_tmplrun_runs_the_top_level_text_on_each_value(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from standby.control import tmplrun

    path = tmp_path / "t.tmpl"
    path.write_text('{{define "x"}}<{{.}}>{{end -}}\nv={{template "x" .v}}\n')
    assert tmplrun.main([str(path), '{"v": 1}', '{"v": "two"}', "null"]) == 0
    assert capsys.readouterr() == ("v=<1>\nv=<two>\nv=<>\n", "")
    assert tmplrun.main([str(path), "{bad"]) == 1
    assert capsys.readouterr().err.startswith("tmplrun: ")
    assert tmplrun.main([str(tmp_path / "none.tmpl")]) == 1
    assert capsys.readouterr().err.endswith("No such file or directory\n")
