"""Hours, not seconds: the service as shipped under a day's traffic, profiler on.

Whether anything leaks or gets lost over hours, not seconds.

Bakes a service with the default answers and runs it (its image, the headline,
or a local process) beside a real ddapm-test-agent on free loopback ports, for
``--duration`` minutes (rounded to whole traffic cycles). Traffic cycles
through three phases: light (one paced client per endpoint), closed (the same
clients back to back) and burst (more workload clients than the service's 2
workload slots: some 503s by design). Meanwhile:

- the runtime control file (PROFILING_CONTROL_FILE) changes the profile set at
  every cycle: CPU+lock, CPU, CPU+memory, CPU, off, CPU, truth on demand (the
  sampler's interval capped at 2 ms with an "until" up to a minute before the
  cycle ends, so the cap lapses by itself while the file still asks; from
  the ninth cycle on, so runs of 12 minutes or more), CPU, CPU+exception, CPU, ...
  (the first and last cycles run the shipped default, the CPU profile alone);
- the test agent is stopped for a minute or two and started again (once in a
  run under 30 minutes, twice otherwise), away from the memory and off cycles;
- every 10 s a CSV row: RSS, threads, open fds, CPU, requests ok/503/errors and
  p50/p99 of the window, phase, agent up/down, uploads received so far;
- at the end the service gets SIGTERM: it must exit cleanly and its final
  profile must arrive.

The upload interval is shortened to 10 s (DD_PROFILING_UPLOAD_INTERVAL; the
default is 60 s) so that even a short run sees many upload intervals.

    .venv/bin/python -m bench.soak --target process --duration 8     # a smoke run
    .venv/bin/python -m bench.soak --duration 120                    # the published run: image, 2 hours

Writes bench/results/soak-<target>-<date>-<minutes>min.csv, .png (with
matplotlib installed), .txt (the verdict table) and .json (verdicts and the
record behind them). ``--template`` bakes another checkout, e.g. a
``git archive`` of a release, instead of this working tree.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from array import array
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from perf_gate.service import RunError, Service

from bench.service_under_load import CpuPlacement
from bench.soak_load import Load, Window
from bench.soak_observe import ProcessState, RestartableAgent, ServiceLog, Upload, off_periods, process_state
from bench.soak_observe import profiling_in_force as read_profiling_in_force
from bench.soak_plan import MEMORY_STEP, STEP_SECONDS, TRUTH_CAP_MS, TRUTH_STEP, Plan, plan_for
from bench.soak_plot import plot
from bench.soak_report import RunRecord, Sample, evaluate, summary_text, write_csv
from bench.soak_service import (
    UPLOAD_INTERVAL_SECONDS,
    ControlFile,
    Target,
    log,
    prepare_target,
    service_environment,
    stop_service,
)
from bench.soak_stats import percentile
from harness.bake import bake
from harness.docker import engine_unavailable_reason

ROOT = Path(__file__).resolve().parents[1]

# ---- the run ---------------------------------------------------------------------


@dataclass
class Soak:
    """One run: applies the plan step by step and samples after each step."""

    plan: Plan
    service: Service
    agent: RestartableAgent
    control: ControlFile
    load: Load
    service_log: ServiceLog
    started: float = field(default_factory=time.monotonic)
    started_epoch: float = field(default_factory=time.time)
    samples: list[Sample] = field(default_factory=list)
    # Every 200's latency (ms), per window, for the per-phase p99s: hours of them,
    # so packed as doubles rather than Python floats.
    latencies: list[array[float]] = field(default_factory=list)
    uploads: list[Upload] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    _state: dict[str, object] = field(default_factory=dict)

    def run(self) -> None:
        self._cpu_at_start = self.service.cpu_seconds()
        for t in range(0, self.plan.duration, STEP_SECONDS):
            self._apply(t)
            time.sleep(max(0.0, self.started + t + STEP_SECONDS - time.monotonic()))
            if self.service.exited():
                raise RuntimeError(f"the service exited at {t + STEP_SECONDS} s:\n{self.service.logs()[-3000:]}")
            self._sample(t)
        for kind, count in self.load.stop().errors.items():
            self.errors[kind] += count

    def _apply(self, t: int) -> None:
        """Whatever changes at ``t``: the traffic phase, the agent, the profile set."""
        plan, state = self.plan, self._state
        if state.get("phase") != (phase := plan.phase_at(t)):
            self.load.phase(phase)
            state["phase"] = phase
        if state.get("agent_up", True) != (up := plan.agent_up_at(t)):
            if up:
                self.agent.start()
            else:
                self.uploads += self.agent.stop()
            log(f"{t:5d} s: agent {'started' if up else 'stopped'}")
            state["agent_up"] = up
        if state.get("step") != (step := plan.step_at(t)):
            if "step" in state:  # the first cycle runs the environment's set, no file
                name, document = step
                if name == TRUTH_STEP and document is not None:
                    lapse = datetime.fromtimestamp(self.started_epoch + plan.truth_cap_end(t), UTC)
                    document = {**document, "until": lapse.isoformat(timespec="seconds")}
                self.control.write(document)
                log(f"{t:5d} s: profile set -> {name}")
            state["step"] = step

    def _sample(self, t: int) -> None:
        window = self.load.window()
        process = process_state(self.service.pid)
        if self.agent.up:
            self.uploads += self.agent.collect()
        self.service_log.read()
        previous_cpu = self.samples[-1].cpu_seconds if self.samples else self._cpu_at_start
        self.samples.append(self._row(t + STEP_SECONDS, window, process, previous_cpu))
        self.latencies.append(array("d", window.latencies_ms))
        for kind, count in window.errors.items():
            self.errors[kind] += count

    def _row(self, elapsed: int, window: Window, process: ProcessState, previous_cpu: float) -> Sample:
        handled = window.ok + window.unavailable + sum(window.errors.values())
        step = self.plan.step_at(elapsed - STEP_SECONDS)
        return Sample(
            elapsed_s=elapsed,
            time_utc=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            phase=self.plan.phase_at(elapsed - STEP_SECONDS),
            agent="up" if self.plan.agent_up_at(elapsed - STEP_SECONDS) else "down",
            profiles_asked=step[0],
            profiles_in_force=read_profiling_in_force(self.service.url),
            rss_mib=process.rss_mib,
            threads=process.threads,
            open_fds=process.open_fds,
            cpu_seconds=process.cpu_seconds,
            cpu_ms_per_request=(process.cpu_seconds - previous_cpu) * 1000 / handled if handled else float("nan"),
            ok=window.ok,
            http_503=window.unavailable,
            errors=sum(window.errors.values()),
            p50_ms=percentile(window.latencies_ms, 0.50),
            p99_ms=percentile(window.latencies_ms, 0.99),
            uploads_received=len(self.uploads),
            upload_failures_logged=self.service_log.upload_failures,
        )


def profiling_off(soak: Soak, end: float) -> list[tuple[float, float]]:
    """When the profiler was off: from the service's own lines when it logged
    its switches, else the plan's off cycles widened by the control file's poll
    (5 s) and a flush."""
    if soak.service_log.profiling_switches:
        return off_periods(soak.service_log.profiling_switches, end)
    epoch = soak.started_epoch
    return [(epoch + start, epoch + stop + 10) for start, stop in soak.plan.spans_of("off")]


def finish(soak: Soak, target: Target) -> RunRecord:
    """SIGTERM, the final upload, and everything the run recorded."""
    sigterm = time.time()
    status, clean = stop_service(soak.service)
    stopped = time.time() - sigterm
    soak.uploads += soak.agent.stop()
    target.logs_complete()
    soak.service_log.read()
    final_logged = soak.service_log.final_uploads[-1][1] if soak.service_log.final_uploads else "not logged"
    plan = soak.plan
    return RunRecord(
        target=target.name,
        python=target.python,
        duration_s=plan.duration,
        cycle_s=plan.cycle,
        warmup_s=plan.warmup,
        step_s=STEP_SECONDS,
        upload_interval_s=UPLOAD_INTERVAL_SECONDS,
        started_epoch=soak.started_epoch,
        samples=soak.samples,
        latencies=soak.latencies,
        uploads=soak.uploads,
        agent_down=[(float(a), float(b)) for a, b in plan.agent_down],
        profiling_off_epoch=profiling_off(soak, time.time()),
        memory_windows=plan.spans_of(MEMORY_STEP),
        truth_windows=[(start, plan.truth_cap_end(int(start)), end) for start, end in plan.spans_of(TRUTH_STEP)],
        errors=dict(soak.errors),
        upload_failures_logged=soak.service_log.upload_failures,
        failure_warnings=soak.service_log.failure_warnings,
        traces_dropped=soak.service_log.traces_dropped,
        log_problems=dict(soak.service_log.problems),
        exit_status=status,
        exit_clean=clean,
        exit_seconds=stopped,
        final_upload_arrived=any(upload.end >= sigterm for upload in soak.uploads),
        final_upload_logged=final_logged,
    )


def soak_target(name: str, plan: Plan, workdir: Path, cores: CpuPlacement, template: Path) -> RunRecord:
    target = prepare_target(name, bake(workdir, template), workdir, cores.service, template)
    agent = RestartableAgent(workdir / "agent.log")
    control = ControlFile(workdir / "control")
    service: Service | None = None
    load: Load | None = None
    try:
        agent.start()
        service = target.start(service_environment(agent), control)
        service.wait_until_serving()
        load = Load(service.url, cores.load)
        soak = Soak(plan, service, agent, control, load, ServiceLog(target.log_path))
        soak.run()
        return finish(soak, target)
    finally:
        if load is not None:
            load.stop()
        # Already stopped (and, a container, removed) when the run got to its end.
        with contextlib.suppress(RunError):
            if service is not None:
                service.stop()
        agent.stop()
        target.cleanup()


# ---- output ----------------------------------------------------------------------


def template_label(template: Path) -> str:
    """The baked template as a reader can find it again: its commit, not a path on this machine."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=template, capture_output=True, text=True, check=False
    )
    return f"commit {commit.stdout.strip()}" if commit.returncode == 0 else f"the template folder {template.name!r}"


