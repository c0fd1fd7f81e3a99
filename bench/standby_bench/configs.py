"""Configuration texts for the backend and every target (pure: ports and paths in, text out).

All of them listen on 127.0.0.1 only, keep client connections alive for IDLE_KEEPALIVE
seconds (so the idle-connections scenario measures memory, not timeouts), add
X-Forwarded-For like standby does, and keep upstream connections alive (a pool).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from standby_bench.net import HOST

SMALL_PAGE = (
    "Hello from the bench backend: a small page of about one hundred bytes, "
    "like a tiny static file.\n"
)
SMALL_PATH = "/"
PAGE_64K_PATH = "/64k"
PAGE_64K_SIZE = 64 * 1024
BIG_PATH = "/big"  # the download file, as large as the transfer size
UPLOAD_PATH = "/upload"
IDLE_KEEPALIVE = 300  # s every server keeps an idle client connection: longer than any run
MAX_CONNECTIONS = 30_000  # per server: room for 10,000 idle connections and the load
UPSTREAM_KEEPALIVE = 64  # nginx-as-proxy idle upstream connections per worker (a pool)
STANDBY_GRACE = 2  # s standby waits for in-flight requests when stopped: keeps exits quick
# TLS, the same for every target: TLS 1.2 and 1.3 (what standby allows by default), session
# tickets on (each program's default) and a server-side session cache for TLS 1.2 IDs.
TLS_SESSION_CACHE_MIB = 10  # nginx's shared cache (HAProxy's default holds 20,000 sessions)
TLS_SESSION_TIMEOUT = 3600  # s a session may be resumed: longer than any run


@dataclass(frozen=True, slots=True)
class TlsListen:
    """One TLS listener of a target: its port and the PEM file (key and certificate)."""

    port: int
    pem: Path


def _nginx_common(prefix: Path, workers: int | None) -> str:
    temp = "\n".join(
        f"  {kind}_temp_path {prefix}/{kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""daemon off;
master_process on;
worker_processes {workers or "auto"};
pid {prefix}/nginx.pid;
error_log stderr error;
events {{ worker_connections {MAX_CONNECTIONS}; }}
http {{
  access_log off;
  log_not_found off;
{temp}
  keepalive_requests 1000000;
  keepalive_timeout {IDLE_KEEPALIVE}s;
  client_max_body_size 0;
"""


def nginx_backend(prefix: Path, port: int) -> str:
    """nginx serving the pages from ``prefix``/www; POST /upload reads the whole body (the
    mirror module makes nginx read it before the content phase), then answers 200."""
    return (
        _nginx_common(prefix, 1)
        + f"""  sendfile on;
  open_file_cache max=16;
  default_type application/octet-stream;
  server {{
    listen {HOST}:{port};
    root {prefix}/www;
    location = {SMALL_PATH} {{ default_type text/plain; return 200 "{SMALL_PAGE.strip()}\\n"; }}
    location = {UPLOAD_PATH} {{
      mirror /sink;
      mirror_request_body on;
      error_page 404 405 =200 /uploaded;
    }}
    location = /sink {{ internal; return 204; }}
    location = /uploaded {{ internal; default_type text/plain; return 200 "uploaded\\n"; }}
  }}
}}
"""
    )


_NGINX_PROXY_LOCATION = """    location / {{
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;{extra}
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
    }}"""


