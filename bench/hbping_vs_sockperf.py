#!/usr/bin/env python3
"""hbping's round trip against sockperf ping-pong on the same namespace pair, in one run: p50
ratio and CPU per ping of each side.

    python3 bench/hbping_vs_sockperf.py [--seconds 10] [--rate 1000] [--rounds 2] [--out FILE]

Two namespaces on one bridge (veth), 112-byte datagrams, the same paced rate for both tools, the
tools alternating round by round so that drift of the host hits both alike. CPU is each process's
user + system time from wait4(2) (the kernel's precise runtime, not ticks), divided by the pings
it sent or answered. Needs root, a built tree (build/tools/hbping or $HBPING) and sockperf.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO / "tools" / "lib"))
import hbnet  # noqa: E402
from benchstats import median  # noqa: E402
from netns_bench import SOCKPERF_EDGE, SOCKPERF_PERCENTILE, pair  # noqa: E402

SOCKPERF_PORT = "11111"
SOCKPERF_SENT = "SentMessages="


# Client on CPU 0, server on CPU 1, for both tools alike: on a 2-vCPU machine, leaving placement
# to the scheduler makes the p50 jump between ~15 and ~60 µs from one run to the next.
PIN = {"client": ["taskset", "-c", "0"], "server": ["taskset", "-c", "1"]}


def hbping_path() -> str:
    return os.environ.get("HBPING") or str(REPO / "build" / "tools" / "hbping")


def cpu_s_of(process: subprocess.Popen, stop: bool) -> float:
    """Reaps the process (SIGTERM first when `stop`) and returns its user + system seconds."""
    if stop:
        # os.kill, not Popen.send_signal: that one polls first, and reaping the process there
        # would lose its rusage. A zombie takes the signal harmlessly.
        os.kill(process.pid, signal.SIGTERM)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def spawn_client(lab: hbnet.Lab, host: hbnet.Host, argv: list[str]) -> subprocess.Popen:
    """Its stdout and stderr in one pipe, read to the end before it is reaped."""
    return lab.spawn(host, argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run_hbping(lab, a, b, seconds: int, rate: int) -> dict:
    count = seconds * rate
    server = lab.spawn(b, [*PIN["server"], hbping_path(), "-r", "-a", "198.18.1.2", "--json",
                           "-c", str(count)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    client = spawn_client(lab, a, [*PIN["client"], hbping_path(), "-s", "-a", "198.18.1.2",
                                   "-c", str(count), "-i", f"{1 / rate:.6f}", "--max-loss", "100",
                                   "--json"])
    output = client.stdout.read().decode()
    client_cpu_s = cpu_s_of(client, stop=False)
    server_cpu_s = cpu_s_of(server, stop=True)
    document = json.loads(output.splitlines()[-1])  # the document is the last line
    (peer,) = document["responders"]
    rtt = peer["rtt_ms"]
    return {
        "tool": "hbping", "sent": document["transmitted"], "received": peer["received"],
        "min": rtt["min"] * 1000, "p50": rtt["p50"] * 1000, "p99": rtt["p99"] * 1000,
        "p99_9": rtt["p99_9"] * 1000, "max": rtt["max"] * 1000,
        # hbping's RTT leaves out the time the reply was held at the responder (the protocol's
        # echo hold); sockperf's includes it, so the comparison adds it back.
        "hold_avg_us": peer["hold_avg_ms"] * 1000,
        "client_cpu_us_per_ping": client_cpu_s * 1e6 / document["transmitted"],
        "server_cpu_us_per_ping": server_cpu_s * 1e6 / max(peer["received"], 1),
    }


def run_sockperf(lab, a, b, seconds: int, rate: int) -> dict:
    server = lab.spawn(b, [*PIN["server"], "sockperf", "server", "-i", "198.18.1.2",
                           "-p", SOCKPERF_PORT],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    client = spawn_client(lab, a, [*PIN["client"], "sockperf", "ping-pong", "-i", "198.18.1.2",
                                   "-p", SOCKPERF_PORT, "-m", "112", "-t", str(seconds),
                                   "--full-rtt", "--mps", str(rate)])
    output = client.stdout.read().decode()
    client_cpu_s = cpu_s_of(client, stop=False)
    server_cpu_s = cpu_s_of(server, stop=True)
    sent = 0
    for line in output.splitlines():
        if SOCKPERF_SENT in line:
            sent = int(line.split(SOCKPERF_SENT)[1].split(";")[0])
    result = {"tool": "sockperf", "sent": sent, "hold_avg_us": 0.0,
              "client_cpu_us_per_ping": client_cpu_s * 1e6 / max(sent, 1),
              "server_cpu_us_per_ping": server_cpu_s * 1e6 / max(sent, 1)}
    names = {"50.000": "p50", "99.000": "p99", "99.900": "p99_9"}
    for percent, value in SOCKPERF_PERCENTILE.findall(output):
        if percent in names:
            result[names[percent]] = float(value)
    for edge, value in SOCKPERF_EDGE.findall(output):
        result[edge.lower()] = float(value)
    if "p50" not in result:
        raise RuntimeError(f"no percentiles in sockperf's output:\n{output}")
    return result


def git_commit() -> str:
    result = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                           capture_output=True, text=True).stdout.strip()
    return result.stdout.strip() + (" + uncommitted changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="pings per second (both tools)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="write every result as JSON here")
    args = parser.parse_args()
    if shutil.which("sockperf") is None:
        sys.exit("sockperf is not installed (apt-get install sockperf)")
    if not Path(hbping_path()).is_file():
        sys.exit(f"hbping not found at {hbping_path()} (build it, or set HBPING)")
    problem = hbnet.netns_problem()
    if problem:
        sys.exit(problem)

    rounds = []
    with hbnet.Lab() as lab:
        a, b = pair(lab)
        for _ in range(args.rounds):
            rounds.append({"sockperf": run_sockperf(lab, a, b, args.seconds, args.rate),
                           "hbping": run_hbping(lab, a, b, args.seconds, args.rate)})

    lines = ["| round | tool | pings | min | p50 | p99 | p99.9 | max (µs) | client CPU/ping | "
             "server CPU/ping (µs) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for index, result in enumerate(rounds, start=1):
        for tool in ("sockperf", "hbping"):
            r = result[tool]
            lines.append(f"| {index} | {tool} | {r['sent']} | {r['min']:.1f} | {r['p50']:.1f} | "
                         f"{r['p99']:.1f} | {r['p99_9']:.1f} | {r['max']:.1f} | "
                         f"{r['client_cpu_us_per_ping']:.1f} | "
                         f"{r['server_cpu_us_per_ping']:.1f} |")
    ratios = [r["hbping"]["p50"] / r["sockperf"]["p50"] for r in rounds]
    ratios_with_hold = [(r["hbping"]["p50"] + r["hbping"]["hold_avg_us"]) / r["sockperf"]["p50"]
                        for r in rounds]
    summary = {
        "p50_ratio_median": median(ratios),
        "p50_ratio_with_hold_median": median(ratios_with_hold),
        "p50_ratios": ratios,
        "p50_ratios_with_hold": ratios_with_hold,
    }
    machine = {"nproc": os.cpu_count(), "uname_r": platform.release(), "commit": git_commit()}
    print("\n".join(lines))
    print(f"\nhbping / sockperf p50: {', '.join(f'{x:.2f}' for x in ratios)} "
          f"(median {summary['p50_ratio_median']:.2f}); with hbping's echo hold added back: "
          f"{', '.join(f'{x:.2f}' for x in ratios_with_hold)}")
    print(f"machine: nproc={machine['nproc']} uname -r={machine['uname_r']} "
          f"commit={machine['commit']}")
    if args.out:
        args.out.write_text(json.dumps({"args": vars(args) | {"out": str(args.out)},
                                        "machine": machine, "rounds": rounds,
                                        "summary": summary}, indent=1) + "\n")


if __name__ == "__main__":
    main()
