#!/usr/bin/env python3
"""Builds hb in another configuration, in a build directory of its own, and runs tests there.

CI's sanitizer, fuzz and no-DPDK/liburing builds are tests of the main build (tests/builds/
meson.build), so that each one is a line of meson's summary and fails the run when it fails:

  test       configure BUILD_DIR (again if its arguments changed), build only what the chosen
             tests need (or everything, --all), run them with `meson test`
  fuzz       configure BUILD_DIR and build its libFuzzer targets (locked: the fuzz tests share
             the directory), then run-fuzzer on one of them
  run-fuzzer run a libFuzzer binary for --seconds over a scratch copy of its seed corpus;
             crash inputs are kept in --artifacts and dumped in hex into the log

Exit status: 0 passed, 1 failed (libFuzzer's own 77 would read as a skip to meson).
"""

import argparse
import fcntl
import glob
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SETUP_STAMP = "hb-ci-setup.json"


def log(message):
    print(f"== {message}", flush=True)


class Clock:
    """Wall and CPU seconds (of the processes this one waited for) since the last lap: the CPU
    time is what a run costs on an idle machine, whatever else shares this one."""

    def __init__(self):
        self.wall, self.cpu = time.monotonic(), Clock.children_cpu()

    @staticmethod
    def children_cpu():
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def lap(self, what):
        wall, cpu = time.monotonic(), Clock.children_cpu()
        text = f"{what} {wall - self.wall:.0f} s (CPU {cpu - self.cpu:.0f} s)"
        self.wall, self.cpu = wall, cpu
        return text


def run(command, env=None, cwd=None):
    log("$ " + " ".join(command))
    return subprocess.run(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL).returncode


class Lock:
    """An exclusive lock on BUILD_DIR.lock: meson and ninja must not run twice in one directory."""

    def __init__(self, build_dir):
        os.makedirs(os.path.dirname(os.path.abspath(build_dir)), exist_ok=True)
        self.file = open(os.path.abspath(build_dir) + ".lock", "w", encoding="utf-8")

    def __enter__(self):
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def configure(args):
    """meson setup, unless BUILD_DIR was set up with exactly these arguments and compiler."""
    wanted = {"source": os.path.abspath(args.source), "cxx": args.cxx, "setup": args.setup}
    stamp = os.path.join(args.build_dir, SETUP_STAMP)
    if os.path.exists(os.path.join(args.build_dir, "build.ninja")) and os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as file:
            if json.load(file) == wanted:
                return True  # ninja re-runs meson by itself when a meson.build changed
    shutil.rmtree(args.build_dir, ignore_errors=True)
    env = dict(os.environ)
    if args.cxx:
        env["CXX"] = args.cxx
    if run(["meson", "setup", args.build_dir, args.source] + args.setup, env=env) != 0:
        log(f"FAILED: meson setup {args.build_dir}")
        return False
    with open(stamp, "w", encoding="utf-8") as file:
        json.dump(wanted, file)
    return True


def introspect(build_dir, what):
    output = subprocess.run(["meson", "introspect", what, build_dir], check=True,
                            capture_output=True, text=True).stdout
    return json.loads(output)


def chosen_tests(args):
    """The tests of BUILD_DIR in --suite or named by --test; every --test must exist."""
    tests = introspect(args.build_dir, "--tests")
    names = {test["name"] for test in tests}
    missing = [name for name in args.test if name not in names]
    if missing:
        log(f"FAILED: no test named {', '.join(missing)} in {args.build_dir}")
        return None
    suites = set(args.suite)
    return [test for test in tests if test["name"] in args.test or
            any(suite.split(":")[-1] in suites for suite in test["suite"])]


def outputs_of(build_dir, target_ids):
    """The files ninja builds for these target ids, relative to the build directory."""
    outputs = []
    for target in introspect(build_dir, "--targets"):
        if target["id"] in target_ids:
            outputs += [os.path.relpath(name, build_dir) for name in target["filename"]]
    return outputs


def command_test(args):
    clock = Clock()
    laps = []
    with Lock(args.build_dir):
        laps.append(clock.lap("waiting for the lock"))
        if not configure(args):
            return 1
        laps.append(clock.lap("configure"))
        tests = chosen_tests(args)
        if tests is None:
            return 1
        if not tests:
            log(f"FAILED: no tests chosen in {args.build_dir}")
            return 1
        targets = [] if args.all else outputs_of(
            args.build_dir, {target for test in tests for target in test["depends"]})
        if run(["ninja", "-C", args.build_dir] + sorted(set(targets))) != 0:
            log(f"FAILED: building {args.build_dir}")
            return 1
        laps.append(clock.lap("build"))
        env = dict(os.environ)
        env.update(dict(pair.split("=", 1) for pair in args.env))
        command = ["meson", "test", "-C", args.build_dir, "--no-rebuild", "--print-errorlogs",
                   "--num-processes", str(args.processes),
                   "--timeout-multiplier", str(args.timeout_multiplier)]
        status = run(command + [test["name"] for test in tests], env=env)
        laps.append(clock.lap(f"{len(tests)} tests"))
    log(f"{args.build_dir}: {', '.join(laps)}: {'passed' if status == 0 else 'FAILED'}")
    return 0 if status == 0 else 1


