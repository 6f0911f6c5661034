"""The C API as an application gets it: `meson install` of this build into a temp dir, the example
(tools/examples/hb_watch.c, installed with the library) compiled with `cc $(pkg-config --cflags
--libs hb)` against the installed files only, then run as node 1 of a namespace cluster whose
nodes 2 and 3 are hbds. Killing node 2's hbd must make the example print NODE_DOWN for node 2
(docs/embedding.md).

Needs root, network namespaces, hbd, a C compiler, pkg-config and the build directory (HB_BUILD_DIR,
set by meson); exits 77 saying which is missing.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import unittest
from pathlib import Path

import netns_support
from netns_support import hbnet

EVENT_LINE = re.compile(r"t_ns=(?P<t_ns>\d+) event=(?P<event>[A-Z_]+) node=(?P<node>\d+) "
                        r"name=(?P<name>\S+) network=(?P<network>\S+) adapter=(?P<adapter>\S+) "
                        r"latency_ms=(?P<latency_ms>[\d.]+)$")


# A C++ embedder of the installed headers: prints what a bad config gives, and an event name.
CXX_EMBEDDER = r"""
#include <hb/node.hh>

#include <cstdio>

int main() {
    auto created = hb::Node::from_string("[cluster]\nid = \"seven\"\n", ".");
    if (auto* error = std::get_if<std::string>(&created)) {
        std::printf("%s\n", error->c_str());
    }
    std::printf("%s\n", std::string(hb::event_name(hb::EventKind::node_down)).c_str());
    return created.index() == 1 ? 0 : 1;
}
"""


def build_dir() -> Path:
    return Path(os.environ.get("HB_BUILD_DIR") or hbnet.REPO_ROOT / "build")


def run(argv: list[str], *, env: dict | None = None, timeout: float = 60) -> str:
    """Runs a command; raises naming it and its stderr on failure; returns its stdout."""
    result = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
    if result.returncode != 0:
        raise hbnet.CommandError(f"{' '.join(argv)}: exit {result.returncode}: "
                                 f"{result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(errors="replace")


def problem() -> str | None:
    """Why this module cannot run here, beyond what netns_support checks."""
    for tool in ("cc", "c++", "pkg-config", "meson", "ldd", "nm"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found"
    if not (build_dir() / "meson-private").is_dir():
        return f"no meson build directory at {build_dir()} (set HB_BUILD_DIR)"
    return None


class InstalledExample:
    """This build installed under a temp dir, and the example compiled against that copy alone."""

    def __init__(self, root: Path):
        self.root = root
        run(["meson", "install", "-C", str(build_dir()), "--destdir", str(root), "--no-rebuild",
             "--quiet"], timeout=120)
        self.pc_file = self._one("**/pkgconfig/hb.pc")
        self.library = self._one("**/libhb.so.0")
        self.source = self._one("**/examples/hb_watch.c")
        # The sysroot maps the .pc's prefix into the temp dir; the rest of PKG_CONFIG_PATH
        # stays, for the packages hb.pc names as private requirements.
        self.pkg_env = dict(os.environ, PKG_CONFIG_SYSROOT_DIR=str(root),
                            PKG_CONFIG_PATH=os.pathsep.join(
                                filter(None, [str(self.pc_file.parent),
                                              os.environ.get("PKG_CONFIG_PATH")])))
        self.flags = run(["pkg-config", "--cflags", "--libs", "hb"], env=self.pkg_env).split()
        self.binary = root / "hb_watch"
        run(["cc", "-std=c99", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o",
             str(self.binary), str(self.source), *self.flags], timeout=120)
        self.run_env = dict(os.environ, LD_LIBRARY_PATH=str(self.library.parent))

    def _one(self, pattern: str) -> Path:
        found = sorted(self.root.glob(pattern))
        if len(found) != 1:
            raise AssertionError(f"expected one {pattern} under {self.root}, found {found}")
        return found[0]


class CApi(unittest.TestCase):
    def setUp(self) -> None:
        self.lab = hbnet.Lab()
        self.addCleanup(self.lab.close)
        self.installed = InstalledExample(self.lab.tmp / "install")

    def test_install_holds_library_headers_pkg_config_and_tools(self) -> None:
        installed = self.installed
        for name in ("hbd", "hbping"):
            self.assertEqual(len(list(installed.root.glob(f"**/bin/{name}"))), 1, name)
        for header in ("hb/hb/hb.h", "hb/hb/node.hh", "hb/tools/node/config.hh"):
            self.assertEqual(len(list(installed.root.glob(f"**/include/{header}"))), 1, header)
        # Flags point into the install, not at this source tree or build directory.
        self.assertIn("-lhb", installed.flags)
        for flag in installed.flags:
            if flag.startswith(("-I", "-L")):
                self.assertTrue(flag[2:].startswith(str(installed.root)), flag)
        # The example runs on the installed library, not on the build directory's copy.
        linked = run(["ldd", str(installed.binary)], env=installed.run_env)
        self.assertIn(f"libhb.so.0 => {installed.library}", linked)
        # The C++ API from the installed headers alone: a config error comes back with its line.
        source = installed.root / "cxx_embedder.cc"
        source.write_text(CXX_EMBEDDER)
        binary = installed.root / "cxx_embedder"
        run(["c++", "-std=c++20", "-Wall", "-Wextra", "-pedantic", "-Werror", "-o", str(binary),
             str(source), *installed.flags], timeout=180)
        printed = run([str(binary)], env=installed.run_env)
        self.assertIn("<config>:2:", printed)
        self.assertIn("NODE_DOWN", printed)
        # The library exports the API, and not the modules inside it.
        symbols = run(["nm", "-D", "-C", "--defined-only", str(installed.library)])
        self.assertIn(" hb_create_from_file", symbols)
        self.assertIn("hb::Node::poll(long)", symbols)
        self.assertNotIn("UdpTransport", symbols)

    def test_example_reports_node_down_when_hbd_is_killed(self) -> None:
        # gamma, a third node (hbd), is the witness: a lone survivor of a two-node cluster cannot
        # tell its peer's death from its own isolation, and rightly says ISOLATED (DESIGN §6).
        cluster = hbnet.Cluster(self.lab, ("alpha", "beta", "gamma"),
                                timing=netns_support.TIMING)
        alpha = cluster.node("alpha")
        output_path = self.lab.tmp / "hb_watch.out"
        log_path = self.lab.tmp / "hb_watch.log"
        with open(output_path, "wb") as output, open(log_path, "wb") as log:
            example = self.lab.spawn(alpha.host, [str(self.installed.binary),
                                                  str(alpha.config_path)],
                                     stdout=output, stderr=log, env=self.installed.run_env)
        cluster.start("beta")
        cluster.start("gamma")

        def lines() -> list[str]:
            return output_path.read_text(errors="replace").splitlines()

        def events() -> list[dict]:
            found = []
            for line in lines():
                match = EVENT_LINE.match(line)
                if match:
                    event = match.groupdict()
                    event["t_ns"], event["node"] = int(event["t_ns"]), int(event["node"])
                    event["latency_ms"] = float(event["latency_ms"])
                    found.append(event)
            return found

        def wait_event(name: str, node: int, timeout: float) -> dict:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                for event in events():
                    if event["event"] == name and event["node"] == node:
                        return event
                if example.poll() is not None:
                    break
                time.sleep(hbnet.POLL_S)
            self.fail(f"hb_watch printed no {name} for node {node} within {timeout} s "
                      f"(exit {example.poll()})\n--- output ---\n" + "\n".join(lines()) +
                      "\n--- stderr ---\n" + log_path.read_text(errors="replace"))

        up = wait_event("NODE_UP", 2, timeout=10)
        self.assertEqual(up["name"], "beta")
        wait_event("NODE_UP", 3, timeout=10)
        # hbd sees the embedded node as any other: the two implementations agree on the wire.
        cluster.wait_for_each(("beta", "gamma"), timeout=10, event="NODE_UP", node=1)

        killed_ns = cluster.kill("beta")
        bound_ms = 3 * cluster.detection_ms
        down = wait_event("NODE_DOWN", 2, timeout=max(2.0, 20 * bound_ms / 1000))
        self.assertGreaterEqual(down["t_ns"], killed_ns, "decided before the kill")
        self.assertLessEqual(down["latency_ms"], bound_ms)
        self.assertLessEqual((down["t_ns"] - killed_ns) / 1e6,
                             bound_ms + netns_support.SCHEDULING_SLACK_MS)
        false = [event for event in events() if event["event"] in netns_support.FALSE_VERDICTS]
        self.assertEqual(false, [], "false verdicts for a crash")

        # A graceful stop: exit 0, then the statistics read through the C API.
        example.send_signal(signal.SIGTERM)
        self.assertEqual(example.wait(timeout=10), 0, log_path.read_text(errors="replace"))
        stats = [line for line in lines() if line.startswith("stats: ")]
        self.assertEqual(len(stats), 1, "\n".join(lines()))
        accepted = int(re.search(r"beats_accepted=(\d+)", stats[0]).group(1))
        self.assertGreater(accepted, 0, stats[0])
        path = [line for line in lines() if line.startswith("path: peer=2 ")]
        self.assertEqual(len(path), 1, "\n".join(lines()))
        self.assertIn("state=DOWN", path[0])
        path = [line for line in lines() if line.startswith("path: peer=3 ")]
        self.assertEqual(len(path), 1, "\n".join(lines()))
        self.assertIn("state=UP", path[0])
        # gamma saw the example leave gracefully, not die.
        cluster.wait_for("gamma", timeout=5, event="NODE_LEFT", node=1)


if __name__ == "__main__":
    if (reason := problem()) is not None:
        print(f"SKIP: {reason}")
        sys.exit(netns_support.SKIP_EXIT_CODE)
    netns_support.main()
