"""Minimal reproductions of two ways ddtrace's profiles put cost on the wrong
function, ready for an upstream report.

Both were measured with ddtrace 4.16.0; each run prints the ddtrace and Python
it ran on.

``cpu`` (the default): the CPU profile charges a worker thread's CPU bursts to
the frame it waits in afterwards.

No web framework, no tracing: one worker thread takes jobs from a queue (as a
thread pool does) and burns a known amount of CPU per job in ``burn()``; the
main thread hands it jobs with a pause between them. The true CPU of
``burn()`` is timed with ``time.thread_time()`` around each job; ddtrace's
profile (written to files with ``DD_PROFILING_OUTPUT_PPROF``) is decoded and
its ``cpu-time`` of ``burn()`` compared with it.

Why it happens (ddtrace's echion sampler): every sample of a thread
carries the thread's CPU clock delta since that thread's previous sample, and
charges it to the stack the thread has *at the moment of the sample*. A burst
shorter than the sampling interval (adaptive, ~10-100 ms) mostly ends before
the next sample, which then finds the thread in ``Condition.wait`` and charges
the whole burst there.

``alloc``: the allocation profile charges the bytes that small allocations made
since the last sample to the large allocation that triggers the next one.

One thread alternates ``big()`` (one 1 MiB bytearray) and ``small()`` (a given
number of bytes in 1 KiB ``bytes`` objects); the true bytes of each are known.
ddtrace's memalloc samples when a byte counter crosses a threshold drawn
around ``DD_PROFILING_HEAP_SAMPLE_SIZE`` (1 MiB) and weights the sample with
the counter: *every* byte allocated since the previous sample, by anyone. Big
allocations trigger most samples, so they are credited with the small ones'
bytes; the total stays right, the split between functions does not
(``_memalloc_heap.cpp``: "just drop the (R - T) term and use C as the weight").

Usage (needs only ddtrace and zstandard; from the template checkout; <version>:
the ddtrace to try, e.g. the one the generated service's uv.lock pins)::

    .venv/bin/uv run --no-project --with ddtrace==<version> --with zstandard \
        python bench/ddtrace_attribution_repro.py [cpu] [--seconds 30] [--burst-ms 6]
    .venv/bin/uv run --no-project --with ddtrace==<version> --with zstandard \
        python bench/ddtrace_attribution_repro.py alloc

``cpu`` runs each shape in its own fresh Python process: ddtrace's sampler is a
process-wide singleton that keeps its load history (600 s) across profiler
restarts, so shapes run one after another in one process flatter the later
ones (200 ms pauses read 0.18 after three busier shapes, 0.04 alone). With the
default 30 s about the first 15 s are ddtrace's slower start-up sampling; raise
--seconds to see steady state. It prints one row per pause between jobs: the
true CPU of ``burn()``, the CPU the profile gives it, their ratio, and the
share of the worker's profiled CPU whose innermost frame is a wait. ``alloc`` prints one row per amount of
small allocation between big ones: each function's true bytes, the bytes the
profile gives it, and their ratio.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

WAIT_FUNCTIONS = frozenset({"wait", "get", "sleep", "select", "poll", "_wait_for_tstate_lock", "acquire"})


def burn(iterations: int) -> bytes:
    """Pure CPU: chained SHA-256."""
    digest = b"seed"
    for _ in range(iterations):
        digest = hashlib.sha256(digest).digest()
    return digest


def iterations_for(milliseconds: float) -> int:
    started = time.thread_time()
    burn(20_000)
    per_iteration = (time.thread_time() - started) / 20_000
    return max(1, int(milliseconds / 1000 / per_iteration))


# --- a pprof reader: protobuf wire format, only the fields used here ---------


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    fields: list[tuple[int, int | bytes]] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
            fields.append((number, value))
        elif wire == 2:
            length, position = _varint(data, position)
            fields.append((number, data[position : position + length]))
            position += length
        elif wire == 1:
            position += 8
        elif wire == 5:
            position += 4
        else:
            raise ValueError(f"unsupported wire type {wire}")
    return fields


def _packed(value: int | bytes) -> list[int]:
    if isinstance(value, int):
        return [value]
    numbers, position = [], 0
    while position < len(value):
        number, position = _varint(value, position)
        numbers.append(number)
    return numbers


def samples(path: Path, sample_type: str) -> Counter[tuple[tuple[str, ...], str]]:
    """``sample_type`` (cpu-time in ns, alloc-space in bytes) by (stack as
    function names, leaf first; thread name) in one pprof file."""
    import zstandard

    raw = path.read_bytes()
    if raw.startswith(b"\x28\xb5\x2f\xfd"):
        raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(raw)).read()
    top = _fields(raw)
    strings = [value.decode() for number, value in top if number == 6 and isinstance(value, bytes)]
    functions: dict[int, str] = {}
    locations: dict[int, list[int]] = {}
    sample_types: list[str] = []
    for number, value in top:
        if not isinstance(value, bytes):
            continue
        fields = dict(_fields(value)) if number in (1, 4, 5) else {}
        if number == 1:
            sample_types.append(strings[int(fields.get(1, 0))])
        elif number == 5:
            functions[int(fields.get(1, 0))] = strings[int(fields.get(2, 0))]
        elif number == 4:
            lines = [line for field, line in _fields(value) if field == 4 and isinstance(line, bytes)]
            locations[int(fields.get(1, 0))] = [int(dict(_fields(line)).get(1, 0)) for line in lines]
    if sample_type not in sample_types:
        return Counter()
    cpu_index = sample_types.index(sample_type)
    totals: Counter[tuple[tuple[str, ...], str]] = Counter()
    for number, value in top:
        if number != 2 or not isinstance(value, bytes):
            continue
        location_ids: list[int] = []
        values: list[int] = []
        thread = ""
        for field, content in _fields(value):
            if field == 1:
                location_ids += _packed(content)
            elif field == 2:
                values += _packed(content)
            elif field == 3 and isinstance(content, bytes):
                label = dict(_fields(content))
                if strings[int(label.get(1, 0))] == "thread name":
                    thread = strings[int(label.get(2, 0))]
        if cpu_index < len(values) and values[cpu_index]:
            stack = tuple(functions.get(f, "?") for location in location_ids for f in locations.get(location, []))
            totals[(stack, thread)] += values[cpu_index]
    return totals


def is_wait(stack: tuple[str, ...]) -> bool:
    """Whether the innermost frames (names like ``Condition.wait``) are a wait;
    on Python 3.12+ a native frame may sit below the Python one."""
    return any(name.rsplit(".", 1)[-1] in WAIT_FUNCTIONS for name in stack[:2])


# --- the experiment -------------------------------------------------------------


def run_shape(
    profile_dir: Path, seconds: float, iterations: int, pause_ms: float
) -> tuple[float, Counter[tuple[tuple[str, ...], str]]]:
    """One profiler run: the true CPU seconds of burn(), and the profile's CPU by stack and thread."""
    from ddtrace.profiling import Profiler

    jobs: queue.Queue[int | None] = queue.Queue()
    done: queue.Queue[float] = queue.Queue()

    def worker() -> None:
        while (job := jobs.get()) is not None:
            started = time.thread_time()
            burn(job)
            done.put(time.thread_time() - started)

    already_written = set(profile_dir.glob("*.pprof"))
    profiler = Profiler()
    profiler.start()
    thread = threading.Thread(target=worker, name="worker")
    thread.start()
    true_cpu = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        jobs.put(iterations)
        true_cpu += done.get()
        if pause_ms:
            time.sleep(pause_ms / 1000)
    jobs.put(None)
    thread.join()
    profiler.stop(flush=True)
    totals: Counter[tuple[tuple[str, ...], str]] = Counter()
    for path in sorted(set(profile_dir.glob("*.pprof")) - already_written):
        totals.update(samples(path, "cpu-time"))
    return true_cpu, totals


