"""Request and response modification statements compiled (config/edits.py): what each
means, and each error at its ``FILE:LINE.COL``."""

from __future__ import annotations

import pytest

from standby import model
from standby.config import load_config_text
from standby.model import ConditionKind, EditSpec, RewriteSpec
from tests.config.test_errors import GOOD_TAIL, error_of, service

BACKEND = "    BackEnd\n      Address 127.0.0.1\n      Port 8081\n    End\n"


def compiled(body: str, listener: str = "", top: str = "") -> model.ConfigSpec:
    text = (
        f"{top}ListenHTTP\n  Address 127.0.0.1\n  Port 8080\n{listener}"
        f"  Service\n{body}{BACKEND}  End\nEnd\n"
    )
    return load_config_text(text, "t.cfg")


def test_the_seed_means_what_it_meant() -> None:
    spec = load_config_text(GOOD_TAIL, "t.cfg").listeners[0]
    assert spec.request_edits == () and spec.response_edits == ()
    assert spec.header_options == model.DEFAULT_HEADER_OPTIONS
    assert not spec.rewrite_destination and not spec.rewrite_errors
    svc = spec.services[0]
    assert svc.request_edits == () and svc.response_edits == () and svc.rewrite_errors is None


def test_pound2_spellings_mean_pound4_statements() -> None:
    config = compiled(
        "",
        '  AddHeader "X-A: 1"\n  HeaderAdd "X-B: 2"\n  HeadRemove "^X-C"\n'
        '  HeaderRemove -exact "X-D: 1"\n',
    )
    edits = config.listeners[0].request_edits
    assert [e.op for e in edits if isinstance(e, EditSpec)] == [
        model.EDIT_SET_HEADER,
        model.EDIT_SET_HEADER,
        model.EDIT_DELETE_HEADER,
        model.EDIT_DELETE_HEADER,
    ]
    third, fourth = edits[2], edits[3]
    assert isinstance(third, EditSpec) and third.matcher is not None
    assert third.matcher.ignore_case and third.matcher.mode == "re"  # HeadRemove: -icase
    assert isinstance(fourth, EditSpec) and fourth.matcher is not None
    assert fourth.matcher.mode == "exact" and fourth.matcher.ignore_case


def test_delete_header_is_case_sensitive_unless_icase_and_the_last_kind_wins() -> None:
    config = compiled('    DeleteHeader "^X"\n    DeleteHeader -beg -contain -icase "x"\n')
    first, second = config.listeners[0].services[0].request_edits
    assert isinstance(first, EditSpec) and first.matcher is not None
    assert not first.matcher.ignore_case
    assert isinstance(second, EditSpec) and second.matcher is not None
    assert second.matcher.mode == "contain" and second.matcher.ignore_case


def test_rewrite_blocks_branches_and_the_listener_keeps_its_services() -> None:
    listener = (
        '  Rewrite\n    Path "a"\n    SetPath "/b"\n  Else\n    Not Host "h"\n'
        '    DeleteQuery\n  Else\n    SetHeader "X-E: 1"\n  End\n'
        '  Rewrite response\n    Header "^Server:"\n    DeleteHeader "^Server:"\n  End\n'
    )
    config = compiled("", listener)
    spec = config.listeners[0]
    assert len(spec.services) == 1
    (block,) = spec.request_edits
    assert isinstance(block, RewriteSpec) and len(block.branches) == 3
    first, second, third = block.branches
    assert [c.kind for c in first.conditions] == [ConditionKind.PATH]
    assert second.conditions[0].kind is ConditionKind.HOST and second.conditions[0].negate
    assert third.conditions == () and len(third.edits) == 1
    (response,) = spec.response_edits
    assert isinstance(response, RewriteSpec)
    assert response.branches[0].conditions[0].kind is ConditionKind.HEADER


def test_header_option_words_left_to_right_and_the_global_default() -> None:
    forwarded, ssl = model.HEADER_FORWARDED, model.HEADER_SSL
    cases = {
        "none": 0,
        "no-forwarded": ssl,
        "none ssl": ssl,
        "all no-ssl": forwarded,
        "NO-SSL forwarded": forwarded,
    }
    for words, bits in cases.items():
        spec = compiled("", f"  HeaderOption {words}\n").listeners[0]
        assert spec.header_options == bits, words
    assert compiled("", top="HeaderOption none\n").listeners[0].header_options == 0
    both = compiled("", "  HeaderOption forwarded\n", "HeaderOption none\n").listeners[0]
    assert both.header_options == forwarded | ssl  # from the default, not the global


