"""Two standby proxies and keepalived in network namespaces: the HA pair of docs/ha.md.

``Pair`` builds, with names it makes unique (``sbha-<pid>-<role>``), the namespaces

    client          192.0.2.1      the load generator (tests/ha/peers.py)
    proxy-a (pa)    192.0.2.11     standby + keepalived; eth1 198.51.100.1 (VRRP link)
    proxy-b (pb)    192.0.2.12     standby + keepalived; eth1 198.51.100.2
    backend (bp)    192.0.2.21     primary1 :8080 and primary2 :8081
    emergency (be)  192.0.2.22     the Emergency backend :8080
    bridge (br)     br0 (eth0 of all the others), br1 (eth1 of the proxies)

and the floating address 192.0.2.100 that keepalived moves. The addresses are TEST-NET
ones and exist only inside these namespaces; nothing is added to the root namespace. Every
namespace (and with it every veth) is deleted when the pair closes, and ``remove_leftovers``
deletes those of an earlier run whose process is gone.

``run_scenarios`` measures, under steady load from the client, what happens when the active
proxy loses its standby (SIGKILL), its keepalived (SIGKILL) or its link, a planned
switchover there and back, and a split brain healed. ``python -m tests.ha.pair`` runs them
and prints the figures (``make ha-demo``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
KEEPALIVED_CONF = REPO / "contrib" / "keepalived" / "keepalived.conf"
PREFIX = "sbha-"
VIP = "192.0.2.100"
LAN = {"client": "192.0.2.1", "pa": "192.0.2.11", "pb": "192.0.2.12"}
LAN |= {"bp": "192.0.2.21", "be": "192.0.2.22"}
SYNC = {"pa": "198.51.100.1", "pb": "198.51.100.2"}
PORT = 80
# ARP only for addresses on the interface asked (not the one on lo), and announce from the
# interface's own address: docs/ha.md, "Keeping connections through a handover".
HOLD_SYSCTLS = {"net.ipv4.conf.all.arp_ignore": "1", "net.ipv4.conf.all.arp_announce": "2"}
BACKEND_PORTS = {"primary1": ("bp", 8080), "primary2": ("bp", 8081), "emergency": ("be", 8080)}
STEP_DEADLINE = 30.0  # any one wait (a daemon up, an address moved); generous: noisy cores
POLL = 0.05  # between looks at a condition
LOAD_RATE = 20.0  # requests a second per client loop
LOAD_LOOPS = 4  # client loops (each its own keep-alive connection)
LOAD_MAX_SECONDS = 120.0  # the load generator stops by itself after this
WARMUP_REQUESTS = 40  # successes before an event: the load is steady
SETTLE_REQUESTS = 60  # successes through the new owner after an event: it is over
RECOVERY_WINDOW = 15.0  # after an event, the new owner must answer within this (else a fault)


# iproute2's ip and keepalived live in sbin, which a non-login PATH may lack.
TOOL_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])


def tool(name: str) -> str:
    return shutil.which(name, path=TOOL_PATH) or name


def run(*args: str, check: bool = True, timeout: float = STEP_DEADLINE) -> str:
    args = (tool(args[0]), *args[1:])
    done = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {done.returncode} {done.stderr.strip()}")
    return done.stdout


def wait(condition: Callable[[], bool], what: str, deadline: float = STEP_DEADLINE) -> float:
    """Wait for ``condition``; the seconds it took."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"timed out after {deadline:g} s waiting for {what}")
        time.sleep(POLL)  # polling interval of a condition wait, not a synchronisation
    return time.monotonic() - start


def namespaces() -> list[str]:
    return [line.split()[0] for line in run("ip", "netns", "list").splitlines() if line.strip()]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_namespace(name: str) -> None:
    """Kill what runs in the namespace (processes this test started there) and delete it."""
    for _ in range(3):  # a process may fork while we kill: a bounded few passes
        pids = [int(p) for p in run("ip", "netns", "pids", name, check=False).split()]
        if not pids:
            break
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(AssertionError):
            wait(lambda: not run("ip", "netns", "pids", name, check=False).split(), "exit", 5)
    run("ip", "netns", "del", name, check=False)


def remove_leftovers() -> list[str]:
    """Namespaces of an earlier run that crashed (its pid is gone): deleted."""
    removed = []
    for name in namespaces():
        if not name.startswith(PREFIX):
            continue
        owner = name[len(PREFIX) :].split("-", 1)[0]
        if owner.isdigit() and int(owner) != os.getpid() and alive(int(owner)):
            continue  # another run, alive: its own
        remove_namespace(name)
        removed.append(name)
    return removed


