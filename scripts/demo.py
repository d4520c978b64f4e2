"""The whole idea in one run, with no Datadog account.

Bakes a service with the default answers, stamps it with this checkout's
commit as an image build would, starts ddapm-test-agent as the stand-in for the
Datadog Agent, runs the service, drives its workload endpoints, stops it with
SIGTERM (which flushes the last profile), and prints what the agent received.
The profiles outlive the demo in a folder it names, with the commands that
read them again.

Run it through ``python3 dev.py demo`` (which installs what it needs).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from perf_gate.agent_source import span_ids_of_trace
from perf_gate.service import ServiceProcess

from harness import agent as agent_support
from harness.agent import ProfileUpload
from harness.bake import BakeError, bake

ROOT = Path(__file__).resolve().parents[1]

DEMO_VERSION = "0.1.0-demo"
UPLOAD_INTERVAL_SECONDS = "2"
ROUNDS = 5
# The caller's trace one request joins, as its logs or traceparent would show it.
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
STARTED = time.monotonic()


def template_commit() -> str:
    """This checkout's commit, standing in for the CI build's GIT_SHA."""
    try:
        result = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        )
        return result.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "0" * 40


def step(message: str) -> None:
    """One line per phase, with the seconds since the demo started."""
    print(f"==> {time.monotonic() - STARTED:5.1f} s  {message}", flush=True)


def run_quietly(command: list[str], cwd: Path) -> None:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        sys.exit(f"demo: {' '.join(command)} failed:\n{result.stderr[-4000:]}")


def drive(base_url: str) -> int:
    requests = 0
    with httpx.Client(base_url=base_url, timeout=30) as client:
        for _ in range(ROUNDS):
            for path, params in (
                ("/", {}),
                ("/cpu-intensive", {"iterations": 300_000}),
                ("/memory-alloc", {"size_mb": 16}),
            ):
                response = client.get(path, params=params)
                response.raise_for_status()
                requests += 1
        # One request as part of a caller's trace (W3C traceparent), to follow below.
        traceparent = f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"
        client.get("/cpu-intensive", params={"iterations": 600_000}, headers={"traceparent": traceparent})
        requests += 1
    return requests


def report(uploads: list[ProfileUpload], requests: int) -> None:
    first = uploads[0]
    tags = first.tags
    endpoints: dict[str, int] = {}
    for upload in uploads:
        for endpoint, count in upload.endpoint_counts.items():
            endpoints[endpoint] = endpoints.get(endpoint, 0) + count
    print()
    print(f"The test agent received {len(uploads)} profile uploads for {requests} requests. Each one carried:")
    for key in ("service", "env", "version", "git.commit.sha", "git.repository_url", "team"):
        print(f"  {key:<20} {tags.get(key, '(missing)')}")
    print("Endpoints seen by the profiler (requests counted per endpoint):")
    for endpoint, count in sorted(endpoints.items()):
        print(f"  {endpoint:<20} {count}")


# The perf tool as a service runs it (its Makefile's `perf-gate` targets), here
# from this checkout's package, installed in the template's environment.
PERF_TOOL = [sys.executable, "-m", "perf_gate"]


def shown(path: Path) -> str:
    """``path`` as the reader can type it from where they ran the demo."""
    relative = os.path.relpath(path)
    return path.as_posix() if relative.startswith("..") else relative


def save_profiles(uploads: list[ProfileUpload], folder: Path) -> list[Path]:
    """Each upload's pprof, to read again after the agent is gone."""
    paths = []
    for index, upload in enumerate(uploads):
        path = folder / f"upload-{index:03d}.pprof"
        path.write_bytes(upload.attachments["profile.pprof"])
        paths.append(path)
    return paths


def perf_top(arguments: list[str], project: Path) -> str:
    result = subprocess.run([*PERF_TOOL, "top", *arguments], cwd=project, capture_output=True, text=True, check=False)
    return result.stdout.rstrip() or result.stderr.rstrip()


