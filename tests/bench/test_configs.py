"""The generated configurations: accepted by their programs, and loopback only."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from standby_bench import configs
from standby_bench.certs import KEY_KINDS, write_certificates
from standby_bench.configs import TlsListen
from standby_bench.servers import TARGETS, TARGETS_BY_NAME, child_env

CHECK_TIMEOUT = 60.0  # s for a program to check a configuration file


def _tls(tmp_path: Path) -> list[TlsListen]:
    """The bench's certificates, made once per test directory, on ports 8443 and up."""
    certs = tmp_path / "certs"
    if not certs.exists():
        certs.mkdir()
        write_certificates(certs)
    return [TlsListen(8443 + i, certs / f"{kind}.pem") for i, kind in enumerate(KEY_KINDS)]


def _texts(tmp_path: Path) -> dict[str, str]:
    tls = _tls(tmp_path)
    return {
        "nginx-backend": configs.nginx_backend(tmp_path / "b", 8001),
        "nginx-w1": configs.nginx_proxy(tmp_path / "p1", 8002, 8001, 1),
        "nginx": configs.nginx_proxy(tmp_path / "p", 8003, 8001, None),
        "haproxy-t1": configs.haproxy(8004, 8001, 1),
        "haproxy": configs.haproxy(8005, 8001, None),
        "standby": configs.standby(8006, 8001, 0),
        "standby-log": configs.standby(8007, 8001, 1),
        "nginx-tls": configs.nginx_proxy(tmp_path / "pt", 8008, 8001, 1, tls),
        "haproxy-tls": configs.haproxy(8009, 8001, 1, tls),
        "standby-tls": configs.standby(8010, 8001, 0, tls),
    }


def test_tls_listeners_serve_each_certificate(tmp_path: Path) -> None:
    texts = _texts(tmp_path)
    for listen in _tls(tmp_path):
        assert f"ssl crt {listen.pem} " in texts["haproxy-tls"]
        assert f"ssl_certificate {listen.pem};" in texts["nginx-tls"]
        assert f'Cert "{listen.pem}"' in texts["standby-tls"]
    assert texts["standby-tls"].count("ListenHTTPS") == len(KEY_KINDS)
    assert "ssl" not in texts["haproxy"] and "ssl" not in texts["nginx"]


def test_every_address_is_loopback(tmp_path: Path) -> None:
    for name, text in _texts(tmp_path).items():
        assert set(re.findall(r"\d+\.\d+\.\d+\.\d+", text)) == {"127.0.0.1"}, name
        listens = re.findall(r"^\s*(?:listen|bind|Address)\s+(\S+?)[:;\s]", text, re.M)
        assert listens and set(listens) == {"127.0.0.1"}, name


def test_threads_and_workers_follow_the_spec(tmp_path: Path) -> None:
    texts = _texts(tmp_path)
    assert "nbthread 1" in texts["haproxy-t1"] and "nbthread" not in texts["haproxy"]
    assert "worker_processes 1;" in texts["nginx-w1"]
    assert "worker_processes auto;" in texts["nginx"]
    assert "LogLevel 0" in texts["standby"] and "LogLevel 1" in texts["standby-log"]
    assert "keepalive 64;" in texts["nginx"]  # upstream pool, like standby's


def test_target_table() -> None:
    assert len(TARGETS_BY_NAME) == len(TARGETS)
    logged = TARGETS_BY_NAME["standby-w1-log"]
    assert logged.runs_in("small-c50-ka") and not logged.runs_in("64k-c50-ka")
    assert TARGETS_BY_NAME["standby-w1"].runs_in("upload")


def _check(argv: list[str]) -> None:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=CHECK_TIMEOUT, env=child_env(), check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("nginx") is None, reason="nginx is not installed")
@pytest.mark.parametrize("name", ["nginx-backend", "nginx-w1", "nginx", "nginx-tls"])
def test_nginx_accepts_its_configurations(tmp_path: Path, name: str) -> None:
    prefix = (
        tmp_path / {"nginx-backend": "b", "nginx-w1": "p1", "nginx": "p", "nginx-tls": "pt"}[name]
    )
    prefix.mkdir()
    conf = prefix / "nginx.conf"
    conf.write_text(_texts(tmp_path)[name])
    _check(["nginx", "-t", "-q", "-p", str(prefix), "-e", "stderr", "-c", str(conf)])


@pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")
@pytest.mark.parametrize("name", ["haproxy-t1", "haproxy", "haproxy-tls"])
def test_haproxy_accepts_its_configurations(tmp_path: Path, name: str) -> None:
    conf = tmp_path / f"{name}.cfg"
    conf.write_text(_texts(tmp_path)[name])
    _check(["haproxy", "-c", "-q", "-f", str(conf)])


@pytest.mark.parametrize("name", ["standby", "standby-log", "standby-tls"])
def test_standby_accepts_its_configurations(tmp_path: Path, name: str) -> None:
    conf = tmp_path / f"{name}.cfg"
    conf.write_text(_texts(tmp_path)[name])
    _check([sys.executable, "-m", "standby", "-c", "-f", str(conf)])
