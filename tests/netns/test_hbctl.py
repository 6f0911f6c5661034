"""hbctl against running hbd processes (DESIGN §8, §9; docs/operations.md): `hbctl status` (the
table and --json) shows the right path and peer states after a fault and after the recovery,
`hbctl events --follow` sees a NODE_DOWN as it happens, the Prometheus endpoint is scraped and
every sample line parses, with counters that move and path states that match, and mistakes in
[control] and [metrics] are configuration errors (exit 2, with the line).
"""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import netns_support
from netns_support import ClusterTestCase, hbnet

COMMAND_TIMEOUT_S = 20
METRICS_PORT = 9464
# The text exposition format 0.0.4: comments, and `name{labels} value` samples.
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})?'
                    r' (-?[0-9.e+-]+|NaN|\+Inf|-Inf)')
COMMENT = re.compile(r'# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .+|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* '
                     r'(counter|gauge))')


def hbctl_path() -> Path:
    """hbctl: $HBCTL, else this checkout's build."""
    return Path(os.environ.get("HBCTL") or hbnet.REPO_ROOT / "build" / "tools" / "hbctl")


def hbctl_problem() -> str | None:
    path = hbctl_path()
    if not os.access(path, os.X_OK):
        return f"hbctl not found or not executable at {path} (build it, or set HBCTL)"
    return None


def parse_metrics(text: str) -> dict[str, float]:
    """Sample name with labels -> value; every line must be a comment or a sample."""
    samples = {}
    for line in text.splitlines():
        if line.startswith("#"):
            if not COMMENT.fullmatch(line):
                raise AssertionError(f"malformed comment line: {line!r}")
            continue
        match = SAMPLE.fullmatch(line)
        if match is None:
            raise AssertionError(f"malformed sample line: {line!r}")
        samples[line.rsplit(" ", 1)[0]] = float(match.group(5))
    return samples


def path_labels(network: str, adapter: str, peer: int, peer_name: str) -> str:
    return (f'{{network="{network}",adapter="{adapter}",peer="{peer}",peer_name="{peer_name}",'
            f'peer_adapter="{adapter}"}}')


