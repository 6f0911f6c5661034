"""hbd's command line and config errors: exit code exactly 2 and a message naming the problem.

Every broken config is tried with `hbd --check -c FILE` and with a normal start; the normal start
runs inside a lab namespace so that an hbd which wrongly accepted a config could only ever talk to
198.18.0.0/15 addresses there.
"""

from __future__ import annotations

import os
import re
import unittest
from pathlib import Path

import netns_support
from netns_support import hbnet

RUN_TIMEOUT_S = 10
_NODES = (
    hbnet.NodeSpec(1, "alpha", (hbnet.Adapter("net_a", "eth1", "198.18.1.1"),)),
    hbnet.NodeSpec(2, "beta", (hbnet.Adapter("net_a", "eth1", "198.18.1.2"),)),
)
BETA_ADAPTER = 'network = "net_a", ifname = "eth1", address = "198.18.1.2"'


def valid_config() -> str:
    return hbnet.render_config(cluster_id=7, local_node=1, networks=[hbnet.Network("net_a")],
                               nodes=_NODES)


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based line of the occurrence-th line containing needle."""
    hits = [number for number, line in enumerate(text.splitlines(), start=1) if needle in line]
    if len(hits) < occurrence:
        raise AssertionError(f"{needle!r} not found {occurrence} time(s) in the config")
    return hits[occurrence - 1]


class ConfigErrors(unittest.TestCase):
    """One lab (a single host with the adapter alpha's config names) for all cases."""

    @classmethod
    def setUpClass(cls) -> None:
        cls.lab = hbnet.Lab()
        try:
            cls.host = cls.lab.host("alpha")
            cls.lab.connect(cls.host, cls.lab.switch("sw1"), "eth1", "198.18.1.1/24")
            key_path = cls.lab.tmp / "cluster.key"
            key_path.write_bytes(os.urandom(32))
            key_path.chmod(0o600)
        except BaseException:
            cls.lab.close()
            raise

    @classmethod
    def tearDownClass(cls) -> None:
        cls.lab.close()

    # -- helpers -------------------------------------------------------------------------

    def write(self, name: str, text: str) -> Path:
        path = self.lab.tmp / f"{name}.toml"
        path.write_text(text)
        return path

    def hbd(self, *args: str):
        """Runs hbd in the lab's host; returns (exit code, stderr text)."""
        result = self.host.run([str(hbnet.hbd_path()), *args], timeout=RUN_TIMEOUT_S)
        return result.returncode, result.stderr.decode(errors="replace")

    def assert_exit_2(self, args: list[str], *needles: str, pattern: str | None = None) -> str:
        """Exit code exactly 2 (not 1, not a signal) and stderr containing every needle."""
        code, stderr = self.hbd(*args)
        command = "hbd " + " ".join(args)
        self.assertEqual(code, 2, f"{command}: exit {code}, stderr:\n{stderr}")
        for needle in needles:
            self.assertIn(needle, stderr, f"{command}: stderr does not name {needle!r}")
        if pattern is not None:
            self.assertRegex(stderr, pattern, f"{command}: stderr")
        return stderr

    def assert_rejected(self, path: Path, *needles: str, pattern: str | None = None) -> None:
        """Both `--check` and a normal start refuse the config the same way."""
        events = self.lab.tmp / f"{path.stem}.events"
        for args in (["--check", "-c", str(path)], ["-c", str(path), "--events", str(events)]):
            with self.subTest(args=" ".join(args)):
                self.assert_exit_2(args, *needles, pattern=pattern)

    # -- cases ---------------------------------------------------------------------------

    def test_valid_config_passes_check(self) -> None:
        path = self.write("valid", valid_config())
        code, stderr = self.hbd("--check", "-c", str(path))
        self.assertEqual(code, 0, f"a valid config was refused:\n{stderr}")

    def test_missing_config_file(self) -> None:
        missing = str(self.lab.tmp / "nonexistent" / "hb.toml")
        for args in (["-c", missing], ["--check", "-c", missing], ["-c", "/nonexistent"]):
            with self.subTest(args=" ".join(args)):
                self.assert_exit_2(args, args[-1])

    def test_unknown_option_is_a_usage_error(self) -> None:
        path = self.write("valid", valid_config())
        self.assert_exit_2(["--no-such-option", "-c", str(path)], "--no-such-option")

    def test_bad_toml(self) -> None:
        unterminated = 'name = "beta'
        text = valid_config().replace(unterminated + '"', unterminated)
        path = self.write("bad_toml", text)
        self.assert_rejected(path, f"{path}:{line_of(text, unterminated)}:")

    def test_unknown_key(self) -> None:
        text = valid_config().replace("[cluster]\n", '[cluster]\ncolour = "blue"\n')
        path = self.write("unknown_key", text)
        self.assert_rejected(path, f"{path}:{line_of(text, 'colour')}:", "colour")

    def test_node_listed_twice(self) -> None:
        base = valid_config()
        beta_block = base[base.index("[[node]]\nid = 2"):]
        text = base + beta_block
        path = self.write("node_twice", text)
        first = line_of(text, "id = 2", occurrence=2)
        block_lines = "|".join(str(first - 1 + offset) for offset in range(4))
        self.assert_rejected(path, pattern=rf"{re.escape(str(path))}:({block_lines}):.*"
                                           rf"(twice|duplicate|already|more than once)")

    def test_adapter_on_unknown_network(self) -> None:
        text = valid_config().replace(BETA_ADAPTER, BETA_ADAPTER.replace("net_a", "net_z"))
        path = self.write("unknown_network", text)
        self.assert_rejected(path, f"{path}:{line_of(text, 'net_z')}:", "net_z")

    def test_bad_address(self) -> None:
        text = valid_config().replace(BETA_ADAPTER,
                                      BETA_ADAPTER.replace("198.18.1.2", "198.18.1.300"))
        path = self.write("bad_address", text)
        self.assert_rejected(path, f"{path}:{line_of(text, '198.18.1.300')}:", "198.18.1.300")

    def test_unreadable_key_file(self) -> None:
        text = valid_config().replace('"cluster.key"', '"missing.key"')
        path = self.write("missing_key", text)
        self.assert_rejected(path, f"{path}:{line_of(text, 'missing.key')}:", "missing.key")


if __name__ == "__main__":
    netns_support.main()
