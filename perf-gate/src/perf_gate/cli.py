"""``perf-gate gate``, ``flamegraph``, ``top`` and ``samples``: the command line
a service's ``make perf-gate``, ``flamegraph`` and ``perf-top`` call (through ``uv tool run``)."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from . import __version__, agent_source, config, hotspots, load, pprof, report
from .gate import GateOptions, run_gate
from .pprof import innermost_python_frame, read_profiles
from .runners import profiled_process
from .service import RunError
from .stats import MIN_PAIRS
from .trace_sink import trace_sink

T = TypeVar("T")

# 3: the gate could not run (bad config, docker, git); never a verdict.
EXIT_CODES = {"pass": 0, "fail": 1, "inconclusive": 2}


def whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{text} is below the minimum of {minimum}")
        return value

    return parse


positive = whole_number(1)


def fraction(text: str) -> float:
    value = float(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1 (0.05 means 5%)")
    return value


def flamegraph(arguments: argparse.Namespace) -> int:
    project = Path.cwd()
    service = config.load(project)
    report_dir: Path = arguments.report_dir
    shutil.rmtree(report_dir / "flamegraph-profiles", ignore_errors=True)
    with trace_sink() as sink:
        environment = {
            **service.environment,
            # The allocation profile is off by default in the service (its cost); a flame graph wants it.
            "DD_PROFILING_MEMORY_ENABLED": "true",
            # Tracing on, as in production, so the profiles name each sample's endpoint and span.
            "DD_TRACE_ENABLED": "true",
            "DD_TRACE_AGENT_URL": sink,
        }
        local = profiled_process(project, service.module, report_dir / "flamegraph-profiles", environment)
        try:
            local.wait_until_serving(service.health_path)
            requests = load.plan(service.mix, arguments.requests, arguments.seed)
            result = load.run(local.url, requests, 2, deadline_seconds=300)
        finally:
            local.stop()
    profile = read_profiles(sorted((report_dir / "flamegraph-profiles").glob("*.pprof")))
    for sample_type, name, unit in ((pprof.CPU, "cpu", "CPU time"), (pprof.ALLOCATIONS, "alloc", "allocated bytes")):
        path = report.write_flamegraph(
            report_dir / f"flamegraph-{name}.svg",
            profile.stacks.get(sample_type, Counter()),
            title=f"{service.image}: {unit} under {result.sent} requests",
            unit=unit,
        )
        print(f"{unit}: {path}")
    return 0 if result.failed == 0 else 1


def profiles_and_spans(arguments: argparse.Namespace) -> tuple[list[bytes], set[int], list[agent_source.TraceSpan]]:
    """The pprof files or the agent's uploads asked for, the span ids to keep,
    and with ``--trace-id`` the trace's spans."""
    span_ids = set(arguments.span_id)
    trace_spans: list[agent_source.TraceSpan] = []
    if arguments.agent:
        profiles = agent_source.received_profiles(arguments.agent)
        if arguments.trace_id is not None:
            trace_spans = agent_source.spans_of_trace(arguments.agent, arguments.trace_id)
            if not trace_spans:
                raise RunError(f"the agent received no span of trace {arguments.trace_id:032x}")
            span_ids |= {span.span_id for span in trace_spans}
    else:
        paths: list[Path] = arguments.profiles
        if not paths:
            raise RunError("give pprof files, or --agent URL")
        if arguments.trace_id is not None:
            raise RunError("--trace-id needs --agent: profiles carry span ids, only traces know a trace's spans")
        profiles = [path.read_bytes() for path in profile_files(paths)]
    return profiles, span_ids, trace_spans


def profile_files(paths: list[Path]) -> list[Path]:
    """The files named, a folder standing for the ``.pprof`` files in it (``make flamegraph``'s)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(path.glob("*.pprof"))
            if not found:
                raise RunError(f"no .pprof file in {path}")
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise RunError(f"no such profile file or folder: {path}")
    return files


def top(arguments: argparse.Namespace) -> int:
    profiles, span_ids, trace_spans = profiles_and_spans(arguments)
    samples = hotspots.decode_all(profiles)
    spots = hotspots.hotspots(samples, frozenset(span_ids))
    # The exact figure, where the service measured one on the trace's spans:
    # printed even when the profile caught none of the trace's CPU.
    measured = hotspots.measured_beside_profile(trace_spans, samples)
    if not spots and not measured:
        raise RunError("no CPU samples" + (" for those spans" if span_ids else ""))
    print(hotspots.format_hotspots(spots, arguments.limit) if spots else "no CPU sample of this trace in the profiles")
    if measured:
        print(hotspots.format_measured(measured))
    return 0


def samples(arguments: argparse.Namespace) -> int:
    """Every sample with a value of the chosen type, one JSON object per line:
    its innermost Python function, its values and its labels (span ids as
    traces print them), for scripts and tests that ask their own questions."""
    profiles, span_ids, _ = profiles_and_spans(arguments)
    for sample in hotspots.decode_all(profiles):
        if not sample.values.get(arguments.sample_type) or not sample.stack:
            continue
        if span_ids and not hotspots.in_spans(sample, frozenset(span_ids)):
            continue
        leaf = innermost_python_frame(sample.stack)
        labels = {
            key: hotspots.label_as_id(value) if key in hotspots.ID_LABELS else value
            for key, value in sample.labels.items()
        }
        row = {"function": leaf.function, "file": leaf.filename, "values": sample.values, "labels": labels}
        print(json.dumps(row, sort_keys=True))
    return 0


def span_id(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a span id (a decimal number, as traces show it)") from None
    if not 0 < value < 1 << 64:
        raise argparse.ArgumentTypeError(f"{text} is not a 64-bit span id")
    return value


def argument_type(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An argparse type from a parser whose ValueError says, in one line, what is wrong."""

    def convert(text: str) -> T:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(str(error)) from None

    return convert