def measure_shape(profile_dir: Path, seconds: float, iterations: int, pause_ms: float) -> dict[str, object]:
    """One shape in this process: the true and profiled CPU of burn(), the share
    of the worker's profiled CPU on a wait frame, its four top innermost frames."""
    true_cpu, totals = run_shape(profile_dir, seconds, iterations, pause_ms)
    credited = sum(value for (stack, _), value in totals.items() if "burn" in stack) / 1e9
    worker = [(stack, value) for (stack, thread), value in totals.items() if thread == "worker"]
    worker_total = sum(value for _, value in worker) or 1
    # The innermost frame is a wait (native frames, on Python 3.12+, may sit below it).
    waiting = sum(value for stack, value in worker if is_wait(stack)) / worker_total
    leaves: Counter[str] = Counter()
    for stack, value in worker:
        leaves[stack[0] if stack else "?"] += value
    return {
        "true_cpu": true_cpu,
        "credited": credited,
        "waiting": waiting,
        "leaves": [(name, value / worker_total) for name, value in leaves.most_common(4)],
    }


CHUNK_BYTES = 1024 * 1024
PIECE_BYTES = 1024


def big() -> int:
    """One 1 MiB allocation; its true bytes."""
    block = bytearray(CHUNK_BYTES)
    return sys.getsizeof(block)