def can_make_namespaces() -> str | None:
    """None when this process can create network namespaces, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for name in ("ip", "keepalived"):
        if shutil.which(name, path=TOOL_PATH) is None:
            return f"{name} is not installed (Debian: apt-get install iproute2 keepalived)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    try:
        run("ip", "netns", "add", probe)
        run("ip", "-n", probe, "link", "set", "lo", "up")
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot create a network namespace: {exc}"
    finally:
        run("ip", "netns", "del", probe, check=False)
    return None


def node_keepalived_conf(text: str, node: str, standbyctl: str, sock: str, flag: str) -> str:
    """contrib/keepalived/keepalived.conf for proxy ``node`` ("a" or "b"): the lines marked
    ``B:`` changed for B, the paths of this run substituted."""
    text = text.replace("/usr/bin/standbyctl", standbyctl)
    text = text.replace("/run/standby/control.sock", sock).replace("/run/standby/maintenance", flag)
    if node == "b":
        out = []
        for line in text.splitlines():
            if "# B: " in line:
                head, _, comment = line.partition("# B: ")
                key = head.split()[0] if head.split() else ""
                value = comment.split()[0]
                indent = head[: len(head) - len(head.lstrip())]
                line = f"{indent}{value}" if key in SYNC.values() else f"{indent}{key} {value}"
            out.append(line)
        text = "\n".join(out) + "\n"
    return text


def standby_conf(node_dir: Path) -> str:
    backends = "".join(
        f"        BackEnd\n            Address {LAN[ns]}\n            Port {port}\n        End\n"
        for name, (ns, port) in BACKEND_PORTS.items()
        if name != "emergency"
    )
    ns, port = BACKEND_PORTS["emergency"]
    return (
        "# The pair's pound.cfg: the same file on both proxies (standbyctl fingerprint).\n"
        "LogFacility -\nLogLevel 0\nAlive 1\nGrace 5\n"
        f'Control "{node_dir / "control.sock"}"\n'
        f"ListenHTTP\n    Address 0.0.0.0\n    Port {PORT}\n"
        "    Service\n"
        '        Session\n            Type HEADER\n            ID "X-Session"\n'
        "            TTL 300\n        End\n"
        "        HealthCheck\n            Interval 1\n        End\n"
        f"{backends}"
        f"        Emergency\n            Address {LAN[ns]}\n            Port {port}\n        End\n"
        "    End\nEnd\n"
    )


@dataclass
class Daemon:
    proc: subprocess.Popen[bytes]
    log: Path

    def text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Node:
    """One proxy: its namespace, files and daemons."""

    name: str  # "a" or "b"
    ns: str
    directory: Path
    standby: Daemon | None = None
    keepalived: Daemon | None = None
    workers: set[int] = field(default_factory=set)

    @property
    def sock(self) -> str:
        return str(self.directory / "control.sock")

    @property
    def flag(self) -> Path:
        return self.directory / "maintenance"


class Pair:
    """The namespaces, backends, two proxies and their keepalived (a context manager)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.tag = f"{PREFIX}{os.getpid()}"
        self.ns = {role: f"{self.tag}-{role}" for role in ("br", "client", "pa", "pb", "bp", "be")}
        self.nodes = {n: Node(n, self.ns[f"p{n}"], work / f"proxy-{n}") for n in ("a", "b")}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.bin = Path(sys.executable).parent

    # -- the network --------------------------------------------------------------------

    def build(self) -> None:
        remove_leftovers()
        for name in self.ns.values():
            run("ip", "netns", "add", name)
            run("ip", "-n", name, "link", "set", "lo", "up")
        br = self.ns["br"]
        for bridge in ("br0", "br1"):
            run("ip", "-n", br, "link", "add", bridge, "type", "bridge")
            run("ip", "-n", br, "link", "set", bridge, "up")
        for role in ("client", "pa", "pb", "bp", "be"):
            self._wire(role, "eth0", f"{role[:2]}0", "br0", LAN[role])
        for role in ("pa", "pb"):
            self._wire(role, "eth1", f"{role}1", "br1", SYNC[role])
            self.hold_address(self.ns[role])

    @staticmethod
    def hold_address(ns: str) -> None:
        """docs/ha.md's proxy setup: the floating address also on ``lo`` (/32), answered
        for in ARP only where keepalived put it (``arp_ignore``): a proxy that gives the
        address away still answers what clients send it until they follow the new owner's
        gratuitous ARP, instead of dropping it (a request in flight would time out)."""
        run("ip", "-n", ns, "addr", "add", f"{VIP}/32", "dev", "lo")
        for key, value in HOLD_SYSCTLS.items():  # this namespace's /proc/sys/net
            path = "/proc/sys/" + key.replace(".", "/")
            run("ip", "netns", "exec", ns, "sh", "-c", f"echo {value} > {path}")

    def _wire(self, role: str, inner: str, outer: str, bridge: str, address: str) -> None:
        br, ns = self.ns["br"], self.ns[role]
        run(
            "ip", "-n", br, "link", "add", outer, "type", "veth", "peer", "name", inner, "netns", ns
        )
        run("ip", "-n", br, "link", "set", outer, "master", bridge, "up")
        run("ip", "-n", ns, "addr", "add", f"{address}/24", "dev", inner)
        run("ip", "-n", ns, "link", "set", inner, "up")

    def outer(self, node: str, link: str = "0") -> str:
        """The bridge side of a proxy's eth0 ("0") or eth1 ("1")."""
        return f"p{node}{link}"

    def owners(self) -> list[str]:
        """The proxies that hold the floating address now."""
        return [
            n
            for n, node in self.nodes.items()
            if f" {VIP}/" in run("ip", "-n", node.ns, "-4", "addr", "show", "dev", "eth0")
        ]

    # -- processes ----------------------------------------------------------------------

    def spawn(self, ns: str, args: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(
                [tool("ip"), "netns", "exec", ns, *args],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=str(REPO),
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def start_backends(self) -> None:
        for name, (ns, port) in BACKEND_PORTS.items():
            self.spawn(
                self.ns[ns],
                [sys.executable, "-m", "tests.ha.peers", "backend", name, LAN[ns], str(port)],
                self.work / f"backend-{name}.log",
            )
        for name, (ns, port) in BACKEND_PORTS.items():
            wait(
                lambda ns=ns, port=port: (
                    f":{port} " in run("ip", "netns", "exec", self.ns[ns], "ss", "-Hltn")
                ),
                f"backend {name} listening",
            )

    def start_standby(self, n: str) -> None:
        node = self.nodes[n]
        node.directory.mkdir(parents=True, exist_ok=True)
        config = node.directory / "pound.cfg"
        config.write_text(standby_conf(node.directory))
        log = node.directory / "standby.log"
        proc = self.spawn(node.ns, [str(self.bin / "standby"), "-F", "-f", str(config)], log)
        node.standby = Daemon(proc, log)
        wait(lambda: self.check(n), f"standby {n} serving (standbyctl check)")
        node.workers = children(proc.pid)

    def check(self, n: str) -> bool:
        node = self.nodes[n]
        command = [str(self.bin / "standbyctl"), "-s", node.sock, "check"]
        done = subprocess.run(
            [tool("ip"), "netns", "exec", node.ns, *command],
            capture_output=True,
            timeout=STEP_DEADLINE,
            check=False,
        )
        return done.returncode == 0

    def start_keepalived(self, n: str) -> None:
        node = self.nodes[n]
        conf = node.directory / "keepalived.conf"
        text = node_keepalived_conf(
            KEEPALIVED_CONF.read_text(), n, str(self.bin / "standbyctl"), node.sock, str(node.flag)
        )
        conf.write_text(text)
        log = node.directory / "keepalived.log"
        args = [tool("keepalived"), "--dont-fork", "--log-console", "--vrrp", "-f", str(conf)]
        args += ["-p", str(node.directory / "keepalived.pid")]
        args += ["-r", str(node.directory / "vrrp.pid")]
        node.keepalived = Daemon(self.spawn(node.ns, args, log), log)

    def keepalived_state(self, n: str) -> str:
        """The last state keepalived logged for the instance (MASTER, BACKUP, FAULT)."""
        daemon = self.nodes[n].keepalived
        state = ""
        for line in (daemon.text() if daemon else "").splitlines():
            if "Entering " in line and " STATE" in line:
                state = line.split("Entering ", 1)[1].split()[0]
        return state

    def start(self) -> None:
        self.build()
        self.start_backends()
        for n in self.nodes:
            self.start_standby(n)
        self.start_keepalived("a")
        wait(lambda: self.owners() == ["a"], "proxy a to own the floating address")
        self.start_keepalived("b")
        wait(lambda: self.keepalived_state("b") == "BACKUP", "proxy b to be the backup")
        wait(lambda: self.fetch()[0][1] != "", "the floating address to answer")

    def fetch(self, *sessions: str) -> list[tuple[str, str]]:
        """Requests from the client to the floating address, one per session key (or one
        without): (key, backend that answered, or "" on a failure)."""
        args = [sys.executable, "-m", "tests.ha.peers", "get", f"{VIP}:{PORT}", *sessions]
        done = subprocess.run(
            [tool("ip"), "netns", "exec", self.ns["client"], *args],
            capture_output=True,
            text=True,
            cwd=str(REPO),
            timeout=STEP_DEADLINE * 2,
            check=False,
        )
        out = []
        for line in done.stdout.splitlines():
            key, status, *rest = line.split()
            out.append((key, rest[0] if status == "200" and rest else ""))
        return out

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for name in self.ns.values():
            remove_namespace(name)
        for proc in self.procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)

    def __enter__(self) -> Pair:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the load -----------------------------------------------------------------------

    @contextlib.contextmanager
    def load(self, name: str) -> Iterator[Load]:
        out = self.work / f"load-{name}.jsonl"
        proc = self.spawn(
            self.ns["client"],
            [
                sys.executable,
                "-m",
                "tests.ha.peers",
                "load",
                f"{VIP}:{PORT}",
                str(out),
                "--rate",
                str(LOAD_RATE),
                "--loops",
                str(LOAD_LOOPS),
                "--seconds",
                str(LOAD_MAX_SECONDS),
            ],
            self.work / f"load-{name}.log",
        )
        load = Load(out)
        try:
            wait(lambda: load.successes_after(0.0) >= WARMUP_REQUESTS, "a steady load")
            yield load
        finally:
            Path(str(out) + ".stop").touch()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(STEP_DEADLINE)
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)