class HbctlAgainstACluster(ClusterTestCase):
    names = ("alpha", "beta", "gamma")
    networks = (hbnet.Network("net_a"), hbnet.Network("net_b"))

    # Each node serves metrics on its own namespace's loopback; the control sockets are the
    # default ones, /run/hb/<cluster id>-<node id>.sock (the cluster id is unique per lab).
    extra_config = f'[metrics]\nlisten = "127.0.0.1:{METRICS_PORT}"\n'

    def setUp(self) -> None:
        reason = hbctl_problem()
        if reason is not None:
            self.skipTest(reason)
        super().setUp()
        self.wait_for_socket("alpha")

    # -- helpers -------------------------------------------------------------------------

    def socket_of(self, name: str) -> Path:
        return Path(f"/run/hb/{self.cluster.cluster_id}-{self.cluster.node(name).id}.sock")

    def wait_for_socket(self, name: str) -> None:
        deadline = time.monotonic() + 10
        while not self.socket_of(name).exists():
            if time.monotonic() > deadline:
                self.fail(f"{name}: no control socket {self.socket_of(name)}\n"
                          f"{self.cluster.node(name).stderr_tail()}")
            time.sleep(0.02)

    def hbctl(self, *args: str) -> subprocess.CompletedProcess:
        return hbnet.run([str(hbctl_path()), *args], check=False, timeout=COMMAND_TIMEOUT_S)

    def status(self, name: str) -> dict:
        result = self.hbctl("status", "--json", "-c", str(self.cluster.node(name).config_path))
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return json.loads(result.stdout)

    def table(self, name: str) -> str:
        result = self.hbctl("status", "--socket", str(self.socket_of(name)))
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        return result.stdout.decode()

    @staticmethod
    def paths(status: dict, network: str, peer: int) -> list[dict]:
        return [path for each in status["networks"] if each["name"] == network
                for adapter in each["adapters"] for path in adapter["paths"]
                if path["peer"] == peer]

    @staticmethod
    def peer(status: dict, peer: int) -> dict:
        return next(each for each in status["peers"] if each["id"] == peer)

    def wait_status(self, name: str, check, what: str, timeout: float = 10) -> dict:
        """Polls `hbctl status --json` until check(status) holds (the verdict may trail the event)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.status(name)
            if check(status):
                return status
            if time.monotonic() > deadline:
                self.fail(f"{name}: status never showed {what}:\n{json.dumps(status, indent=1)}")
            time.sleep(0.05)

    def scrape(self, name: str) -> str:
        script = (f"import urllib.request,sys;r=urllib.request.urlopen("
                  f"'http://127.0.0.1:{METRICS_PORT}/metrics',timeout=10);"
                  "sys.stdout.write(r.headers['Content-Type']+'\\n'+r.read().decode())")
        result = self.cluster.node(name).host.run(["python3", "-c", script],
                                                  timeout=COMMAND_TIMEOUT_S)
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        content_type, body = result.stdout.decode().split("\n", 1)
        self.assertEqual(content_type, "text/plain; version=0.0.4; charset=utf-8")
        return body

    # -- tests ---------------------------------------------------------------------------

    def test_status_shows_an_adapter_failure_a_node_death_and_the_recoveries(self) -> None:
        beta = self.cluster.node("beta").id
        gamma = self.cluster.node("gamma").id
        status = self.status("alpha")
        self.assertEqual(status["node"]["name"], "alpha")
        self.assertEqual(status["cluster"], self.cluster.cluster_id)
        for peer in (beta, gamma):
            self.assertEqual(self.peer(status, peer)["state"], "up")
            for network in ("net_a", "net_b"):
                for path in self.paths(status, network, peer):
                    self.assertEqual(path["state"], "up", path)
                    self.assertGreater(path["sent"], 0, path)
                    self.assertGreater(path["received"], 0, path)
        table = self.table("alpha")
        self.assertRegex(table, r"beta \(2\) +eth2 +198\.18\.2\.2 +up ")
        self.assertRegex(table, r"beta \(2\) +up +2/2 ")

        # beta's adapter on net_b fails: alpha's paths to it there go down, beta stays up.
        since = self.cluster.mark()
        self.cluster.node("beta").host.link_down("eth2")
        self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                              event="REMOTE_ADAPTER_DOWN", node=beta)
        status = self.wait_status(
            "alpha", lambda s: all(p["state"] == "down" for p in self.paths(s, "net_b", beta)),
            "beta's net_b paths down")
        self.assertEqual(self.peer(status, beta)["state"], "up")
        self.assertEqual(self.peer(status, beta)["paths_up"], 1)
        self.assertTrue(all(p["state"] == "up" for p in self.paths(status, "net_a", beta)))
        self.assertRegex(self.table("alpha"), r"beta \(2\) +eth2 +198\.18\.2\.2 +down ")
        # beta's own status says its adapter is down, and why.
        beta_status = self.status("beta")
        adapter = beta_status["networks"][1]["adapters"][0]
        self.assertEqual((adapter["ifname"], adapter["state"]), ("eth2", "down"), adapter)
        self.assertIn("link", adapter["down_by"])

        since = self.cluster.mark()
        self.cluster.node("beta").host.link_up("eth2")
        self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                              event="REMOTE_ADAPTER_UP", node=beta)
        self.wait_status(
            "alpha", lambda s: all(p["state"] == "up" for p in self.paths(s, "net_b", beta)),
            "beta's net_b paths up again")

        # gamma dies: NODE_DOWN, and its peer entry and paths say so.
        since = self.cluster.mark()
        self.cluster.kill("gamma")
        self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                              event="NODE_DOWN", node=gamma)
        status = self.wait_status("alpha", lambda s: self.peer(s, gamma)["state"] == "down",
                                  "gamma down")
        self.assertEqual(self.peer(status, gamma)["paths_up"], 0)
        for network in ("net_a", "net_b"):
            for path in self.paths(status, network, gamma):
                self.assertEqual(path["state"], "down", path)
                self.assertGreater(path["last_heard_ms_ago"], 0, path)
        self.assertGreaterEqual(status["events"]["NODE_DOWN"], 1)
        self.assertRegex(self.table("alpha"), r"gamma \(3\) +down +0/2 ")

        # gamma comes back (a new incarnation): up again in the status.
        since = self.cluster.mark()
        self.cluster.start("gamma")
        self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                              event="NODE_UP", node=gamma)
        self.wait_status("alpha", lambda s: self.peer(s, gamma)["state"] == "up", "gamma up")

    def test_events_follow_sees_node_down_as_it_happens(self) -> None:
        gamma = self.cluster.node("gamma").id
        # Without --follow: the events hbd remembers (the NODE_UPs of the start), then exit 0.
        result = self.hbctl("events", "-c", str(self.cluster.node("alpha").config_path))
        self.assertEqual(result.returncode, 0, result.stderr.decode())
        remembered = [json.loads(line) for line in result.stdout.decode().splitlines()]
        self.assertEqual(sorted(e["node"] for e in remembered if e["event"] == "NODE_UP"), [2, 3])

        follower = self.lab.spawn(self.cluster.node("alpha").host,
                                  [str(hbctl_path()), "events", "--follow", "--socket",
                                   str(self.socket_of("alpha"))],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.wait_status("alpha", lambda s: s["control"]["subscribers"] == 1, "a subscriber")
        since = self.cluster.mark()
        killed_ns = self.cluster.kill("gamma")
        expected = self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                                         event="NODE_DOWN", node=gamma)
        lines = []
        deadline = time.monotonic() + 10
        buffer = b""
        while not any(e.get("event") == "NODE_DOWN" for e in lines):
            left = deadline - time.monotonic()
            self.assertGreater(left, 0, f"hbctl events --follow printed only {lines}")
            ready, _, _ = select.select([follower.stdout], [], [], left)
            if ready:
                chunk = os.read(follower.stdout.fileno(), 65536)
                if not chunk:
                    self.fail(f"hbctl exited ({follower.wait(timeout=10)}): "
                              f"{follower.stderr.read().decode()}; it printed {lines}")
                buffer += chunk
                *complete, buffer = buffer.split(b"\n")
                lines += [json.loads(line) for line in complete]
        got = next(e for e in lines if e.get("event") == "NODE_DOWN")
        self.assertEqual(got, expected, "the same line as hbd --events")
        self.assertGreater(got["t_ns"], killed_ns)
        follower.send_signal(signal.SIGINT)
        self.assertEqual(follower.wait(timeout=10), 0, "Ctrl-C ends --follow with exit 0")

    def test_metrics_are_well_formed_move_and_match_the_status(self) -> None:
        beta = self.cluster.node("beta").id
        labels = path_labels("net_b", "eth2", beta, "beta")
        first = parse_metrics(self.scrape("alpha"))
        time.sleep(0.3)
        second = parse_metrics(self.scrape("alpha"))
        self.assertEqual(first[f"hb_path_state{labels}"], 2)  # up
        for counter in (f"hb_path_beats_sent_total{labels}",
                        f"hb_path_beats_received_total{labels}", "hb_beats_sent_total",
                        "hb_beats_accepted_total"):
            self.assertGreater(second[counter], first[counter], counter)
        self.assertEqual(second['hb_events_total{event="NODE_UP"}'], 2)
        self.assertEqual(second['hb_peer_state{peer="2",peer_name="beta"}'], 1)
        self.assertIn('hb_dropped_total{reason="bad_mac"}', second)
        self.assertIn("hb_build_info", " ".join(second))

        since = self.cluster.mark()
        self.cluster.node("beta").host.link_down("eth2")
        self.cluster.wait_for("alpha", timeout=self.verdict_timeout_s, since=since,
                              event="REMOTE_ADAPTER_DOWN", node=beta)
        deadline = time.monotonic() + 10
        while parse_metrics(self.scrape("alpha"))[f"hb_path_state{labels}"] != 0:
            self.assertLess(time.monotonic(), deadline, "path state never 0 in the metrics")
            time.sleep(0.05)
        status = self.status("alpha")
        metrics = parse_metrics(self.scrape("alpha"))
        for each in status["networks"]:
            for adapter in each["adapters"]:
                for path in adapter["paths"]:
                    key = "hb_path_state" + path_labels(each["name"], adapter["ifname"],
                                                        path["peer"], path["peer_name"])
                    state = {"down": 0, "init": 1, "up": 2}[path["state"]]
                    self.assertEqual(metrics[key], state, key)
        self.assertGreaterEqual(metrics['hb_events_total{event="REMOTE_ADAPTER_DOWN"}'], 1)


class HbctlErrors(netns_support.unittest.TestCase):
    """Configuration mistakes are exit 2 with the line; an hbd that is not running is exit 1."""

    def setUp(self) -> None:
        reason = hbctl_problem()
        if reason is not None:
            self.skipTest(reason)
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.cluster = hbnet.Cluster(self.lab, ("alpha", "beta"))
        self.base = self.cluster.config_text("alpha")
        self.base_lines = len(self.base.splitlines())

    def write(self, extra: str) -> Path:
        path = self.lab.tmp / "bad.toml"
        path.write_text(self.base + extra)
        return path

    def check_both(self, extra: str, line_offset: int, message: str) -> None:
        path = self.write(extra)
        hbd = hbnet.run([str(hbnet.hbd_path()), "--check", "-c", str(path)], check=False)
        hbctl = hbnet.run([str(hbctl_path()), "check", "-c", str(path)], check=False)
        expected = f"{path}:{self.base_lines + line_offset}: "
        for tool, result in (("hbd --check", hbd), ("hbctl check", hbctl)):
            stderr = result.stderr.decode()
            self.assertEqual(result.returncode, 2, f"{tool}: {stderr}")
            self.assertIn(expected, stderr, tool)
            self.assertIn(message, stderr, tool)
        self.assertEqual(hbd.stderr, hbctl.stderr, "the same checks and output")

    def test_control_and_metrics_mistakes_are_errors_with_their_line(self) -> None:
        self.check_both('[control]\nsocket = ""\n', 2, "[control] socket must not be empty")
        self.check_both('[control]\npath = "/run/x.sock"\n', 2, 'unknown key "path" in [control]')
        self.check_both('[metrics]\nlisten = "127.0.0.1"\n', 2, "must be ADDRESS:PORT")
        self.check_both('[metrics]\nlisten = "127.0.0.1:99999"\n', 2,
                        "the port must be 1..65535")

    def test_a_valid_configuration_checks_the_same_with_both_tools(self) -> None:
        path = self.write('[metrics]\nlisten = "127.0.0.1:9464"\n')
        hbd = hbnet.run([str(hbnet.hbd_path()), "--check", "-c", str(path)], check=False)
        hbctl = hbnet.run([str(hbctl_path()), "check", "-c", str(path)], check=False)
        self.assertEqual((hbd.returncode, hbctl.returncode), (0, 0), hbd.stderr + hbctl.stderr)
        self.assertEqual(hbd.stdout, hbctl.stdout)
        self.assertIn(b"metrics on http://127.0.0.1:9464/metrics", hbd.stdout)
        self.assertIn(f"control socket /run/hb/{self.cluster.cluster_id}-1.sock".encode(),
                      hbd.stdout)

    def test_an_hbd_that_is_not_running_is_exit_1_and_usage_is_exit_2(self) -> None:
        missing = self.lab.tmp / "nobody.sock"
        result = hbnet.run([str(hbctl_path()), "status", "--socket", str(missing)], check=False)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(b"cannot reach hbd at", result.stderr)
        self.assertIn(b"is hbd running", result.stderr)
        config = self.cluster.node("alpha").config_path
        result = hbnet.run([str(hbctl_path()), "status", "-c", str(config)], check=False)
        self.assertEqual(result.returncode, 1, result.stderr)
        result = hbnet.run([str(hbctl_path()), "status", "--socket", str(missing), "-c",
                            str(config)], check=False)
        self.assertEqual(result.returncode, 2, result.stderr)
        result = hbnet.run([str(hbctl_path()), "events", "--last", "1000", "--socket",
                            str(missing)], check=False)
        self.assertEqual(result.returncode, 2, result.stderr)
        for command in ("status", "events", "check"):
            result = hbnet.run([str(hbctl_path()), command, "--help"], check=False)
            self.assertEqual(result.returncode, 0)
            self.assertIn(b"EXAMPLES", result.stdout)
            self.assertIn(b"EXIT STATUS", result.stdout)

    def test_a_configured_socket_is_served_and_removed_at_a_graceful_stop(self) -> None:
        cluster = self.cluster
        alpha = cluster.node("alpha")
        socket_path = self.lab.tmp / "run" / "alpha.sock"
        alpha.config_path.write_text(self.base + f'[control]\nsocket = "{socket_path}"\n')
        cluster.start("alpha")
        deadline = time.monotonic() + 10
        while not socket_path.exists():
            self.assertLess(time.monotonic(), deadline, alpha.stderr_tail())
            time.sleep(0.02)
        self.assertEqual(socket_path.parent.stat().st_mode & 0o7777, 0o750)
        result = hbnet.run([str(hbctl_path()), "status", "--json", "-c", str(alpha.config_path)],
                           check=False)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(json.loads(result.stdout)["node"]["name"], "alpha")
        cluster.terminate("alpha")
        self.assertEqual(cluster.wait_exit("alpha"), 0)
        self.assertFalse(socket_path.exists(), "removed at exit")

if __name__ == "__main__":
    netns_support.main()
