"""Where the CPU went, by function and endpoint, read from ddtrace's own pprof
files: what Datadog shows as code hotspots, with no Datadog account.

``perf-gate top profile.*.pprof`` prints the functions that burned the
most CPU, with the endpoint of the request that ran them; ``--span-id`` keeps
only the samples of one span (the id a trace or a log line shows), and
``--agent URL --trace-id ID`` those of one trace, so a slow request's CPU can be
read function by function. The trace's spans may also carry the CPU the
service measured exactly on them (its thread's own CPU clock); ``top`` prints
that beside what the profile credits to the same spans, since ddtrace's
sampler can credit a short burst with a small part of its CPU.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .agent_source import TraceSpan
from .pprof import CPU, Sample, decode_samples, innermost_python_frame

ENDPOINT_LABEL = "trace endpoint"
SPAN_LABEL = "span id"
LOCAL_ROOT_LABEL = "local root span id"
# Labels that hold span ids (pprof stores them signed).
ID_LABELS = frozenset({SPAN_LABEL, LOCAL_ROOT_LABEL})
NO_ENDPOINT = "(no endpoint)"


@dataclass(frozen=True)
class Hotspot:
    function: str
    file: str
    endpoint: str
    nanoseconds: int
    share: float  # of all the CPU selected


def label_as_id(value: str | int | None) -> int | None:
    """A span id label as traces and logs print it (pprof stores it signed)."""
    return value & 0xFFFF_FFFF_FFFF_FFFF if isinstance(value, int) else None


def decode_all(profiles: list[bytes]) -> list[Sample]:
    """The samples of every profile (pprof bytes, compressed or not)."""
    samples: list[Sample] = []
    for profile in profiles:
        samples.extend(decode_samples(profile)[1])
    return samples


def in_spans(sample: Sample, span_ids: frozenset[int]) -> bool:
    """Whether the sample ran under one of ``span_ids``, as its span or its local root."""
    ids = {label_as_id(sample.labels.get(SPAN_LABEL)), label_as_id(sample.labels.get(LOCAL_ROOT_LABEL))}
    return bool(ids & span_ids)


def hotspots(samples: list[Sample], span_ids: frozenset[int] = frozenset()) -> list[Hotspot]:
    """CPU by (innermost Python function, endpoint), most first. With
    ``span_ids``, only samples whose span or local root span is one of them."""
    totals: Counter[tuple[str, str, str]] = Counter()
    for sample in samples:
        nanoseconds = sample.values.get(CPU, 0)
        if not nanoseconds or not sample.stack or (span_ids and not in_spans(sample, span_ids)):
            continue
        leaf = innermost_python_frame(sample.stack)
        endpoint = str(sample.labels.get(ENDPOINT_LABEL, NO_ENDPOINT))
        totals[(leaf.function, leaf.filename, endpoint)] += nanoseconds
    grand_total = sum(totals.values()) or 1
    return [
        Hotspot(function, file, endpoint, nanoseconds, nanoseconds / grand_total)
        for (function, file, endpoint), nanoseconds in totals.most_common()
    ]


def format_hotspots(spots: list[Hotspot], limit: int = 10) -> str:
    header = f"{'CPU':>9} {'share':>6}  {'function':<36} {'file':<24} endpoint"
    lines = [header, "-" * len(header)]
    for spot in spots[:limit]:
        lines.append(
            f"{spot.nanoseconds / 1e6:>7.0f}ms {spot.share:>6.1%}  {spot.function[:36]:<36} "
            f"{Path(spot.file).name[:24]:<24} {spot.endpoint}"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class MeasuredCpu:
    """The CPU a trace's spans of one name measured on themselves, beside the
    CPU the profile credits to those same spans."""

    name: str
    spans: int
    measured_ms: float
    credited_ns: int


def measured_beside_profile(spans: list[TraceSpan], samples: list[Sample]) -> list[MeasuredCpu]:
    """By span name, most measured first: the thread CPU the spans carry, and
    the CPU of the profile's samples taken while each span was the one running."""
    measured: dict[str, list[TraceSpan]] = {}
    for span in spans:
        if span.thread_cpu_ms is not None:
            measured.setdefault(span.resource, []).append(span)
    credited: Counter[int] = Counter()
    for sample in samples:
        span_id = label_as_id(sample.labels.get(SPAN_LABEL))
        if span_id is not None:
            credited[span_id] += sample.values.get(CPU, 0)
    rows = [
        MeasuredCpu(
            name,
            len(group),
            sum(span.thread_cpu_ms or 0.0 for span in group),
            sum(credited[span.span_id] for span in group),
        )
        for name, group in measured.items()
    ]
    return sorted(rows, key=lambda row: row.measured_ms, reverse=True)


def format_measured(rows: list[MeasuredCpu]) -> str:
    """One line per span name, e.g. "measured on the trace's spans: 412 ms of
    thread CPU in workload.hash_chain; the profile credits 98 ms"."""
    lines = []
    for row in rows:
        count = "" if row.spans == 1 else f" ({row.spans} spans)"
        lines.append(
            f"measured on the trace's spans: {row.measured_ms:.0f} ms of thread CPU in {row.name}{count}; "
            f"the profile credits {row.credited_ns / 1e6:.0f} ms"
        )
    return "\n".join(lines)