def where_the_cpu_went(paths: list[Path], project: Path) -> None:
    """What the profiles say, read by the perf tool's `perf-gate top`."""
    print()
    print("Where the CPU went, by function and the endpoint that ran it (`perf-gate top`):")
    print(perf_top(["--limit", "8", *map(str, paths)], project))
    print(
        "Bursts shorter than the sampler's interval (10-100 ms) land partly on the wait after them; "
        'for the truth about short work, put {"max_sampling_interval_ms": 2, "until": "<RFC 3339>"} in the '
        'control file for a while (the service README, "Switch profiling at run time"), or read '
        "thread.cpu_time_ms on the spans."
    )
    print()
    print("In Datadog, the same tags let the profile comparison view point a regression at its commit,")
    print("and the endpoint and span labels lead from a slow request's trace to the code it ran.")


def one_traces_cpu(agent_url: str, spans: list[int], project: Path) -> None:
    """From a trace id to the functions its request burned CPU in."""
    print()
    print(f"One request's CPU, from the trace id its caller sent ({CALLER_TRACE_ID}); the test agent's")
    print(f"traces name its spans ({', '.join(map(str, spans)) or 'none received'}):")
    print(f"  perf-gate top --agent {agent_url} --trace-id {CALLER_TRACE_ID}")
    print(perf_top(["--agent", agent_url, "--trace-id", CALLER_TRACE_ID, "--limit", "5"], project))


def afterwards(folder: Path, spans: list[int]) -> None:
    """Commands that still work once the demo, its service and its agent are gone."""
    tool = shown(Path(sys.executable).with_name("perf-gate"))
    files = f"{shown(folder)}/*.pprof"
    only_the_request = " ".join(f"--span-id {span}" for span in spans)
    print()
    print(f"The service and the test agent stopped with the demo; the profiles stay in {shown(folder)}/:")
    print(f"  {tool} top {files}")
    if spans:
        print(f"  {tool} top {only_the_request} {files}    # the traced request alone")
    print(f"  {tool} samples {files} > samples.jsonl    # every sample: function, values, labels")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the baked service (its path is printed)")
    arguments = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="profiling-demo-"))
    agent = None
    service = None
    try:
        step("baking a service with the default answers")
        baked = bake(workdir)
        project, package, python = baked.project, baked.package, str(baked.python)
        step(f"installing its locked dependencies with uv ({project.name})")
        try:
            baked.sync()
        except BakeError as error:
            sys.exit(f"demo: {error}")
        commit = template_commit()
        step(f"stamping the build: version {DEMO_VERSION}, commit {commit}")
        run_quietly([python, "-m", f"{package}.build_info", DEMO_VERSION, commit], cwd=project)

        step("starting ddapm-test-agent (the stand-in for the Datadog Agent)")
        agent = agent_support.TestAgent(workdir / "test-agent.log").start()
        environment = {
            "DD_TRACE_AGENT_URL": agent.url,
            "DD_PROFILING_UPLOAD_INTERVAL": UPLOAD_INTERVAL_SECONDS,
            "DD_ENV": "demo",
        }
        inherited = {key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"}
        service = ServiceProcess(
            [python, "-m", package], environment, log_path=workdir / "service.log", inherited=inherited
        )
        step(f"starting the service on {service.url}")
        service.wait_until_serving()

        step(f"driving /, /cpu-intensive and /memory-alloc ({ROUNDS} rounds)")
        requests = drive(service.url)
        time.sleep(float(UPLOAD_INTERVAL_SECONDS))
        step("stopping the service with SIGTERM (drain, then flush the last profile)")
        service.stop()
        step("waiting for the last profile upload")
        uploads = agent.wait_for_profiles(count=1, timeout=30)
        spans = sorted(span_ids_of_trace(agent.url, int(CALLER_TRACE_ID, 16)))
        profiles = Path(tempfile.mkdtemp(prefix="profiling-demo-profiles-"))
        step(f"reading {len(uploads)} profiles with perf-gate top (kept in {shown(profiles)}/)")
        paths = save_profiles(uploads, profiles)
        report(uploads, requests)
        where_the_cpu_went(paths, project)
        one_traces_cpu(agent.url, spans, project)
        afterwards(profiles, spans)
        print()
        print(f"demo done in {time.monotonic() - STARTED:.0f} s")
        if arguments.keep:
            print(f"baked service kept in {project}")
        return 0
    finally:
        if service is not None:
            service.stop()
        if agent is not None:
            agent.stop()
        if not arguments.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