def children(pid: int) -> set[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as src:
            return {int(p) for p in src.read().split()}
    except OSError:
        return set()


class Load:
    """The load generator's records, read as they come."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
        return out

    def successes_after(self, moment: float, proxy: str | None = None) -> int:
        return sum(
            1
            for r in self.records()
            if r["ok"] and r["start"] >= moment and (proxy is None or r["proxy"] == proxy)
        )


def figures(records: list[dict[str, Any]], event: float, new_proxy: str) -> dict[str, Any]:
    """What the load saw around ``event``: time until the new owner answered, failures
    (and how many were on connections opened before the event), the longest gap."""
    after = [r for r in records if r["end"] >= event]
    served = [r["end"] for r in after if r["ok"] and r["proxy"] == new_proxy]
    failed = [r for r in records if not r["ok"]]
    ends = sorted(r["end"] for r in records if r["ok"])
    gaps = [b - a for a, b in itertools.pairwise(ends) if b >= event]
    return {
        "recovery s": round(min(served) - event, 3) if served else None,
        "requests": len(records),
        "failed": len(failed),
        "failed on connections opened before": sum(1 for r in failed if r["opened"] < event),
        "longest gap s": round(max(gaps), 3) if gaps else None,
        "errors": sorted({str(r.get("error", r.get("status"))) for r in failed}),
    }


ADDRESS_OF = {"a": LAN["pa"], "b": LAN["pb"]}


def settle(pair: Pair, load: Load, moment: float, n: str) -> None:
    wait(
        lambda: load.successes_after(moment, ADDRESS_OF[n]) >= SETTLE_REQUESTS,
        f"traffic through proxy {n}",
        RECOVERY_WINDOW + STEP_DEADLINE,
    )


def other(n: str) -> str:
    return "b" if n == "a" else "a"


def active(pair: Pair) -> str:
    owners = pair.owners()
    assert len(owners) == 1, f"owners of {VIP}: {owners}"
    return owners[0]


def restore_standby(pair: Pair, n: str) -> None:
    node = pair.nodes[n]
    if node.standby is not None:
        node.standby.proc.wait(STEP_DEADLINE)
    for pid in node.workers:  # a worker of the killed supervisor: gone, or made so
        with contextlib.suppress(AssertionError):
            wait(lambda pid=pid: not alive(pid), "an orphaned worker to exit", 10)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    pair.start_standby(n)


def ready_backup(pair: Pair, n: str) -> None:
    wait(lambda: pair.keepalived_state(n) == "BACKUP" and pair.check(n), f"proxy {n} backup")


def kill_standby(pair: Pair, load: Load) -> tuple[float, str]:
    n = active(pair)
    node = pair.nodes[n]
    assert node.standby is not None
    moment = time.monotonic()
    node.standby.proc.send_signal(signal.SIGKILL)
    return moment, n


def kill_keepalived(pair: Pair, load: Load) -> tuple[float, str]:
    n = active(pair)
    daemon = pair.nodes[n].keepalived
    assert daemon is not None
    pids = [daemon.proc.pid, *children(daemon.proc.pid)]
    moment = time.monotonic()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return moment, n


def cut_link(pair: Pair, load: Load) -> tuple[float, str]:
    n = active(pair)
    moment = time.monotonic()
    run("ip", "-n", pair.ns["br"], "link", "set", pair.outer(n), "down")
    return moment, n


@dataclass
class Outcome:
    name: str
    figures: dict[str, Any]
    notes: list[str]


def failure_scenario(
    pair: Pair, name: str, act: Callable[[Pair, Load], tuple[float, str]]
) -> Outcome:
    with pair.load(name) as load:
        moment, dead = act(pair, load)
        new = other(dead)
        wait(lambda: new in pair.owners(), f"proxy {new} to take {VIP}", RECOVERY_WINDOW)
        owned = time.monotonic() - moment
        settle(pair, load, moment, new)
    result = figures(load.records(), moment, ADDRESS_OF[new])
    result["address moved s"] = round(owned, 3)
    # Put the dead proxy back, as the backup, for the next scenario.
    if name == "standby killed":
        restore_standby(pair, dead)
    elif name == "keepalived killed":
        if dead in pair.owners():  # keepalived died holding it: remove what it left
            run("ip", "-n", pair.nodes[dead].ns, "addr", "del", f"{VIP}/24", "dev", "eth0")
        daemon = pair.nodes[dead].keepalived
        assert daemon is not None
        daemon.proc.wait(STEP_DEADLINE)  # reaped: its pid file must not name a zombie
        pair.start_keepalived(dead)
    elif name == "link cut":
        run("ip", "-n", pair.ns["br"], "link", "set", pair.outer(dead), "up")
    ready_backup(pair, dead)
    return Outcome(name, result, [f"active was proxy {dead}"])


PLANNED_STEPS = """\
on the active proxy A:  standbyctl -s /run/standby/control.sock keepalive off
                        echo 1 > /run/standby/maintenance   (keepalived: FAULT, B takes it)
when B answers:         echo 0 > /run/standby/maintenance   (A is the backup again)
                        standbyctl -s /run/standby/control.sock keepalive on"""


def ctl(pair: Pair, n: str, *args: str) -> None:
    node = pair.nodes[n]
    run("ip", "netns", "exec", node.ns, str(pair.bin / "standbyctl"), "-s", node.sock, *args)


def move_away(pair: Pair, n: str) -> float:
    """The documented planned switchover off proxy ``n`` (PLANNED_STEPS)."""
    node = pair.nodes[n]
    moment = time.monotonic()
    ctl(pair, n, "keepalive", "off")
    node.flag.write_text("1\n")
    new = other(n)
    wait(lambda: pair.owners() == [new], f"proxy {new} to take {VIP}", RECOVERY_WINDOW)
    node.flag.write_text("0\n")
    ready_backup(pair, n)
    ctl(pair, n, "keepalive", "on")
    return moment


def planned(pair: Pair) -> Outcome:
    first = active(pair)
    with pair.load("planned") as load:
        there = move_away(pair, first)
        settle(pair, load, there, other(first))
        back = move_away(pair, other(first))
        settle(pair, load, back, first)
    records = load.records()
    result = figures(records, there, ADDRESS_OF[other(first)])
    result["recovery back s"] = figures(records, back, ADDRESS_OF[first])["recovery s"]
    result["failed moving there"] = sum(1 for r in records if not r["ok"] and r["end"] < back)
    result["failed moving back"] = sum(1 for r in records if not r["ok"] and r["end"] >= back)
    return Outcome("planned switchover and back", result, [PLANNED_STEPS])


def split_brain(pair: Pair) -> Outcome:
    active(pair)
    with pair.load("split") as load:
        cut = time.monotonic()
        for n in pair.nodes:  # the VRRP link's switch ports: the proxies lose each other
            run("ip", "-n", pair.ns["br"], "link", "set", pair.outer(n, "1"), "nomaster")
        both = wait(lambda: len(pair.owners()) == 2, "both proxies to own it", RECOVERY_WINDOW)
        split = time.monotonic()  # both answer ARP now; the client follows the last one
        wait(lambda: load.successes_after(split) >= SETTLE_REQUESTS, "traffic in split brain")
        healed = time.monotonic()
        for n in pair.nodes:
            run("ip", "-n", pair.ns["br"], "link", "set", pair.outer(n, "1"), "master", "br1")
        one = wait(lambda: len(pair.owners()) == 1, "one owner again", RECOVERY_WINDOW)
        winner = pair.owners()[0]
        settle(pair, load, time.monotonic(), winner)
    result = figures(load.records(), healed, ADDRESS_OF[winner])
    result["both owners after s"] = round(both, 3)
    result["one owner again s"] = round(one, 3)
    for n in pair.nodes:
        if n != winner:
            ready_backup(pair, n)
    return Outcome("split brain healed", result, [f"cut at {cut:.3f}; winner proxy {winner}"])


SESSION_KEYS = 20  # sessions made before a switchover; all 20 kept by chance: 2**-20


def sessions(pair: Pair) -> Outcome:
    """Sessions are per proxy: a switchover loses them (the new proxy's balancer chooses
    again: kept only by chance), a switch back within the TTL finds them again."""
    first = active(pair)
    keys = [f"s{i}" for i in range(SESSION_KEYS)]
    made = dict(pair.fetch(*keys))
    assert all(made.values()), made
    again = dict(pair.fetch(*keys))
    move_away(pair, first)
    there = dict(pair.fetch(*keys))
    move_away(pair, other(first))
    back = dict(pair.fetch(*keys))
    result = {
        "sessions": len(keys),
        "same backend again on the same proxy": sum(again[k] == made[k] for k in keys),
        "same backend on the other proxy": sum(there[k] == made[k] for k in keys),
        "same backend after switching back": sum(back[k] == made[k] for k in keys),
    }
    return Outcome("sessions across a switchover", result, ["Session Type HEADER, 2 backends"])


def check_timing(pair: Pair, runs: int = 50) -> Outcome:
    """``standbyctl check`` as keepalived runs it (inside the namespace), wall time."""
    node = pair.nodes[active(pair)]
    bare = [sys.executable, "-c", "pass"]
    times, floor = [], []
    for _ in range(runs):  # interleaved: both see the same load of the machine
        start = time.perf_counter()
        assert pair.check(node.name)
        times.append(time.perf_counter() - start)
        start = time.perf_counter()
        run("ip", "netns", "exec", node.ns, *bare)
        floor.append(time.perf_counter() - start)
    times.sort()
    floor.sort()
    result = {
        "runs": runs,
        "median ms": round(times[runs // 2] * 1000, 1),
        "p90 ms": round(times[int(runs * 0.9)] * 1000, 1),
        "max ms": round(times[-1] * 1000, 1),
        "python -c pass median ms": round(floor[runs // 2] * 1000, 1),
    }
    note = "wall time with `ip netns exec`; `python -c pass` the same way: the floor"
    return Outcome("standbyctl check", result, [note])


SCENARIOS: dict[str, Callable[[Pair], Outcome]] = {
    "standbyctl check": check_timing,
    "standby killed": lambda p: failure_scenario(p, "standby killed", kill_standby),
    "keepalived killed": lambda p: failure_scenario(p, "keepalived killed", kill_keepalived),
    "link cut": lambda p: failure_scenario(p, "link cut", cut_link),
    "planned switchover and back": planned,
    "split brain healed": split_brain,
    "sessions across a switchover": sessions,
}


def run_scenarios(work: Path, names: list[str] | None = None) -> list[Outcome]:
    outcomes = []
    with Pair(work) as pair:
        for name, scenario in SCENARIOS.items():
            if names is None or name in names:
                outcomes.append(scenario(pair))
    return outcomes


def main() -> int:
    """``make ha-demo``: every scenario (or those named), its figures printed; a whole run
    is recorded and written into docs/ha.md (tests/ha/report.py)."""
    from tests.ha import report

    reason = can_make_namespaces()
    if reason:
        print(f"ha-demo: {reason}", file=sys.stderr)
        return 1
    names = sys.argv[1:] or None
    with tempfile.TemporaryDirectory(prefix="standby-ha-") as tmp:
        outcomes = run_scenarios(Path(tmp), names)
    for outcome in outcomes:
        print(f"{outcome.name}:", json.dumps(outcome.figures), flush=True)
    if names is None:
        report.record(outcomes)
        report.write()
        print(f"figures recorded and written to {report.DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