def small(total_bytes: int) -> int:
    """``total_bytes`` in 1 KiB objects; their true bytes (objects and list)."""
    pieces = [bytes(PIECE_BYTES) for _ in range(total_bytes // PIECE_BYTES)]
    return sys.getsizeof(pieces) + sum(sys.getsizeof(piece) for piece in pieces)


def run_alloc_shape(profile_dir: Path, rounds: int, small_bytes: int) -> tuple[dict[str, int], dict[str, int]]:
    """One profiler run: true and profiled allocated bytes of big() and small()."""
    from ddtrace.profiling import Profiler

    already_written = set(profile_dir.glob("*.pprof"))
    profiler = Profiler()
    profiler.start()
    true_bytes = {"big": 0, "small": 0}
    for _ in range(rounds):
        true_bytes["big"] += big()
        if small_bytes:
            true_bytes["small"] += small(small_bytes)
    profiler.stop(flush=True)
    credited = {"big": 0, "small": 0}
    for path in sorted(set(profile_dir.glob("*.pprof")) - already_written):
        for (stack, _), value in samples(path, "alloc-space").items():
            for name in credited:
                if name in stack[:2]:
                    credited[name] += value
                    break
    return true_bytes, credited


def main_alloc(arguments: argparse.Namespace, profile_dir: Path) -> None:
    import ddtrace

    sample_size = os.environ.get("DD_PROFILING_HEAP_SAMPLE_SIZE", "its default, 1 MiB")
    print(
        f"ddtrace {ddtrace.__version__}, Python {sys.version.split()[0]}, {arguments.rounds} rounds of big() "
        f"(1 MiB) then small() per shape, DD_PROFILING_HEAP_SAMPLE_SIZE {sample_size}"
    )
    print("| small() bytes per big() | big(): true | profiled | ratio | small(): true | profiled | ratio |")
    print("|---|---|---|---|---|---|---|")
    for kib in (int(text) for text in arguments.small_kib.split(",")):
        true_bytes, credited = run_alloc_shape(profile_dir, arguments.rounds, kib * 1024)
        cells = []
        for name in ("big", "small"):
            truth, profiled = true_bytes[name], credited[name]
            ratio = f"{profiled / truth:.2f}" if truth else "-"
            cells.append(f"{truth / 2**20:,.0f} MiB | {profiled / 2**20:,.0f} MiB | {ratio}")
        print(f"| {kib} KiB | {' | '.join(cells)} |")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", nargs="?", choices=("cpu", "alloc"), default="cpu", help="which reproduction")
    parser.add_argument("--rounds", type=int, default=2000, help="alloc: big() calls per shape")
    parser.add_argument("--small-kib", default="0,64,256,1024", help="alloc: small() KiB per big(), comma-separated")
    parser.add_argument("--seconds", type=float, default=30.0, help="per shape (the first ~15 s sample slower)")
    parser.add_argument("--burst-ms", type=float, default=6.0, help="CPU per job, in ms (the service's 6.3 ms)")
    parser.add_argument("--pauses-ms", default="0,5,50,200", help="pauses between jobs, comma-separated")
    parser.add_argument("--verbose", action="store_true", help="also print the worker's innermost frames")
    # A child process running one shape, with the parent's burst size.
    parser.add_argument("--one-pause-ms", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--iterations", type=int, help=argparse.SUPPRESS)
    arguments = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ddtrace-repro-") as scratch:
        profile_dir = Path(scratch)
        # Set before ddtrace is imported (it reads them then): CPU profile only,
        # profiles to files instead of uploads, no telemetry.
        os.environ.update(
            {
                "DD_PROFILING_OUTPUT_PPROF": str(profile_dir / "profile"),
                "DD_PROFILING_STACK_ENABLED": "true" if arguments.profile == "cpu" else "false",
                "DD_PROFILING_MEMORY_ENABLED": "true" if arguments.profile == "alloc" else "false",
                "DD_PROFILING_LOCK_ENABLED": "false",
                "DD_PROFILING_UPLOAD_INTERVAL": "3600",
                "DD_INSTRUMENTATION_TELEMETRY_ENABLED": "false",
                "DD_TRACE_ENABLED": "false",
            }
        )
        if arguments.profile == "alloc":
            main_alloc(arguments, profile_dir)
        elif arguments.one_pause_ms is not None:
            shape = measure_shape(profile_dir, arguments.seconds, arguments.iterations, arguments.one_pause_ms)
            print(json.dumps(shape))
        else:
            main_cpu(arguments)
    return 0


def main_cpu(arguments: argparse.Namespace) -> None:
    """One row per pause, each shape measured by a fresh child process."""
    import ddtrace

    iterations = iterations_for(arguments.burst_ms)
    print(
        f"ddtrace {ddtrace.__version__}, Python {sys.version.split()[0]}, {arguments.seconds:g} s per shape, "
        f"bursts of {arguments.burst_ms:g} ms ({iterations} iterations), each shape in its own process"
    )
    print("| pause between jobs | true CPU of burn() | profile's CPU of burn() | ratio | worker CPU on a wait frame |")
    print("|---|---|---|---|---|")
    for pause in (float(text) for text in arguments.pauses_ms.split(",")):
        child = [sys.executable, __file__, "cpu", f"--seconds={arguments.seconds}"]
        child += [f"--iterations={iterations}", f"--one-pause-ms={pause}"]
        result = subprocess.run(child, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"the shape with {pause:g} ms pauses failed:\n{result.stderr[-3000:]}")
        shape = json.loads(result.stdout)
        true_cpu, credited, waiting = shape["true_cpu"], shape["credited"], shape["waiting"]
        print(f"| {pause:g} ms | {true_cpu:.2f} s | {credited:.2f} s | {credited / true_cpu:.2f} | {waiting:.0%} |")
        if arguments.verbose:
            print("    worker's innermost frames:", ", ".join(f"{n} {share:.0%}" for n, share in shape["leaves"]))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
