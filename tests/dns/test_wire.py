"""The wire format against dnslib's: answers dnslib builds are read back field by field,
byte by byte truncation is an error (or a truncated answer), never a wrong record."""

from __future__ import annotations

import ipaddress

import pytest
from dnslib import AAAA, CNAME, QTYPE, RR, SRV, A, DNSHeader, DNSQuestion, DNSRecord
from hypothesis import given, settings
from hypothesis import strategies as st

from standby.dns.wire import (
    FLAG_RD,
    Rcode,
    RType,
    Srv,
    WireError,
    decode_answer,
    encode_name,
    encode_query,
)

label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=20)
names = st.lists(label, min_size=1, max_size=5).map(".".join)
ttls = st.integers(0, (1 << 31) - 1)


def reply(qname: str, qtype: int, answers: list[RR], ident: int = 7) -> DNSRecord:
    record = DNSRecord(DNSHeader(id=ident, qr=1, ra=1), q=DNSQuestion(qname, qtype))
    for rr in answers:
        record.add_answer(rr)
    return record


@given(names, st.integers(0, 0xFFFF), st.sampled_from(list(RType)))
def test_query_is_what_dnslib_reads(name: str, ident: int, rtype: RType) -> None:
    parsed = DNSRecord.parse(encode_query(ident, name, rtype))
    assert parsed.header.id == ident
    assert parsed.header.rd == 1 and parsed.header.qr == 0
    assert str(parsed.q.qname).rstrip(".") == name
    assert parsed.q.qtype == rtype


@settings(max_examples=200)
@given(
    names,
    st.lists(st.tuples(st.integers(0, 0xFFFFFFFF), ttls), max_size=6),
    st.lists(st.tuples(st.integers(0, (1 << 128) - 1), ttls), max_size=6),
    st.lists(st.tuples(names, ttls), max_size=3),
)
def test_addresses_and_aliases_read_back(
    name: str,
    v4: list[tuple[int, int]],
    v6: list[tuple[int, int]],
    aliases: list[tuple[str, int]],
) -> None:
    answers = [RR(name, QTYPE.A, ttl=t, rdata=A(str(ipaddress.IPv4Address(a)))) for a, t in v4]
    answers += [
        RR(name, QTYPE.AAAA, ttl=t, rdata=AAAA(str(ipaddress.IPv6Address(a)))) for a, t in v6
    ]
    answers += [RR(name, QTYPE.CNAME, ttl=t, rdata=CNAME(target)) for target, t in aliases]
    data = reply(name, QTYPE.A, answers).pack()  # dnslib compresses repeated names
    answer = decode_answer(data, 7, name, RType.A)
    assert answer.rcode == Rcode.NOERROR and not answer.truncated
    expected = [(str(ipaddress.IPv4Address(a)), t) for a, t in v4]
    expected += [(str(ipaddress.IPv6Address(a)), t) for a, t in v6]
    expected += [(target, t) for target, t in aliases]
    assert [(r.data, r.ttl) for r in answer.records] == expected
    assert all(r.name == name for r in answer.records)


@given(names, st.lists(st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF),
                                 st.integers(1, 0xFFFF), names), max_size=5))  # fmt: skip
def test_srv_records_read_back(name: str, records: list[tuple[int, int, int, str]]) -> None:
    answers = [RR(name, QTYPE.SRV, ttl=60, rdata=SRV(p, w, port, t)) for p, w, port, t in records]
    answer = decode_answer(reply(name, QTYPE.SRV, answers).pack(), 7, name, RType.SRV)
    assert [r.data for r in answer.records] == [Srv(p, w, port, t) for p, w, port, t in records]


def test_cut_anywhere_is_an_error_never_a_wrong_answer() -> None:
    name = "www.example.org"
    answers = [RR(name, QTYPE.A, ttl=60, rdata=A(f"192.0.2.{i}")) for i in range(1, 4)]
    data = reply(name, QTYPE.A, answers).pack()
    for end in range(len(data)):
        with pytest.raises(WireError):
            decode_answer(data[:end], 7, name, RType.A)
    assert len(decode_answer(data, 7, name, RType.A).records) == 3


def test_truncated_flag_keeps_whole_records_only() -> None:
    name = "big.example.org"
    answers = [RR(name, QTYPE.A, ttl=60, rdata=A(f"192.0.2.{i}")) for i in range(1, 4)]
    record = reply(name, QTYPE.A, answers)
    record.header.tc = 1
    data = record.pack()
    cut = decode_answer(data[:-3], 7, name, RType.A)  # the last record cut
    assert cut.truncated and [r.data for r in cut.records] == ["192.0.2.1", "192.0.2.2"]


def test_an_answer_to_another_question_is_refused() -> None:
    data = reply("a.example.org", QTYPE.A, []).pack()
    with pytest.raises(WireError):
        decode_answer(data, 8, "a.example.org", RType.A)  # another id
    with pytest.raises(WireError):
        decode_answer(data, 7, "b.example.org", RType.A)  # another name
    with pytest.raises(WireError):
        decode_answer(data, 7, "a.example.org", RType.AAAA)  # another type
    query = encode_query(7, "a.example.org", RType.A)
    with pytest.raises(WireError):
        decode_answer(query, 7, "a.example.org", RType.A)  # a query, not an answer
    assert decode_answer(data, 7, "A.Example.ORG.", RType.A).records == ()


def test_compression_loop_is_an_error() -> None:
    header = bytes.fromhex("0007 8180 0001 0001 0000 0000".replace(" ", ""))
    question = encode_name("a.example") + bytes.fromhex("00010001")
    looping = bytes([0xC0, len(header) + len(question)])  # a pointer to itself
    record = looping + bytes.fromhex("0001 0001 0000003c 0004 c0000201".replace(" ", ""))
    with pytest.raises(WireError):
        decode_answer(header + question + record, 7, "a.example", RType.A)


@pytest.mark.parametrize(
    "bad", ["", "a..b", "x" * 64 + ".org", ".".join(["abcdefgh"] * 30), "é.org"]
)
def test_bad_names_are_not_sent(bad: str) -> None:
    if bad == "":
        assert encode_name(bad) == b"\x00"  # the root
        return
    with pytest.raises(WireError):
        encode_query(1, bad, RType.A)


def test_query_flags() -> None:
    data = encode_query(0x1234, "example.org", RType.SRV)
    assert data[:2] == b"\x12\x34" and int.from_bytes(data[2:4], "big") == FLAG_RD
