"""The client seam: what an exchange may ask of the client connection it serves.

An exchange (server/exchange.py) and the fast lane (server/lane.py) see their client only as
a `ClientSide`: send bytes, finish, pause and resume reading, abort, refuse with a status,
keep alive or not, its deadline, the listener and shared runtime it belongs to, what it
forwards about its peer, and the access log. `ClientProtocol` (server/client.py) implements
it for an HTTP/1 connection, plain or TLS alike (the transport differs, not the seam); an
HTTP/2 stream would implement it too, each stream one `ClientSide` for the exchange it runs.
Imports run one way: client -> exchange, lane -> seam; this module imports none of them.

A native base class rather than a `typing.Protocol`: compiled by mypyc (compiled.py), an
attribute of a native class is a struct field and a method a vtable call, where anything
reached through a Protocol is a generic (dictionary) lookup. Its methods that a connection
implements are abstract: mypy checks that a connection implements the whole seam.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from typing import TYPE_CHECKING, Final

from standby.http1 import Forwarding
from standby.observe.access import AccessRecord, suppressed

if TYPE_CHECKING:
    from standby.model import BackendSpec, ServiceSpec
    from standby.observe.access import RequestView
    from standby.server.shared import ListenerRuntime, Shared

# Reasons to stop reading from the client (a bit set: reading resumes when all clear).
PAUSE_PIPELINE: Final = 1  # bytes of a next request wait behind the current exchange
PAUSE_CONNECT: Final = 2  # no upstream yet to take the request body
PAUSE_UPSTREAM: Final = 4  # the upstream's write buffer is full

# What a connection forwards before connection_made tells its peer (never sent).
_NOT_CONNECTED: Final = Forwarding(b"-", b"http", b"-")


class ClientSide:
    """The connection an exchange serves. The attributes are the exchange's to read; those
    it may set are ``deadline`` and ``keep_alive``. The abstract methods are the
    connection's to implement."""

    __slots__ = (
        "client_cert",
        "closed",
        "deadline",
        "forwarding",
        "keep_alive",
        "listener",
        "loop",
        "paused",
        "peer",
        "shared",
        "write_paused",
    )

    def __init__(self, shared: Shared, listener: ListenerRuntime) -> None:
        self.shared = shared  # this connection's generation (a reload moves it between exchanges)
        self.loop = shared.loop
        self.listener = listener
        self.peer = "-"  # the client's address, as logged
        self.client_cert: bytes | None = None  # its TLS certificate (DER), where asked for
        self.forwarding = _NOT_CONNECTED  # what the forwarded headers say about it
        self.deadline = 0.0  # loop time when on_deadline fires (server/timers.py)
        self.keep_alive = True  # whether the connection outlives the current answer
        self.paused = 0  # PAUSE_* reasons reading is paused for
        self.write_paused = False  # the client does not take more: stop reading the upstream
        self.closed = False

    # -- output ---------------------------------------------------------------------------

    @abstractmethod
    def transport_write(self, data: bytes) -> None:
        """Send response bytes (nothing once closed)."""
        raise NotImplementedError

    @abstractmethod
    def transport_writelines(self, first: bytes, second: bytes) -> None:
        """Send two buffers as one write (a head and its body)."""
        raise NotImplementedError

    # -- the exchange's end ---------------------------------------------------------------

    @abstractmethod
    def exchange_done(self, exchange: object) -> None:
        """``exchange`` (if still the current one) sent its whole response: log it, then
        close or wait for the next request."""
        raise NotImplementedError

    @abstractmethod
    def after_request(self, req_done: bool) -> None:
        """The current request is over and logged (``req_done``: it was read whole): close,
        linger, or wait for the next request."""
        raise NotImplementedError

    @abstractmethod
    def adopt(self, exchange: object) -> None:
        """The fast lane hands its request over to ``exchange`` (an Exchange)."""
        raise NotImplementedError

    @abstractmethod
    def enter_tunnel(self) -> None:
        """101 Switching Protocols went out: client bytes go to the exchange unparsed."""
        raise NotImplementedError

    @abstractmethod
    def reject(
        self, status: int, reason: str, request: RequestView | None, *, logged: bool = True
    ) -> None:
        """An error response for a request that will not be handled; then close."""
        raise NotImplementedError

    @abstractmethod
    def abort(self) -> None:
        """Break the connection (a truncated response must not look complete)."""
        raise NotImplementedError

    # -- reading --------------------------------------------------------------------------

    @abstractmethod
    def hold_pipelined(self, data: bytes) -> None:
        """Bytes of a next request, kept until the current exchange is done."""
        raise NotImplementedError

    @abstractmethod
    def pause_reading_for(self, reason: int) -> None:
        raise NotImplementedError

    @abstractmethod
    def resume_reading_for(self, reason: int) -> None:
        raise NotImplementedError

    @property
    def upstream_full(self) -> bool:
        """Reading is paused because the upstream does not take more."""
        return bool(self.paused & PAUSE_UPSTREAM)

    # -- access log -----------------------------------------------------------------------

    def log_exchange(
        self,
        request: RequestView,
        service: ServiceSpec | None,
        backend: BackendSpec | None,
        status: int,
        response: bytes,
        bytes_out: int,
        started: float,
    ) -> None:
        """The access line of one exchange (``response``: starts with the status line
        sent; ``started``: the loop's time it began)."""
        access = self.shared.access_log
        if access is None:
            return
        spec = self.listener.spec
        form = access.form if spec.log_format is None else access.form_for(spec)
        if form is None or (
            service is not None and service.log_suppress and suppressed(service, status)
        ):
            return
        if form.regular:  # Pound's default: no record, no clock readings
            access.log_regular(self.peer, request, status, response, spec)
            return
        duration = self.loop.time() - started
        # Positional, in field order: a dataclass built with keywords costs twice as much.
        access.write(
            form,
            AccessRecord(
                self.peer,  # peer
                spec,  # listener
                service,  # service
                backend,  # backend
                request,  # request
                status,  # status
                bytes_out,  # bytes_out
                time.time() - duration,  # started
                duration,  # duration
                response,  # response
            ),
        )