def header(record: RunRecord, plan: Plan, template: Path) -> list[str]:
    down = ", ".join(f"{a / 60:g}-{b / 60:g} min" for a, b in plan.agent_down) or "never"
    return [
        f"## Soak: {record.target} (Python {record.python}), {plan.duration / 60:g} min, "
        f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores",
        f"The service as shipped (a default bake of {template_label(template)}) beside ddapm-test-agent. "
        f"Traffic cycles of {plan.cycle} s: "
        f"light {plan.cycle // 2} s, closed {plan.cycle // 3} s, burst {plan.cycle // 6} s. The profile set "
        f"changes every cycle through the control file (truth on demand, a {TRUTH_CAP_MS} ms sampling cap with "
        f"an 'until', included); agent down: {down}. A sample every {STEP_SECONDS} s; "
        f"warm-up (left out of slopes and drift): {plan.warmup / 60:g} min.",
        f"DD_PROFILING_UPLOAD_INTERVAL={UPLOAD_INTERVAL_SECONDS} s (ddtrace's default is 60 s), so that this "
        "run sees many upload intervals.",
    ]


def write_outputs(record: RunRecord, plan: Plan, prefix: Path, template: Path) -> None:
    verdicts = evaluate(record)
    write_csv(record.samples, prefix.with_suffix(".csv"))
    text = summary_text(record, verdicts, header(record, plan, template))
    prefix.with_suffix(".txt").write_text(text)
    # Everything the verdicts read but the CSV's rows and the raw latencies.
    recorded = {key: value for key, value in asdict(record).items() if key not in ("samples", "latencies")}
    document = {"plan": asdict(plan), "verdicts": [asdict(verdict) for verdict in verdicts], "record": recorded}
    prefix.with_suffix(".json").write_text(json.dumps(document, indent=1) + "\n")
    title = f"soak, {record.target} (Python {record.python}), upload interval {UPLOAD_INTERVAL_SECONDS} s"
    problem = plot(record.samples, STEP_SECONDS, title, prefix.with_suffix(".png"))
    print(text)
    log(problem or f"wrote {prefix}.csv, .txt, .json and .png")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=("image", "process"), default="image")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="minutes, rounded to whole traffic cycles; at least 3 (120)"
    )
    parser.add_argument(
        "--template",
        type=Path,
        default=ROOT,
        help="the template checkout to bake (default: this working tree; a release: `git archive <tag>` of it)",
    )
    parser.add_argument("--pin", action="store_true", help="the service on one core, the load on the others")
    parser.add_argument(
        "--out", type=Path, default=ROOT / "bench" / "results", help="where the CSV, plot and summary go"
    )
    arguments = parser.parse_args(argv)
    if arguments.duration < 3:
        parser.error("--duration must be at least 3 minutes")
    return arguments


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    if arguments.target == "image" and (reason := engine_unavailable_reason()) is not None:
        sys.exit(f"soak: the image target needs Docker: {reason}")
    plan = plan_for(arguments.duration)
    log(f"{arguments.target}: {plan.duration / 60:g} min, cycles of {plan.cycle} s, agent down at {plan.agent_down}")
    with tempfile.TemporaryDirectory(prefix="soak-") as scratch:
        placement = CpuPlacement.choose(arguments.pin)
        record = soak_target(arguments.target, plan, Path(scratch), placement, arguments.template)
    arguments.out.mkdir(parents=True, exist_ok=True)
    prefix = arguments.out / f"soak-{arguments.target}-{time.strftime('%Y-%m-%d')}-{plan.duration // 60}min"
    write_outputs(record, plan, prefix, arguments.template)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
