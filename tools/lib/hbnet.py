"""Small hb clusters in Linux network namespaces, for the netns integration tests and the demo.

A `Lab` owns everything it creates (namespaces, processes, a temp dir) and removes all of it on
exit, on an exception, on Ctrl-C and on SIGTERM/SIGHUP, so a failing test never leaves a machine
dirty. A `Cluster` builds hb nodes on top of a lab: one switch (a bridge in its own namespace) per
network, one namespace per node, a shared key, one config per node, real `hbd` processes, and a
reader for each node's JSON-lines events. Only 198.18.0.0/15 addresses are ever configured
(DESIGN §9), and only inside namespaces the lab created.

Python 3.11 standard library only.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import ipaddress
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterable

REPO_ROOT = Path(__file__).resolve().parents[2]
HBD_PORT = 4098
# RFC 2544 benchmarking range: the only addresses a lab may configure.
TEST_RANGE = ipaddress.ip_network("198.18.0.0/15")
IFNAME_MAX = 15  # IFNAMSIZ - 1
# (interval_ms, multiplier) of the named timing profiles (DESIGN §6).
PROFILES = {"safe": (100, 5), "fast": (10, 3), "extreme": (1, 3)}
POLL_S = 0.005

_PR_SET_PDEATHSIG = 1


class CommandError(RuntimeError):
    """A set-up command failed; carries its output so the cause is visible in the test log."""


class EventFormatError(ValueError):
    """hbd wrote a line that is not a JSON object: a break of the events contract (DESIGN §9)."""


def hbd_path() -> Path:
    """The hbd under test: $HBD, else the default build directory of this checkout."""
    return Path(os.environ.get("HBD") or REPO_ROOT / "build" / "tools" / "hbd")


def run(argv: list[str], *, check: bool = True, timeout: float = 20,
        input: bytes | None = None) -> subprocess.CompletedProcess:
    """Runs a set-up command; raises CommandError naming the command and its stderr on failure."""
    result = subprocess.run(argv, input=input, capture_output=True, timeout=timeout)
    if check and result.returncode != 0:
        raise CommandError(f"{' '.join(argv)}: exit {result.returncode}: "
                           f"{result.stderr.decode(errors='replace').strip()}")
    return result


def netns_problem() -> str | None:
    """Why this machine cannot run labs (None when it can): tests skip with this reason."""
    if os.geteuid() != 0:
        return "needs root (network namespaces, veth, bridges)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"'{tool}' (iproute2) not found"
    probe = f"hb{os.getpid()}.probe"
    try:
        run(["ip", "netns", "add", probe], timeout=10)
    except (CommandError, OSError, subprocess.TimeoutExpired) as error:
        return f"'ip netns add' does not work here: {error}"
    try:
        run(["ip", "-n", probe, "link", "add", "probe0", "type", "bridge"], timeout=10)
        run(["ip", "-n", probe, "link", "add", "probe1", "type", "veth", "peer", "name", "probe2"],
            timeout=10)
    except (CommandError, subprocess.TimeoutExpired) as error:
        return f"bridges or veth pairs do not work here: {error}"
    finally:
        run(["ip", "netns", "del", probe], check=False)
    return None


def hbd_problem() -> str | None:
    """Why the hbd under test cannot be run (None when it can)."""
    path = hbd_path()
    if not path.is_file():
        return f"hbd not found at {path} (build it, or set HBD)"
    if not os.access(path, os.X_OK):
        return f"hbd at {path} is not executable"
    return None


# -- impairment relay (hb_impair, DESIGN §10): paths for Lab.connect_impaired -----------------

def impair_path() -> Path:
    """The impairment relay: $HB_IMPAIR, else the default build directory of this checkout."""
    return Path(os.environ.get("HB_IMPAIR") or REPO_ROOT / "build" / "tests" / "support" /
                "hb_impair")


def impair_problem() -> str | None:
    """Why hb_impair cannot be run (None when it can): tests of degraded links skip with it."""
    path = impair_path()
    if not path.is_file():
        return f"hb_impair not found at {path} (build it, or set HB_IMPAIR)"
    if not os.access(path, os.X_OK):
        return f"hb_impair at {path} is not executable"
    return None

# -- end of impairment relay paths -------------------------------------------------------------


def hbdisk_path() -> Path:
    """hbdisk (initialises a lab's shared disk): $HBDISK, else this checkout's build."""
    return Path(os.environ.get("HBDISK") or REPO_ROOT / "build" / "tools" / "hbdisk")


def hbping_path() -> Path:
    """hbping: $HBPING, else this checkout's build."""
    return Path(os.environ.get("HBPING") or REPO_ROOT / "build" / "tools" / "hbping")


def hbping_problem() -> str | None:
    """Why hbping cannot be run (None when it can): tests that need it skip with this."""
    path = hbping_path()
    if not os.access(path, os.X_OK):
        return f"hbping not found or not executable at {path} (build it, or set HBPING)"
    return None


def disk_problem() -> str | None:
    """Why a lab cannot have a shared disk (None when it can): disk tests skip with it."""
    path = hbdisk_path()
    if not os.access(path, os.X_OK):
        return f"hbdisk not found or not executable at {path} (build it, or set HBDISK)"
    for tool in ("losetup", "blockdev"):
        if shutil.which(tool) is None:
            return f"{tool} not found (util-linux)"
    if not Path("/dev/loop-control").exists():
        return "no loop devices (/dev/loop-control missing)"
    return None


def check_test_address(address: str) -> ipaddress.IPv4Interface:
    """Parses 'A.B.C.D/N' and refuses anything outside 198.18.0.0/15 (DESIGN §9, §10)."""
    interface = ipaddress.ip_interface(address)
    if interface.network.prefixlen == interface.max_prefixlen:
        raise ValueError(f"{address}: give a prefix length, e.g. {interface.ip}/24")
    if not interface.network.subnet_of(TEST_RANGE):
        raise ValueError(f"{address}: labs use only {TEST_RANGE} addresses")
    return interface


def check_ifname(ifname: str) -> str:
    """Linux interface names are at most 15 bytes; fail early with the name rather than in ip."""
    if not ifname or len(ifname.encode()) > IFNAME_MAX or "/" in ifname or " " in ifname:
        raise ValueError(f"bad interface name {ifname!r} (1..{IFNAME_MAX} chars, no '/' or ' ')")
    return ifname


def _die_with_parent() -> None:
    """Runs in the child before exec: if the test process is SIGKILLed, its hbds die with it.

    PR_SET_PDEATHSIG survives the exec of `ip netns exec` and its exec of hbd (no set-uid).
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


# --------------------------------------------------------------------------------------------
# Namespaces, switches and links


class Namespace:
    """A network namespace created by a lab; commands run in it via `ip -n` / `ip netns exec`."""

    def __init__(self, lab: Lab, name: str):
        self.lab = lab
        self.name = name  # the short name the caller chose (alpha, net_a...)
        self.netns = lab.prefix + name  # the real namespace name, unique per run

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, netns={self.netns!r})"

    def ip(self, *args: str) -> subprocess.CompletedProcess:
        return run(["ip", "-n", self.netns, *args])

    def tc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return run(["tc", "-n", self.netns, *args], check=check)

    def exec_argv(self, argv: Iterable[str]) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *argv]

    def run(self, argv: list[str], *, timeout: float = 20,
            check: bool = False) -> subprocess.CompletedProcess:
        """Runs a command to completion inside the namespace, as a lab-owned process.

        Owned by the lab so that Ctrl-C or a timeout still kills it (subprocess.run would leave
        a child in its own session behind).
        """
        process = self.lab.spawn(self, argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            stdout, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
            raise subprocess.TimeoutExpired(argv, timeout, stdout, stderr) from None
        result = subprocess.CompletedProcess(argv, process.returncode, stdout, stderr)
        if check and result.returncode != 0:
            raise CommandError(f"{' '.join(argv)} in {self.netns}: exit {result.returncode}: "
                               f"{stderr.decode(errors='replace').strip()}")
        return result

    def link_state(self, ifname: str) -> dict:
        """`ip -d -j link show` of one interface: operstate, master, bridge port state..."""
        output = run(["ip", "-n", self.netns, "-d", "-j", "link", "show", "dev", ifname]).stdout
        return json.loads(output)[0]


class Host(Namespace):
    """A node's namespace: `lo` up, IPv6 off (no background frames on the test networks)."""

    def __init__(self, lab: Lab, name: str):
        super().__init__(lab, name)
        self.addresses: dict[str, ipaddress.IPv4Interface] = {}  # ifname -> address

    def link_down(self, ifname: str) -> None:
        """Adapter failure as a node sees it: carrier and operstate go down at once."""
        self.ip("link", "set", "dev", ifname, "down")

    def links_down(self, *ifnames: str) -> None:
        """Several adapters fail together: one `ip -batch`, so within about a millisecond."""
        batch = "".join(f"link set dev {ifname} down\n" for ifname in ifnames)
        run(["ip", "-n", self.netns, "-batch", "-"], input=batch.encode())

    def link_up(self, ifname: str) -> None:
        self.ip("link", "set", "dev", ifname, "up")
        _wait(lambda: self.link_state(ifname)["operstate"] == "UP", 5,
              f"{ifname} in {self.netns} operstate UP")


class Switch(Namespace):
    """A bridge `br0` alone in its namespace: one network, with multicast flooded to every port.

    Multicast snooping is off so that a group reaches every port whether or not IGMP reports were
    seen, as on a dumb switch. Ports are the switch-side ends of the veth pairs.
    """

    BRIDGE = "br0"

    def __init__(self, lab: Lab, name: str):
        super().__init__(lab, name)
        self.ports: dict[str, tuple[Host, str]] = {}  # port -> (host, host ifname)
        self._blackholed: set[str] = set()

    def port_for(self, host: Host, ifname: str) -> str:
        """The switch-side port that a host's adapter is plugged into (to blackhole it alone)."""
        for port, (other, other_ifname) in self.ports.items():
            if other is host and other_ifname == ifname:
                return port
        raise KeyError(f"{host.name}/{ifname} is not connected to switch {self.name}")

    def blackhole(self, ports: Iterable[str] | None = None) -> None:
        """Network failure: every frame leaving the switch toward a host is dropped.

        A blackhole qdisc acts on egress only, i.e. on frames the bridge forwards out of that
        port; carriers stay up, so only the beats' silence tells the nodes.
        """
        for port in self.ports if ports is None else ports:
            if port not in self._blackholed:
                self.tc("qdisc", "add", "dev", port, "root", "blackhole")
                self._blackholed.add(port)

    def unblackhole(self, ports: Iterable[str] | None = None) -> None:
        for port in list(self._blackholed if ports is None else ports):
            if port in self._blackholed:
                self.tc("qdisc", "del", "dev", port, "root")
                self._blackholed.discard(port)


# --------------------------------------------------------------------------------------------
# The lab: owner of everything


class Lab:
    """Creates namespaces, links and processes under a unique prefix and always removes them.

    Use as a context manager. Cleanup also runs from atexit and, through Terminated raised by
    the SIGTERM/SIGHUP handlers, on those signals; Ctrl-C unwinds as KeyboardInterrupt. Set
    HBNET_KEEP=1 to keep the temp dir (configs, logs, events) for a post-mortem.
    """

    _sequence = itertools.count()
    _live: list[Lab] = []
    _saved_handlers: dict[int, object] = {}

    def __init__(self, *, keep_tmp: bool | None = None):
        self.prefix = f"hb{os.getpid()}.{next(Lab._sequence)}-"
        self.tmp = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.keep_tmp = os.environ.get("HBNET_KEEP") == "1" if keep_tmp is None else keep_tmp
        self.hosts: dict[str, Host] = {}
        self.switches: dict[str, Switch] = {}
        self._namespaces: list[Namespace] = []
        self._processes: list[subprocess.Popen] = []
        self._loop_devices: list[str] = []
        # Files outside the temp dir that the lab's processes make and a SIGKILL leaves behind
        # (hbd's control sockets under /run/hb), removed after the processes are gone.
        self._leftovers: list[Path] = []
        self._closed = False
        Lab._live.append(self)
        Lab._install_signal_handlers()

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # -- building ------------------------------------------------------------------------

    def _add_namespace(self, namespace: Namespace) -> None:
        if namespace.name in self.hosts or namespace.name in self.switches:
            raise ValueError(f"name {namespace.name!r} already used in this lab")
        run(["ip", "netns", "add", namespace.netns])
        self._namespaces.append(namespace)  # registered before anything else can fail
        # No IPv6: no DAD, MLD or router solicitations on the test networks, so a network
        # carries only what the test put there. arp_notify: an interface that comes back up
        # announces itself (gratuitous ARP), so its neighbours' entries for it, failed while it
        # was down, are fixed at once instead of after their next ARP retry, up to a second
        # later (docs/linkwatch.md).
        namespace.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                       "net.ipv6.conf.default.disable_ipv6=1",
                       "net.ipv4.conf.all.arp_notify=1"], timeout=10)
        namespace.ip("link", "set", "dev", "lo", "up")

    def host(self, name: str) -> Host:
        """A namespace for one node, with `lo` up."""
        host = Host(self, name)
        self._add_namespace(host)
        self.hosts[name] = host
        return host

    def switch(self, name: str) -> Switch:
        """A bridge in its own namespace, multicast snooping off (multicast floods)."""
        switch = Switch(self, name)
        self._add_namespace(switch)
        switch.ip("link", "add", "name", Switch.BRIDGE, "type", "bridge",
                  "mcast_snooping", "0", "stp_state", "0")
        switch.ip("link", "set", "dev", Switch.BRIDGE, "up")
        self.switches[name] = switch
        return switch

    def connect(self, host: Host, switch: Switch, ifname: str, address: str) -> str:
        """Joins host to switch with a veth pair; returns the switch-side port name.

        Both ends are created directly inside their namespaces, so names never touch the root
        namespace and parallel labs cannot clash. tx checksum offload is turned off on both ends
        (DESIGN §10: frames re-sent over AF_PACKET would carry unfinished UDP checksums).
        """
        check_ifname(ifname)
        interface = check_test_address(address)
        if ifname in host.addresses:
            raise ValueError(f"{host.name} already has an interface {ifname}")
        port = f"{host.name}-{ifname}"
        if len(port.encode()) > IFNAME_MAX or port in switch.ports or port == Switch.BRIDGE:
            port = f"port{len(switch.ports)}"
        switch.ip("link", "add", "name", port, "type", "veth",
                  "peer", "name", ifname, "netns", host.netns)
        switch.ports[port] = (host, ifname)
        host.addresses[ifname] = interface
        switch.ip("link", "set", "dev", port, "master", Switch.BRIDGE, "up")
        self._disable_tx_offload(switch, port)
        self._disable_tx_offload(host, ifname)
        host.ip("address", "add", str(interface), "dev", ifname)
        host.ip("link", "set", "dev", ifname, "up")
        _wait(lambda: _port_forwarding(switch, port) and
              host.link_state(ifname)["operstate"] == "UP", 5,
              f"{host.name}/{ifname} up and {switch.name}/{port} forwarding")
        return port

    @staticmethod
    def _disable_tx_offload(namespace: Namespace, ifname: str) -> None:
        if shutil.which("ethtool") is not None:
            namespace.run(["ethtool", "-K", ifname, "tx", "off"], timeout=10)  # best effort


    # -- impaired links (hb_impair, DESIGN §10) ------------------------------------------

    def connect_impaired(self, host: Host, switch: Switch, ifname: str, address: str,
                         relay_args: list[str]) -> tuple[str, subprocess.Popen]:
        """Like connect, with the impairment relay as a bump in the wire; returns (port, relay).

        host/ifname <-veth-> relay namespace (host0 | hb_impair | switch0) <-veth-> switch/port.
        The relay runs `hb_impair host0 switch0 *relay_args` in a namespace of its own, so
        `--a2b-*` options impair what the host sends and `--b2a-*` what it receives. The relay is
        a lab process (killed at cleanup); SIGTERM it and read its stdout for the final JSON
        counters. Its stderr (start line, --stats-interval-s lines) goes to
        <lab tmp>/<relay namespace>.log. The switch port is registered as for connect, so
        port_for and blackhole work on it.
        """
        problem = impair_problem()
        if problem is not None:
            raise CommandError(problem)
        check_ifname(ifname)
        interface = check_test_address(address)
        if ifname in host.addresses:
            raise ValueError(f"{host.name} already has an interface {ifname}")
        relay = Namespace(self, f"relay{len(self._namespaces)}")
        run(["ip", "netns", "add", relay.netns])
        self._namespaces.append(relay)  # registered before anything else can fail
        relay.run(["sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1"], timeout=10)
        port = f"{host.name}-{ifname}"
        if len(port.encode()) > IFNAME_MAX or port in switch.ports or port == Switch.BRIDGE:
            port = f"port{len(switch.ports)}"
        relay.ip("link", "add", "name", "host0", "type", "veth",
                 "peer", "name", ifname, "netns", host.netns)
        relay.ip("link", "add", "name", "switch0", "type", "veth",
                 "peer", "name", port, "netns", switch.netns)
        switch.ports[port] = (host, ifname)
        host.addresses[ifname] = interface
        relay.ip("link", "set", "dev", "host0", "up")
        relay.ip("link", "set", "dev", "switch0", "up")
        switch.ip("link", "set", "dev", port, "master", Switch.BRIDGE, "up")
        # As in connect; the relay also fills unfinished checksums, so this is belt and braces.
        self._disable_tx_offload(switch, port)
        self._disable_tx_offload(host, ifname)
        host.ip("address", "add", str(interface), "dev", ifname)
        host.ip("link", "set", "dev", ifname, "up")
        log_path = self.tmp / f"{relay.name}.log"
        with open(log_path, "wb") as log:
            process = self.spawn(relay, [str(impair_path()), "host0", "switch0", *relay_args],
                                 stdout=subprocess.PIPE, stderr=log)

        def relay_ready() -> bool:
            if process.poll() is not None:
                raise CommandError(f"hb_impair {' '.join(relay_args)} exited with "
                                   f"{process.returncode}: "
                                   f"{log_path.read_text(errors='replace').strip()}")
            return "hb_impair: ready" in log_path.read_text(errors="replace")

        _wait(relay_ready, 5, f"hb_impair in {relay.netns}")
        _wait(lambda: _port_forwarding(switch, port) and
              host.link_state(ifname)["operstate"] == "UP", 5,
              f"{host.name}/{ifname} up and {switch.name}/{port} forwarding")
        return port, process

    # -- end of impaired links -----------------------------------------------------------

    # -- processes -----------------------------------------------------------------------

    def spawn(self, namespace: Namespace, argv: list[str], **popen_args) -> subprocess.Popen:
        """Starts argv inside namespace; the lab keeps the handle and kills it at cleanup.

        `ip netns exec` execs the command in place, so the Popen's pid is the command's pid and
        signals reach it directly. A new session keeps the terminal's Ctrl-C away from it: the
        lab decides when it dies.
        """
        if self._closed:
            raise RuntimeError("lab is closed")
        popen_args.setdefault("stdin", subprocess.DEVNULL)
        # hbd's [deadman] action = "halt" must never power off the machine a lab runs on
        # (docs/operations.md, Deadman): every process a lab starts carries the guard.
        popen_args["env"] = {**(popen_args.get("env") or os.environ), "HB_DEADMAN_NO_HALT": "1"}
        process = subprocess.Popen(namespace.exec_argv(argv), start_new_session=True,
                                   preexec_fn=_die_with_parent, **popen_args)
        self._processes.append(process)
        return process

    def loop_device(self, backing: Path) -> str:
        """Attaches a loop device (direct I/O, as a shared disk is used) to a file in the lab's
        temp dir; detached at cleanup. Several loop devices on one file see the same sectors,
        so each node can have its own device of one shared disk, and lose it alone
        (set_read_only)."""
        device = run(["losetup", "--find", "--show", "--direct-io=on",
                      str(backing)]).stdout.decode().strip()
        self._loop_devices.append(device)
        # The read-only flag belongs to the device node and outlives a detach: a lab that died
        # while a device was read-only must not hand a read-only disk to the next one.
        self.set_read_only(device, False)
        return device

    @staticmethod
    def set_read_only(device: str, read_only: bool = True) -> None:
        """Makes writes to a block device fail (EPERM) from now on, even through descriptors
        already open, or lets them through again: a node losing its disk path, and back."""
        run(["blockdev", "--setro" if read_only else "--setrw", device])

    # -- cleanup -------------------------------------------------------------------------

    def close(self) -> None:
        """Kills every process, deletes every namespace, removes the temp dir. Idempotent.

        Signals are blocked meanwhile so a second Ctrl-C cannot cut cleanup short; they are
        delivered (and acted on) once it is done.
        """
        if self._closed:
            return
        self._closed = True
        blocked = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
        try:
            self._kill_processes()
            for leftover in self._leftovers:
                leftover.unlink(missing_ok=True)
            for device in reversed(self._loop_devices):
                run(["blockdev", "--setrw", device], check=False)
                run(["losetup", "--detach", device], check=False)
            for namespace in reversed(self._namespaces):
                run(["ip", "netns", "del", namespace.netns], check=False)
            if self.keep_tmp:
                print(f"hbnet: kept {self.tmp}", file=sys.stderr)
            else:
                shutil.rmtree(self.tmp, ignore_errors=True)
        finally:
            if self in Lab._live:
                Lab._live.remove(self)
            if not Lab._live:
                Lab._restore_signal_handlers()
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)

    def _kill_processes(self) -> None:
        for process in self._processes:
            if process.poll() is None:
                try:
                    process.kill()  # SIGKILL also ends a SIGSTOPped process
                except ProcessLookupError:
                    pass
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                print(f"hbnet: pid {process.pid} did not die", file=sys.stderr)
            for stream in (process.stdout, process.stderr):
                if stream is not None:
                    stream.close()

    @classmethod
    def _install_signal_handlers(cls) -> None:
        """SIGTERM/SIGHUP raise Terminated so `with` blocks unwind and clean up."""
        if cls._saved_handlers or not _in_main_thread():
            return
        for signum in (signal.SIGTERM, signal.SIGHUP):
            previous = signal.getsignal(signum)
            if previous is signal.SIG_DFL:
                cls._saved_handlers[signum] = previous
                signal.signal(signum, _exit_on_signal)

    @classmethod
    def _restore_signal_handlers(cls) -> None:
        if not _in_main_thread():
            return
        for signum, previous in cls._saved_handlers.items():
            signal.signal(signum, previous)
        cls._saved_handlers.clear()


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP arrived. A KeyboardInterrupt because that is what unittest lets
    through (it records anything else, SystemExit included, as one test's error and carries on),
    so `with` blocks and cleanups unwind and the run stops."""

    def __init__(self, signum: int):
        super().__init__(f"{signal.Signals(signum).name} received")
        self.signum = signum


def _exit_on_signal(signum: int, _frame) -> None:
    raise Terminated(signum)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@atexit.register
def _close_live_labs() -> None:
    """Backstop for labs not used as context managers."""
    for lab in list(Lab._live):
        lab.close()


def reap_stale() -> list[str]:
    """Removes namespaces and temp dirs left by labs whose process is gone (e.g. SIGKILLed).

    Only names of this module's form `hb<pid>.<n>-...` with a dead pid are touched.
    """
    def owner_dead(name: str) -> bool:
        head, dot, rest = name.partition(".")
        return (bool(dot) and head.startswith("hb") and head[2:].isdigit() and "-" in rest
                and not Path(f"/proc/{head[2:]}").exists())

    reaped = []
    for line in run(["ip", "netns", "list"]).stdout.decode().splitlines():
        name = line.split()[0] if line.strip() else ""
        if owner_dead(name):
            run(["ip", "netns", "del", name], check=False)
            reaped.append(name)
    for path in Path(tempfile.gettempdir()).glob("hb*.*-*"):
        if path.is_dir() and owner_dead(path.name):
            shutil.rmtree(path, ignore_errors=True)
            reaped.append(str(path))
    return reaped


def _port_forwarding(switch: Switch, port: str) -> bool:
    info = switch.link_state(port)
    return (info.get("linkinfo", {}).get("info_slave_data", {}).get("state") == "forwarding"
            and info.get("operstate") in ("UP", "UNKNOWN"))


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Polls condition until true; raises TimeoutError naming what was awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(POLL_S)


# --------------------------------------------------------------------------------------------
# hb configuration


@dataclasses.dataclass(frozen=True)
class Network:
    """An hb network (PowerHA's logical network): unicast, or multicast to `group`.

    `link_state = "ignore"` tells hbd that carrier means nothing there (docs/inbound.md).
    """
    name: str
    mode: str = "unicast"
    group: str | None = None
    link_state: str = "watch"

    def __post_init__(self):
        if self.mode not in ("unicast", "multicast"):
            raise ValueError(f"network {self.name}: mode must be unicast or multicast")
        if self.link_state not in ("watch", "ignore"):
            raise ValueError(f"network {self.name}: link_state must be watch or ignore")
        if (self.mode == "multicast") != (self.group is not None):
            raise ValueError(f"network {self.name}: a group goes with mode multicast, only")


@dataclasses.dataclass(frozen=True)
class Adapter:
    network: str
    ifname: str
    address: str  # without prefix length


@dataclasses.dataclass(frozen=True)
class NodeSpec:
    id: int
    name: str
    adapters: tuple[Adapter, ...]


def _toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    raise TypeError(f"no TOML form for {value!r}")


def timing_of(timing: str | tuple[int, int]) -> tuple[int, int]:
    """(interval_ms, multiplier) of a profile name or an explicit pair."""
    return PROFILES[timing] if isinstance(timing, str) else timing


def write_key(path: Path) -> Path:
    """A new random cluster key file, mode 0600 from the start (hbd refuses any other)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(os.urandom(32))
    path.chmod(0o600)
    return path


def render_config(*, cluster_id: int, local_node: int, networks: Iterable[Network],
                  nodes: Iterable[NodeSpec], timing: str | tuple[int, int] = "fast",
                  key_file: str | None = "cluster.key", extra: str = "",
                  accept_key_files: Iterable[str] = ()) -> str:
    """The TOML config of one node (DESIGN §9), with test-friendly process settings.

    No real-time priority and no memory locking: tests share two cores with other work, and a
    SCHED_FIFO spinner could starve the test runner itself. key_file=None writes
    `allow_unauthenticated = true`, hbd's explicit consent to run without a key.
    """
    lines = ["[cluster]", f"id = {cluster_id}"]
    if key_file is not None:
        lines.append(f"key_file = {_toml_value(key_file)}")
    else:
        lines.append("allow_unauthenticated = true")
    accepted = list(accept_key_files)
    if accepted:
        lines.append("accept_key_files = [" + ", ".join(map(_toml_value, accepted)) + "]")
    lines.append("[timing]")
    if isinstance(timing, str):
        lines.append(f"profile = {_toml_value(timing)}")
    else:
        lines += [f"interval_ms = {timing[0]}", f"multiplier = {timing[1]}"]
    lines += ["[local]", f"node = {local_node}",
              "[process]", "realtime_priority = 0", "lock_memory = false"]
    for network in networks:
        lines += ["[[network]]", f"name = {_toml_value(network.name)}"]
        if network.mode != "unicast":
            lines += [f"mode = {_toml_value(network.mode)}",
                      f"group = {_toml_value(network.group)}"]
        if network.link_state != "watch":
            lines.append(f"link_state = {_toml_value(network.link_state)}")
    for node in nodes:
        adapters = ", ".join(
            "{ " + ", ".join(f"{key} = {_toml_value(getattr(adapter, key))}"
                             for key in ("network", "ifname", "address")) + " }"
            for adapter in node.adapters)
        lines += ["[[node]]", f"id = {node.id}", f"name = {_toml_value(node.name)}",
                  f"adapters = [ {adapters} ]"]
    return "\n".join(lines) + "\n" + extra


# --------------------------------------------------------------------------------------------
# Events


class EventLog:
    """Tails a node's events files (one per hbd run) and keeps every parsed event in order.

    Lines are parsed only when complete, so an event being written is never half-read.
    """

    def __init__(self):
        self.events: list[dict] = []
        self._files: list[list] = []  # [path, offset, partial bytes]

    def follow(self, path: Path) -> None:
        self._files.append([path, 0, b""])

    def refresh(self) -> list[dict]:
        """Reads what was appended since the last call; returns the new events."""
        new = []
        for entry in self._files:
            path, offset, partial = entry
            try:
                with open(path, "rb") as file:
                    file.seek(offset)
                    chunk = file.read()
            except FileNotFoundError:
                continue  # hbd has not opened it yet
            entry[1] = offset + len(chunk)
            *lines, entry[2] = (partial + chunk).split(b"\n")
            for line in lines:
                if line.strip():
                    new.append(_parse_event(path, line))
        self.events += new
        return new


def _parse_event(path: Path, line: bytes) -> dict:
    try:
        event = json.loads(line)
    except json.JSONDecodeError as error:
        raise EventFormatError(f"{path}: not JSON ({error}): {line!r}") from None
    if not isinstance(event, dict) or "event" not in event or "t_ns" not in event:
        raise EventFormatError(f"{path}: not an event object with 'event' and 't_ns': {line!r}")
    return event


def matches(event: dict, where: Callable[[dict], bool] | None = None, /, **fields) -> bool:
    """True when event has every given field value (and satisfies `where`, if given)."""
    return all(event.get(key) == value for key, value in fields.items()) and (
        where is None or where(event))


def describe_event(event: dict, names: dict[int, str] | None = None) -> str:
    """One readable line: 'NODE_DOWN gamma latency_ms=31.7 evidence=paths'."""
    subject = event.get("name") or (names or {}).get(event.get("node"), event.get("node"))
    parts = [event["event"]]
    if subject is not None:
        parts.append(str(subject))
    for key in ("network", "adapter"):
        if event.get(key) is not None:
            parts.append(f"{key}={event[key]}")
    if event.get("latency_ms") is not None:
        parts.append(f"latency_ms={event['latency_ms']}")
    if event.get("evidence"):
        parts.append("evidence=" + ",".join(map(str, event["evidence"])))
    return " ".join(parts)


# --------------------------------------------------------------------------------------------
# Clusters of hbd processes


class Node:
    """One hb node: its namespace, config, hbd runs (a restart is a new run) and events."""

    def __init__(self, cluster: Cluster, spec: NodeSpec, host: Host):
        self.cluster = cluster
        self.spec = spec
        self.host = host
        self.config_path = cluster.lab.tmp / f"{spec.name}.toml"
        self.log = EventLog()
        self.process: subprocess.Popen | None = None
        self.runs = 0
        self.run_start = 0  # index in events of the current run's first event

    @property
    def id(self) -> int:
        return self.spec.id

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def events(self) -> list[dict]:
        self.log.refresh()
        return self.log.events

    def stderr_path(self, run_index: int | None = None) -> Path:
        index = self.runs if run_index is None else run_index
        return self.cluster.lab.tmp / f"{self.name}.{index}.log"

    def stderr_tail(self, lines: int = 15) -> str:
        """The last lines hbd logged in its current run, for failure messages."""
        try:
            text = self.stderr_path().read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None


class Cluster:
    """N hb nodes on one or more networks, each network a switch, each node a namespace.

    Node i (1-based, in the order given) gets id i and, on the k-th network (1-based), adapter
    eth<k> with address 198.18.<k>.<i>/24. A multicast network without a group gets
    228.18.<k>.1. The cluster id is unique per lab, so parallel runs never share an hbd control
    socket path (DESIGN §9: /run/hb/<cluster id>-<node id>.sock).
    """

    def __init__(self, lab: Lab, names: Iterable[str],
                 networks: Iterable[Network] = (Network("net_a"),), *,
                 timing: str | tuple[int, int] = "fast", cluster_id: int | None = None,
                 with_key: bool = True, extra_config: str = "", disk: bool = False):
        self.lab = lab
        self.timing = timing
        self.networks = list(networks)
        self.cluster_id = cluster_id if cluster_id is not None else _unique_cluster_id(lab)
        self.key_file = "cluster.key" if with_key else None
        self.extra_config = extra_config
        self.switches = {network.name: lab.switch(f"sw{index}")
                         for index, network in enumerate(self.networks, start=1)}
        self.nodes: dict[str, Node] = {}
        for node_id, name in enumerate(names, start=1):
            # hbd's default control socket (DESIGN §9), which a killed hbd cannot remove.
            lab._leftovers.append(Path(f"/run/hb/{self.cluster_id}-{node_id}.sock"))
            adapters = tuple(Adapter(network.name, f"eth{index}", f"198.18.{index}.{node_id}")
                             for index, network in enumerate(self.networks, start=1))
            self.nodes[name] = Node(self, NodeSpec(node_id, name, adapters), lab.host(name))
        for node in self.nodes.values():
            for adapter in node.spec.adapters:
                lab.connect(node.host, self.switches[adapter.network], adapter.ifname,
                            f"{adapter.address}/24")
        # The shared disk: one file, and a loop device of it per node, so that one node can
        # lose its disk path alone (Lab.set_read_only on its device).
        self.disk_devices: dict[str, str] = {}
        self._write_key()
        if disk:
            backing = lab.tmp / "shared.disk"
            backing.write_bytes(bytes(1 << 20))
            for name in self.nodes:
                self.disk_devices[name] = lab.loop_device(backing)
            interval_ms, multiplier = timing_of(timing)
            key_args = ([] if self.key_file is None
                        else ["--key-file", str(self.lab.tmp / self.key_file)])
            run([str(hbdisk_path()), "init", next(iter(self.disk_devices.values())),
                 "--cluster-id", str(self.cluster_id), "--slots", str(len(self.nodes)),
                 "--interval-ms", str(interval_ms), "--multiplier", str(multiplier), *key_args])
        self._write_configs()

    # -- configuration -------------------------------------------------------------------

    @property
    def interval_ms(self) -> int:
        return timing_of(self.timing)[0]

    @property
    def detection_ms(self) -> int:
        """Nominal detection time: interval x multiplier (DESIGN §6)."""
        interval_ms, multiplier = timing_of(self.timing)
        return interval_ms * multiplier

    def config_text(self, name: str, key_file: str | None = None,
                    accept_key_files: Iterable[str] = ()) -> str:
        """Node `name`'s config; key_file (default: the cluster's) and accept_key_files are
        what a key rollover changes."""
        extra = self.extra_config
        if name in self.disk_devices:
            extra += f"[disk]\npath = {_toml_value(self.disk_devices[name])}\n"
        return render_config(cluster_id=self.cluster_id, local_node=self.nodes[name].id,
                             networks=self.networks,
                             nodes=[node.spec for node in self.nodes.values()],
                             timing=self.timing, key_file=key_file or self.key_file, extra=extra,
                             accept_key_files=accept_key_files)

    def rewrite_config(self, name: str, key_file: str,
                       accept_key_files: Iterable[str] = ()) -> None:
        """A key rollover step on one node's config file (apply it with SIGHUP or a restart)."""
        self.nodes[name].config_path.write_text(
            self.config_text(name, key_file, accept_key_files))

    def _write_key(self) -> None:
        """The cluster key: 32 random bytes, private to its owner as hbd demands."""
        if self.key_file is not None:
            write_key(self.lab.tmp / self.key_file)

    def _write_configs(self) -> None:
        for name, node in self.nodes.items():
            node.config_path.write_text(self.config_text(name))

    # -- processes -----------------------------------------------------------------------

    def node(self, name: str) -> Node:
        return self.nodes[name]

    def cut_off(self, name: str, cut: bool = True) -> None:
        """Cuts every IP path of one node, both ways (or restores them): its frames are dropped
        as they leave it and as the switches send it theirs; carriers stay up, and the shared
        disk, if any, still works. With a disk this is a partition, not a death."""
        node = self.nodes[name]
        for adapter in node.spec.adapters:
            switch = self.switches[adapter.network]
            port = switch.port_for(node.host, adapter.ifname)
            if cut:
                switch.blackhole([port])
                node.host.tc("qdisc", "add", "dev", adapter.ifname, "root", "blackhole")
            else:
                switch.unblackhole([port])
                node.host.tc("qdisc", "del", "dev", adapter.ifname, "root")

    def name_of(self, node_id: int) -> str:
        for node in self.nodes.values():
            if node.id == node_id:
                return node.name
        return str(node_id)

    def others(self, name: str) -> list[str]:
        return [other for other in self.nodes if other != name]

    def start(self, name: str, env: dict[str, str] | None = None) -> int:
        """Starts a new hbd run for the node; returns the monotonic time (ns) of the start.

        `env` adds to (or overrides) the environment hbd inherits.
        """
        node = self.nodes[name]
        if node.alive():
            raise RuntimeError(f"{name} is already running (pid {node.process.pid})")
        node.runs += 1
        node.run_start = len(node.events)  # reads the previous run to its end
        events_path = self.lab.tmp / f"{name}.{node.runs}.events"
        node.log.follow(events_path)
        argv = [str(hbd_path()), "-c", str(node.config_path), "--events", str(events_path)]
        with open(node.stderr_path(), "wb") as log:
            started_ns = time.monotonic_ns()
            node.process = self.lab.spawn(node.host, argv, stdout=log, stderr=log,
                                          env={**os.environ, **(env or {})})
        return started_ns

    def start_all(self) -> None:
        for name in self.nodes:
            self.start(name)

    def send_signal(self, name: str, signum: int) -> int:
        """Sends signum to the node's hbd; returns the monotonic time (ns) just before sending."""
        node = self.nodes[name]
        if not node.alive():
            raise RuntimeError(f"{name} is not running (exit {self.exit_code(name)})\n"
                               f"{node.stderr_tail()}")
        sent_ns = time.monotonic_ns()
        os.kill(node.process.pid, signum)
        return sent_ns

    def kill(self, name: str, signum: int = signal.SIGKILL) -> int:
        """Crash (SIGKILL by default) and reap; returns the kill time (monotonic ns)."""
        sent_ns = self.send_signal(name, signum)
        if signum == signal.SIGKILL:
            self.nodes[name].process.wait(timeout=10)
        return sent_ns

    def stop(self, name: str) -> int:
        """Hang (SIGSTOP): the process lives but neither beats nor listens."""
        return self.send_signal(name, signal.SIGSTOP)

    def cont(self, name: str) -> int:
        return self.send_signal(name, signal.SIGCONT)

    def terminate(self, name: str) -> int:
        """Graceful stop (SIGTERM); returns the signal time. Use wait_exit for the exit code."""
        return self.send_signal(name, signal.SIGTERM)

    def restart(self, name: str) -> int:
        """SIGKILL then a new run at once; returns the kill time (monotonic ns)."""
        killed_ns = self.kill(name)
        self.start(name)
        return killed_ns

    def wait_exit(self, name: str, timeout: float = 5) -> int:
        """Waits for the current run to end; returns its exit code (negative: killed by signal)."""
        process = self.nodes[name].process
        try:
            return process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{name} (pid {process.pid}) still running after {timeout} s")

    def exit_code(self, name: str) -> int | None:
        process = self.nodes[name].process
        return None if process is None else process.poll()

    # -- events --------------------------------------------------------------------------

    def events(self, name: str, /, since: int = 0, where: Callable[[dict], bool] | None = None,
               **fields) -> list[dict]:
        """The node's events from index `since` on that match the given fields."""
        return [event for event in self.nodes[name].events[since:]
                if matches(event, where, **fields)]

    def mark(self) -> dict[str, int]:
        """Current length of every node's event list: pass as `since` to look only after it."""
        return {name: len(node.events) for name, node in self.nodes.items()}

    def wait_for(self, name: str, /, timeout: float = 5, since: int | dict[str, int] = 0,
                 where: Callable[[dict], bool] | None = None, **fields) -> dict:
        """Waits until node `name` reports an event matching fields; returns that event.

        Raises TimeoutError with what was awaited, the events seen and hbd's stderr tail.
        """
        start = since.get(name, 0) if isinstance(since, dict) else since
        deadline = time.monotonic() + timeout
        while True:
            found = self.events(name, start, where, **fields)
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(name, timeout, start, fields))
            time.sleep(POLL_S)

    def wait_for_each(self, names: Iterable[str], timeout: float = 5,
                      since: int | dict[str, int] = 0,
                      where: Callable[[dict], bool] | None = None, **fields) -> dict[str, dict]:
        """wait_for on several nodes against one shared deadline; returns name -> event."""
        deadline = time.monotonic() + timeout
        return {name: self.wait_for(name, max(0.0, deadline - time.monotonic()), since,
                                    where, **fields)
                for name in names}

    def wait_all_up(self, timeout: float = 10, observers: Iterable[str] | None = None) -> None:
        """Waits until each observer (default: every node) has reported, in its current run,
        NODE_UP for every other node."""
        deadline = time.monotonic() + timeout
        for name in self.nodes if observers is None else observers:
            for other in self.others(name):
                self.wait_for(name, max(0.0, deadline - time.monotonic()),
                              self.nodes[name].run_start, event="NODE_UP",
                              node=self.nodes[other].id)

    def _timeout_message(self, name: str, timeout: float, start: int, fields: dict) -> str:
        node = self.nodes[name]
        wanted = " ".join(f"{key}={value}" for key, value in fields.items()) or "(predicate)"
        state = "running" if node.alive() else f"exited with {self.exit_code(name)}"
        return (f"{name}: no event {wanted} within {timeout:.2f} s (hbd {state})\n"
                f"{self.describe(name, since=start)}\n"
                f"--- {name} stderr (tail) ---\n{node.stderr_tail()}")

    def describe(self, name: str | None = None, since: int | dict[str, int] = 0) -> str:
        """Every event of one node (or of all), one per line, times relative to the first."""
        names = list(self.nodes) if name is None else [name]
        ids = {node.id: node.name for node in self.nodes.values()}
        lines = []
        for each in names:
            start = since.get(each, 0) if isinstance(since, dict) else since
            events = self.nodes[each].events
            lines.append(f"--- {each} events (from #{start}, {len(events) - start} of them) ---")
            lines += [f"  {event['t_ns']}  {describe_event(event, ids)}"
                      for event in events[start:]]
        return "\n".join(lines)


def _unique_cluster_id(lab: Lab) -> int:
    """A cluster id that no other live lab uses, from the pid and the lab's sequence number.

    Kept below 2**31 and non-zero so that any reasonable parser accepts it.
    """
    sequence = int(lab.prefix.split(".")[1].rstrip("-"))
    return ((os.getpid() & 0x7FFF) << 16) | ((sequence + 1) & 0xFFFF)


if __name__ == "__main__":
    # `python3 tools/lib/hbnet.py reap`: remove what a SIGKILLed lab left behind.
    if sys.argv[1:] == ["reap"]:
        for reaped in reap_stale():
            print(f"removed {reaped}")
    else:
        print(f"usage: {sys.argv[0]} reap", file=sys.stderr)
        sys.exit(2)