def test_rewrite_errors_and_destination() -> None:
    config = compiled("    RewriteErrors 0\n", "  RewriteErrors 1\n  RewriteDestination 1\n")
    spec = config.listeners[0]
    assert spec.rewrite_errors and spec.rewrite_destination
    assert spec.services[0].rewrite_errors is False


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('    DeleteHeader "a(b"\n', 't.cfg:5.18: bad regex "a(b": unmatched ('),
        ('    DeleteHeader -posix -case "[z-a]"\n', "t.cfg:5.31: bad regex"),
        ('    DeleteHeader -foo "x"\n', 't.cfg:5.18: unknown option "-foo"'),
        ('    DeleteHeader -perl "x(?<"\n', 't.cfg:5.24: bad regex "x(?<"'),
        ('    SetHeader "X-A"\n', 't.cfg:5.15: bad header line "X-A" for "SetHeader"'),
        ('    AddHeader "X A: 1"\n', 't.cfg:5.15: bad header line "X A: 1"'),
        ('    SetHeader "Transfer-Encoding: x"\n', 't.cfg:5.15: "SetHeader" cannot set'),
        ('    SetHeader "connection: close"\n', 't.cfg:5.15: "SetHeader" cannot set'),
        ('    SetHeader "Host: a b"\n', 't.cfg:5.15: bad host "a b" for "SetHeader"'),
        ('    SetHeader "X-A: %[bogus]"\n', "t.cfg:5.15: unknown request accessor %[bogus]"),
        ('    SetHeader "X-A: %[header]"\n', "t.cfg:5.15: %[header] needs a name"),
        ('    SetURL "x"\n', 't.cfg:5.12: bad URL "x" for "SetURL"'),
        ('    SetPath "/a" "/b"\n', 't.cfg:5.18: "SetPath" takes one value'),
        ('    SetQueryParam "a" "b" "c"\n', "t.cfg:5.27: too many arguments"),
        ("    Rewrite sideways\n    End\n", 't.cfg:5.13: bad what "sideways" for "Rewrite"'),
        (
            '    Rewrite response\n      URL "x"\n    End\n',
            't.cfg:6.7: a "Rewrite response" block tests',
        ),
        ("    Rewrite response\n      DeleteQuery\n    End\n", 't.cfg:6.7: "DeleteQuery" changes'),
        ("    Rewrite\n      Rewrite response\n      End\n    End\n", 't.cfg:6.7: a "Rewrite'),
        ("    Else\n", 't.cfg:5.5: "Else" is not allowed in Service'),
        ("    Rewrite\n", 't.cfg:6.5: "BackEnd" is not allowed in Rewrite'),
        ("    RewriteDestination 1\n", 't.cfg:5.5: "RewriteDestination" is not allowed in'),
        ("    HeaderOption none\n", 't.cfg:5.5: "HeaderOption" is not allowed in Service'),
    ],
)
def test_errors_are_located(body: str, message: str) -> None:
    assert error_of(service(body + BACKEND)).startswith(message)


def test_header_option_error() -> None:
    assert error_of("HeaderOption forwarded bogus\n" + GOOD_TAIL).startswith(
        't.cfg:1.24: unknown header option "bogus"'
    )


def test_combine_headers() -> None:
    top = 'CombineHeaders\n  "Accept"\n  "X-Multi"\n  "accept"\nEnd\n'
    assert compiled("", top=top).listeners[0].combine_headers == (b"accept", b"x-multi")
    assert error_of('CombineHeaders\n  "Content-Length"\nEnd\n' + GOOD_TAIL).startswith(
        't.cfg:2.3: "Content-Length" cannot be combined'
    )
    assert error_of('CombineHeaders\n  "A B"\nEnd\n' + GOOD_TAIL).startswith(
        't.cfg:2.3: bad header name "A B"'
    )


def test_a_template_that_can_never_expand_is_warned_of(caplog: pytest.LogCaptureFixture) -> None:
    # Pound takes these and answers every request they edit with a 500; standby does the
    # same, and says so when it loads them. A group that may not match is no fault here.
    compiled(
        '    SetHeader "X-Sale: 50% off"\n    SetPath "/a/${1"\n'
        '    SetHeader "X-Ok: 50$% $$5 %[path] $1 %41"\n'
    )
    warnings = [r.getMessage() for r in caplog.records if "answered 500" in r.getMessage()]
    assert warnings == [
        't.cfg:5.15: "SetHeader" "X-Sale: 50% off": unescaped % character at offset 11: every '
        "request it edits will be answered 500 (write $$ for a dollar sign, $% for a percent "
        "sign)",
        't.cfg:6.13: "SetPath" "/a/${1": missing closing brace in reference started at offset '
        "4: every request it edits will be answered 500",
    ]


def test_delete_header_pcre() -> None:
    (edit,) = (
        compiled('    DeleteHeader -pcre "^X-(?!Keep)"\n').listeners[0].services[0].request_edits
    )
    assert isinstance(edit, EditSpec) and edit.matcher is not None
    assert edit.matcher.mode == "pcre" and edit.matcher.regex is not None
    assert edit.matcher.regex.search(b"X-Drop: 1", False)
    assert not edit.matcher.regex.search(b"X-Keep: 1", False)