def hex_dump(path, limit=4096):
    with open(path, "rb") as file:
        data = file.read(limit + 1)
    lines = [f"{offset:08x}  {data[offset:offset + 16].hex(' ')}"
             for offset in range(0, min(len(data), limit), 16)]
    if len(data) > limit:
        lines.append(f"... (first {limit} bytes shown)")
    return "\n".join(lines)


def command_run_fuzzer(args):
    name = os.path.basename(args.fuzzer)
    shutil.rmtree(args.artifacts, ignore_errors=True)
    os.makedirs(args.artifacts)
    fuzzer_log = os.path.join(args.artifacts, "fuzzer.log")
    seeds = len(os.listdir(args.corpus))
    # libFuzzer adds what it finds to the first directory: a scratch one, never the checked-in
    # corpus, which is only read.
    with tempfile.TemporaryDirectory(prefix=f"hb-{name}-") as scratch:
        command = [args.fuzzer, f"-max_total_time={args.seconds}", "-timeout=20",
                   "-rss_limit_mb=2048", "-error_exitcode=1", "-timeout_exitcode=1",
                   "-print_final_stats=1", f"-artifact_prefix={args.artifacts}/",
                   scratch, args.corpus]
        log("$ " + " ".join(command))
        with open(fuzzer_log, "w", encoding="utf-8") as output:
            status = subprocess.run(command, stdout=output, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL).returncode
        found = len(os.listdir(scratch))
    with open(fuzzer_log, encoding="utf-8", errors="replace") as file:
        lines = file.read().splitlines()
    # The final statistics on success; the sanitizer's or assertion's report on failure.
    print("\n".join(lines[-(80 if status else 12):]))
    artifacts = sorted(path for path in glob.glob(os.path.join(args.artifacts, "*"))
                       if os.path.basename(path) != "fuzzer.log")
    for path in artifacts:
        print(f"\n{path} ({os.path.getsize(path)} bytes); replay: {args.fuzzer} {path}")
        print(hex_dump(path))
    log(f"{name}: {args.seconds} s from {seeds} seeds, {found} new inputs, "
        f"{len(artifacts)} artifacts, exit {status}: {'passed' if status == 0 else 'FAILED'}"
        f" (log: {fuzzer_log})")
    return 0 if status == 0 else 1


def command_fuzz(args):
    clock = Clock()
    with Lock(args.build_dir):
        if not configure(args):
            return 1
        # Every fuzz target at once: the first fuzz test builds them on both cores while the
        # others wait for the lock, then find theirs built.
        fuzz_dir = os.path.join(os.path.abspath(args.build_dir), "tests", "fuzz")
        targets = [os.path.relpath(name, args.build_dir)
                   for target in introspect(args.build_dir, "--targets")
                   for name in target["filename"]
                   if target["type"] == "executable" and os.path.dirname(name) == fuzz_dir]
        if run(["ninja", "-C", args.build_dir] + sorted(targets)) != 0:
            log(f"FAILED: building the fuzz targets in {args.build_dir}")
            return 1
    log(f"{args.build_dir}: {clock.lap('configure, build and waiting for the lock')}")
    args.fuzzer = os.path.join(args.build_dir, "tests", "fuzz", args.target)
    return command_run_fuzzer(args)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    def add_build_arguments(command):
        command.add_argument("--source", required=True, help="the source tree")
        command.add_argument("--build-dir", required=True)
        command.add_argument("--cxx", help="the C++ compiler (CXX), if not meson's default")
        command.add_argument("--setup", action="append", default=[],
                             help="an argument of meson setup (repeatable): --setup=-Dx=y")

    def add_fuzzer_arguments(command):
        command.add_argument("--corpus", required=True, help="the seed corpus (read only)")
        command.add_argument("--seconds", type=int, default=25)
        command.add_argument("--artifacts", required=True,
                             help="where crash inputs and the fuzzer's log go (emptied first)")

    test = commands.add_parser("test")
    add_build_arguments(test)
    test.add_argument("--suite", action="append", default=[])
    test.add_argument("--test", action="append", default=[])
    test.add_argument("--all", action="store_true", help="build every target, not only the tests'")
    test.add_argument("--env", action="append", default=[], help="NAME=VALUE for the tests")
    test.add_argument("--processes", type=int, default=2)
    test.add_argument("--timeout-multiplier", type=int, default=1)

    fuzz = commands.add_parser("fuzz")
    add_build_arguments(fuzz)
    fuzz.add_argument("--target", required=True, help="the fuzz target, e.g. beat_decoder_fuzz")
    add_fuzzer_arguments(fuzz)

    run_fuzzer = commands.add_parser("run-fuzzer")
    run_fuzzer.add_argument("--fuzzer", required=True, help="the libFuzzer binary")
    add_fuzzer_arguments(run_fuzzer)

    args = parser.parse_args()
    handler = {"test": command_test, "fuzz": command_fuzz, "run-fuzzer": command_run_fuzzer}
    return handler[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