# Per measure: (most rounds, requests per window). Instruction counts repeat to a
# fraction of a percent, so few short windows decide; CPU time needs many.
MEASURE_DEFAULTS = {"instructions": (6, 20), "cpu": (48, 100)}


def gate(arguments: argparse.Namespace) -> int:
    default_rounds, default_requests = MEASURE_DEFAULTS[arguments.measure]
    service = config.load(Path.cwd())
    options = GateOptions(
        project=Path.cwd(),
        baseline_ref=arguments.baseline,
        measure=arguments.measure,
        rounds=arguments.rounds or default_rounds,
        requests=arguments.requests or default_requests,
        native_rounds=arguments.native_rounds,
        warmup_seconds=arguments.warmup_seconds,
        concurrency=arguments.concurrency,
        threshold=arguments.threshold if arguments.threshold is not None else service.threshold,
        seed=arguments.seed,
        report_dir=arguments.report_dir,
        base_image=arguments.base_image,
        service=service,
        keep_images=arguments.keep_images,
    )
    verdict = run_gate(options)
    return EXIT_CODES[verdict.decision]


def add_profile_source(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "profiles", type=Path, nargs="*", help="pprof files (DD_PROFILING_OUTPUT_PPROF), or folders of them"
    )
    parser.add_argument(
        "--agent",
        type=argument_type(agent_source.parse_agent_url),
        help="read profiles (and traces) from a test agent at this URL instead",
    )
    parser.add_argument("--span-id", type=span_id, action="append", default=[], help="only this span's samples")
    parser.add_argument(
        "--trace-id", type=argument_type(agent_source.parse_trace_id), help="only this trace's samples (needs --agent)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="perf-gate",
        description="The CPU regression gate, flame graphs and profile readers a service runs through "
        "make perf-gate, make flamegraph and make perf-top.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    gate_parser = commands.add_parser("gate", help="fail a change whose CPU per request rises above the threshold")
    gate_parser.add_argument("--baseline", help="ref to compare with (default: merge-base of HEAD and main)")
    gate_parser.add_argument(
        "--measure",
        choices=sorted(MEASURE_DEFAULTS),
        default="instructions",
        help="what decides: instructions per request under callgrind (default), or CPU time per request",
    )
    gate_parser.add_argument(
        "--rounds",
        type=whole_number(MIN_PAIRS),
        help="most rounds per side; it stops at the first decision (default 6 for instructions, 48 for cpu)",
    )
    gate_parser.add_argument(
        "--requests", type=positive, help="requests per window (default 20 for instructions, 100 for cpu)"
    )
    gate_parser.add_argument(
        "--native-rounds",
        type=whole_number(MIN_PAIRS),
        default=28,
        help="with --measure instructions: native windows of 200 requests per side, for the kernel-side CPU "
        "and the function table (default 28)",
    )
    gate_parser.add_argument(
        "--warmup-seconds", type=positive, default=20, help="unmeasured load on each side first (default 20)"
    )
    gate_parser.add_argument("--concurrency", type=positive, default=2, help="clients at once (default 2)")
    gate_parser.add_argument(
        "--threshold", type=fraction, help="allowed rise (default: [tool.perf-gate] threshold, else 0.05: 5%%)"
    )
    gate_parser.add_argument("--seed", type=int, default=1234, help="seed of the request mix")
    gate_parser.add_argument(
        "--base-image",
        default=os.environ.get("BASE_IMAGE") or None,
        help="BASE_IMAGE build arg for both images, a mirror or stand-in (default: $BASE_IMAGE, else the Dockerfile's)",
    )
    gate_parser.add_argument("--report-dir", type=Path, default=Path("perf-report"))
    gate_parser.add_argument(
        "--keep-images",
        action="store_true",
        help="keep the images it built (both sides, their Valgrind copies, build layers; ~0.7 GB) for a faster "
        "next run (default: removed when it ends)",
    )
    gate_parser.set_defaults(run=gate)
    flame_parser = commands.add_parser("flamegraph", help="profile the service locally under the fixed load")
    flame_parser.add_argument(
        "--requests", type=positive, default=300, help="requests of the [tool.perf-gate] mix (default 300)"
    )
    flame_parser.add_argument("--seed", type=int, default=1234, help="seed of the request mix")
    flame_parser.add_argument(
        "--report-dir",
        type=Path,
        default=Path("perf-report"),
        help="where the SVGs and profiles go (default perf-report)",
    )
    flame_parser.set_defaults(run=flamegraph)
    top_parser = commands.add_parser("top", help="the functions that burned the most CPU, by endpoint")
    add_profile_source(top_parser)
    top_parser.add_argument("--limit", type=positive, default=10, help="rows (default 10)")
    top_parser.set_defaults(run=top)
    samples_parser = commands.add_parser("samples", help="every sample as a JSON line: function, values, labels")
    add_profile_source(samples_parser)
    samples_parser.add_argument(
        "--sample-type", default=pprof.CPU, help=f"only samples with this value (default {pprof.CPU})"
    )
    samples_parser.set_defaults(run=samples)
    arguments = parser.parse_args(argv)
    try:
        code: int = arguments.run(arguments)
    except (RunError, config.ConfigError) as error:
        print(f"perf-gate: {error}", file=sys.stderr)
        return 3
    return code
