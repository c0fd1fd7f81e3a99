"""The stub resolver: asks the configured name servers over UDP, again over TCP when an
answer comes truncated (RFC 7766), and follows CNAME records (``dns.chain``).

Each server is tried ``attempts`` times, each try within ``timeout`` seconds, in order;
a server that fails (no answer, SERVFAIL, REFUSED, a malformed answer) passes the
question to the next. NXDOMAIN and an answer without the records asked for are answers:
the name has no address now, which is not a failure of the resolver.
"""

from __future__ import annotations

import asyncio
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from standby.dns.chain import ChainError, allowed_aliases, follow
from standby.dns.resolvconf import ResolvConf
from standby.dns.wire import Answer, Rcode, Record, RType, Srv, WireError, decode_answer
from standby.dns.wire import encode_query as _encode_query

_TCP_LENGTH = struct.Struct("!H")
# A TCP answer is at most 65535 bytes (its 2-byte length): read no more than that.
MAX_TCP_ANSWER = 0xFFFF
# Datagrams that are not the answer (stray, late, spoofed) ignored per try, at most: more
# than that is a flood, and the try fails.
MAX_STRAY = 16


class DnsError(Exception):
    """The lookup failed: no server gave a usable answer (or the aliases were too many)."""


@dataclass(frozen=True, slots=True)
class Lookup:
    """An answer: the records asked for (empty: the name has none, or does not exist) and
    how long it may be kept (the smallest TTL on the way; None without records)."""

    records: tuple[Record, ...]
    ttl: int | None


class _Datagram(asyncio.DatagramProtocol):
    def __init__(self, ident: int, name: str, rtype: int) -> None:
        self.ident = ident
        self.name = name
        self.rtype = rtype
        self.answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self.stray = 0

    def datagram_received(self, data: bytes, addr: object) -> None:
        if self.answer.done():
            return
        try:
            self.answer.set_result(decode_answer(data, self.ident, self.name, self.rtype))
        except WireError as exc:
            self.stray += 1
            if self.stray > MAX_STRAY:
                self.answer.set_exception(DnsError(f"no usable answer: {exc}"))

    def error_received(self, exc: Exception) -> None:
        if not self.answer.done():
            self.answer.set_exception(DnsError(str(exc)))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.answer.done():
            self.answer.set_exception(DnsError("socket closed"))


class Resolver:
    """Queries ``conf``'s name servers; at most ``cname_chain`` aliases (`CNAMEChain`)."""

    def __init__(self, conf: ResolvConf, cname_chain: int = 0) -> None:
        self.conf = conf
        self.limit = allowed_aliases(cname_chain)

    async def lookup(self, name: str, rtype: int) -> Lookup:
        """``name``'s records of ``rtype``, aliases followed."""
        found: list[Record] = []
        ttl: int | None = None
        aliases = 0
        current = name
        while True:
            answer = await self.exchange(current, rtype)
            if answer.rcode == Rcode.NXDOMAIN:
                return Lookup((), None)
            try:
                followed = follow(answer.records, current, rtype, aliases, self.limit)
            except ChainError as exc:
                raise DnsError(str(exc)) from None
            if followed.ttl is not None:
                ttl = followed.ttl if ttl is None else min(ttl, followed.ttl)
            found.extend(followed.records)
            if followed.next_name is None:
                return Lookup(tuple(found), ttl if found else None)
            aliases = followed.aliases
            current = followed.next_name

    async def addresses(self, name: str, families: Sequence[int]) -> Lookup:
        """A and/or AAAA records of ``name`` (``families``: RType.A, RType.AAAA in the
        order wanted), together."""
        records: list[Record] = []
        ttls: list[int] = []
        for rtype in families:
            found = await self.lookup(name, rtype)
            records.extend(found.records)
            if found.ttl is not None:
                ttls.append(found.ttl)
        return Lookup(tuple(records), min(ttls) if ttls else None)

    async def srv(self, name: str) -> tuple[list[Srv], int | None]:
        found = await self.lookup(name, RType.SRV)
        return [r.data for r in found.records if isinstance(r.data, Srv)], found.ttl

    async def exchange(self, name: str, rtype: int) -> Answer:
        """One question to the servers in turn until one answers it."""
        failures: list[str] = []
        for host, port in self.conf.nameservers:
            for _ in range(self.conf.attempts):
                try:
                    answer = await self._ask(host, port, name, rtype)
                except (DnsError, OSError, TimeoutError, WireError) as exc:
                    failures.append(f"{host}:{port}: {exc or type(exc).__name__}")
                    continue
                if answer.rcode in (Rcode.NOERROR, Rcode.NXDOMAIN):
                    return answer
                failures.append(f"{host}:{port}: {_rcode_name(answer.rcode)}")
                break  # SERVFAIL, REFUSED...: this server will say the same again
        raise DnsError(f"{name}: " + ("; ".join(failures) or "no nameserver"))

    async def _ask(self, host: str, port: int, name: str, rtype: int) -> Answer:
        ident = secrets.randbelow(0x10000)
        query = _encode_query(ident, name, rtype)
        async with asyncio.timeout(self.conf.timeout):
            answer = await self._udp(host, port, ident, name, rtype, query)
            if answer.truncated:
                answer = await self._tcp(host, port, ident, name, rtype, query)
        return answer

    async def _udp(
        self, host: str, port: int, ident: int, name: str, rtype: int, query: bytes
    ) -> Answer:
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _Datagram(ident, name, rtype), remote_addr=(host, port)
        )
        try:
            transport.sendto(query)
            return await protocol.answer
        finally:
            transport.close()

    async def _tcp(
        self, host: str, port: int, ident: int, name: str, rtype: int, query: bytes
    ) -> Answer:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(_TCP_LENGTH.pack(len(query)) + query)
            await writer.drain()
            (length,) = _TCP_LENGTH.unpack(await reader.readexactly(_TCP_LENGTH.size))
            data = await reader.readexactly(min(length, MAX_TCP_ANSWER))
        except asyncio.IncompleteReadError:
            raise DnsError("TCP answer cut short") from None
        finally:
            writer.close()
        answer = decode_answer(data, ident, name, rtype)
        if answer.truncated:
            raise DnsError("truncated answer over TCP")
        return answer


def _rcode_name(rcode: int) -> str:
    try:
        return Rcode(rcode).name
    except ValueError:
        return f"rcode {rcode}"