def nginx_proxy(
    prefix: Path,
    port: int,
    backend_port: int,
    workers: int | None,
    tls: Sequence[TlsListen] = (),
) -> str:
    """nginx as a reverse proxy: upstream keep-alive, request bodies streamed (not spooled),
    responses never spooled to disk. Each ``tls`` listener is a server of its own that also
    sends X-Forwarded-Proto (as standby and Pound do on HTTPS listeners)."""
    servers = [
        f"  server {{\n    listen {HOST}:{port};\n{_NGINX_PROXY_LOCATION.format(extra='')}\n  }}"
    ]
    for listen in tls:
        forwarded = "\n      proxy_set_header X-Forwarded-Proto https;"
        servers.append(
            f"""  server {{
    listen {HOST}:{listen.port} ssl;
    ssl_certificate {listen.pem};
    ssl_certificate_key {listen.pem};
{_NGINX_PROXY_LOCATION.format(extra=forwarded)}
  }}"""
        )
    tls_common = (
        f"""  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:{TLS_SESSION_CACHE_MIB}m;
  ssl_session_timeout {TLS_SESSION_TIMEOUT}s;
"""
        if tls
        else ""
    )
    return (
        _nginx_common(prefix, workers)
        + tls_common
        + f"""  upstream backend {{
    server {HOST}:{backend_port};
    keepalive {UPSTREAM_KEEPALIVE};
    keepalive_requests 1000000;
  }}
"""
        + "\n".join(servers)
        + "\n}\n"
    )


def haproxy(
    port: int, backend_port: int, threads: int | None, tls: Sequence[TlsListen] = ()
) -> str:
    """HAProxy in HTTP mode, server-side keep-alive (its default ``http-reuse safe``); the
    ``tls`` listeners are more binds of the same frontend (X-Forwarded-Proto on them)."""
    global_lines = f"  nbthread {threads}\n" if threads else ""
    binds = "".join(
        f"  bind {HOST}:{listen.port} ssl crt {listen.pem} alpn http/1.1\n" for listen in tls
    )
    if tls:
        binds += "  http-request set-header X-Forwarded-Proto https if { ssl_fc }\n"
        global_lines += "  ssl-default-bind-options ssl-min-ver TLSv1.2\n"
        global_lines += f"  tune.ssl.lifetime {TLS_SESSION_TIMEOUT}\n"
    return f"""global
  maxconn {MAX_CONNECTIONS}
  # It wants 2 descriptors per maxconn; the bench's idle clients need far fewer, so a
  # lower open-file limit (containers) is a warning, not a refusal to start.
  no strict-limits
{global_lines}
defaults
  mode http
  option forwardfor
  timeout connect 5s
  timeout client {IDLE_KEEPALIVE}s
  timeout server {IDLE_KEEPALIVE}s
  timeout http-keep-alive {IDLE_KEEPALIVE}s

frontend bench
  bind {HOST}:{port}
{binds}  default_backend origin

backend origin
  server origin {HOST}:{backend_port}
"""


def _standby_listener(head: str, port: int, backend_port: int, extra: str = "") -> str:
    return f"""{head}
  Address {HOST}
  Port {port}
{extra}  Service
    BackEnd
      Address {HOST}
      Port {backend_port}
    End
  End
End
"""


# Issue 15 point 5 (target seed-edits): the header edits a Pound 2 site typically has, two
# AddHeader and two HeadRemove, which must keep the fast lane (>= 0.9x the req/s without).
SEED_EDITS = """  AddHeader "X-Forwarded-Host: bench.example"
  AddHeader "X-Proxy: standby"
  HeadRemove "^X-Debug:"
  HeadRemove "^Proxy-Authorization:"
"""


def standby(
    port: int,
    backend_port: int,
    log_level: int,
    tls: Sequence[TlsListen] = (),
    extra: str = "",
) -> str:
    """standby in the foreground; the access log (LogLevel >= 1) goes to stderr with -e.
    Each ``tls`` listener is a ``ListenHTTPS`` with Pound's ``Cert`` and standby's defaults.
    ``extra``: more lines for the plain listener (SEED_EDITS)."""
    text = f"""Daemon 0
LogLevel {log_level}
LogFacility -
Client {IDLE_KEEPALIVE}
Grace {STANDBY_GRACE}
""" + _standby_listener("ListenHTTP", port, backend_port, extra)
    for listen in tls:
        cert = f'  Cert "{listen.pem}"\n'
        text += _standby_listener("ListenHTTPS", listen.port, backend_port, cert)
    return text
