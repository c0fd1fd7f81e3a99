"""Which certificate answers which server name: properties of the pure part."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from standby.tls.names import NameIndex, choose, matches

LABEL = st.sampled_from(["a", "b", "www", "x-1", "example", "com", "org", "A", "WWW"])
NAME = st.lists(LABEL, min_size=1, max_size=4).map(".".join)
PATTERN = st.one_of(NAME, NAME.map(lambda n: "*." + n), st.just("*"), st.just("*.com"))


@given(st.lists(st.lists(PATTERN, max_size=3), min_size=1, max_size=5), st.none() | NAME)
def test_index_agrees_with_the_scan(names: list[list[str]], server_name: str | None) -> None:
    assert NameIndex(names).choose(server_name) == choose(names, server_name)


@given(NAME, NAME)
def test_wildcard_covers_exactly_one_label(label_part: str, base: str) -> None:
    pattern = "*." + base
    name = label_part + "." + base
    expected = "." not in label_part and base.count(".") >= 1
    assert matches(pattern, name) is expected


@given(NAME)
def test_exact_names_match_in_any_case_with_a_trailing_dot(name: str) -> None:
    assert matches(name.upper(), name.lower() + ".")
    assert not matches(name, "z" + name)


def test_the_first_match_answers_and_the_first_is_the_default() -> None:
    names = [["default.test"], ["*.example.com"], ["www.example.com"]]
    assert choose(names, "www.example.com") == 1  # Pound's rule: configuration order
    assert choose(names, "example.com") == 0
    assert choose(names, None) == 0
    assert not matches("*.com", "example.com")
    assert not matches("w*.example.com", "www.example.com")
