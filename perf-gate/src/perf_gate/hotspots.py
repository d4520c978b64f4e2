"""Where the CPU went, by function and endpoint, read from ddtrace's own pprof
files: what Datadog shows as code hotspots, with no Datadog account.

``perf-gate top profile.*.pprof`` prints the functions that burned the
most CPU, with the endpoint of the request that ran them; ``--span-id`` keeps
only the samples of one span (the id a trace or a log line shows), and
``--agent URL --trace-id ID`` those of one trace, so a slow request's CPU can be
read function by function.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .pprof import Sample, decode_samples, innermost_python_frame

CPU = "cpu-time"
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
