"""Read pprof profiles as ddtrace writes them (``DD_PROFILING_OUTPUT_PPROF``):
Zstandard- or gzip-compressed protobuf of Google's ``profile.proto``.

The message types are defined at run time through protobuf's descriptor API,
so no protoc step and no generated code are needed.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import DecodeError

# The sample types ddtrace's profiles carry that the tool reads.
CPU = "cpu-time"
ALLOCATIONS = "alloc-space"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"

# profile.proto (github.com/google/pprof/proto/profile.proto), the fields read here.
_FIELDS: dict[str, list[tuple[str, int, str, bool]]] = {
    # message: [(field, number, type, repeated)]; type is a scalar or a message name
    "ValueType": [("type", 1, "int64", False), ("unit", 2, "int64", False)],
    "Label": [("key", 1, "int64", False), ("str", 2, "int64", False), ("num", 3, "int64", False)],
    "Sample": [("location_id", 1, "uint64", True), ("value", 2, "int64", True), ("label", 3, "Label", True)],
    "Line": [("function_id", 1, "uint64", False), ("line", 2, "int64", False)],
    "Location": [("id", 1, "uint64", False), ("line", 4, "Line", True)],
    "Function": [("id", 1, "uint64", False), ("name", 2, "int64", False), ("filename", 4, "int64", False)],
    "Profile": [
        ("sample_type", 1, "ValueType", True),
        ("sample", 2, "Sample", True),
        ("location", 4, "Location", True),
        ("function", 5, "Function", True),
        ("string_table", 6, "string", True),
        ("duration_nanos", 10, "int64", False),
    ],
}
_SCALARS = {
    "int64": descriptor_pb2.FieldDescriptorProto.TYPE_INT64,
    "uint64": descriptor_pb2.FieldDescriptorProto.TYPE_UINT64,
    "string": descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
}


def _profile_message_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(name="perf_profile.proto", package="perftools.profiles", syntax="proto3")
    for message_name, fields in _FIELDS.items():
        message = file.message_type.add(name=message_name)
        for name, number, kind, repeated in fields:
            field = message.field.add(name=name, number=number)
            field.label = (
                descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
                if repeated
                else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
            )
            if kind in _SCALARS:
                field.type = _SCALARS[kind]
            else:
                field.type = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
                field.type_name = f".perftools.profiles.{kind}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


_PROFILE = _profile_message_class()


class ProfileFormatError(ValueError):
    """The bytes are not a (compressed) pprof profile."""


@dataclass(frozen=True, order=True)
class Frame:
    function: str
    filename: str

    def label(self) -> str:
        return f"{self.function} ({Path(self.filename).name})" if self.filename else self.function


Stack = tuple[Frame, ...]  # root first, leaf last


@dataclass
class Profile:
    """Samples aggregated by stack, one counter per sample type (``cpu-time``, …)."""

    sample_types: list[str]
    stacks: dict[str, Counter[Stack]]

    def total(self, sample_type: str) -> int:
        return sum(self.stacks.get(sample_type, Counter()).values())


@dataclass(frozen=True)
class Sample:
    """One sample as ddtrace wrote it: its stack, its values by sample type, and
    its labels (``thread name``, ``trace endpoint``, ``span id``, …)."""

    stack: Stack
    values: dict[str, int]
    labels: dict[str, str | int]


def decompress(data: bytes) -> bytes:
    if data.startswith(ZSTD_MAGIC):
        with zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)) as reader:
            return reader.read()
    if data.startswith(GZIP_MAGIC):
        return gzip.decompress(data)
    return data


def decode_samples(data: bytes) -> tuple[list[str], list[Sample]]:
    """The sample types and every sample of one profile; raises
    ProfileFormatError for anything that is not a pprof profile."""
    try:
        message = _PROFILE.FromString(decompress(data))
    except (zstandard.ZstdError, OSError, EOFError, ValueError, DecodeError) as error:
        raise ProfileFormatError(f"not a pprof profile: {error}") from None
    strings = list(message.string_table)
    if not strings or strings[0] != "":
        raise ProfileFormatError("not a pprof profile: its string table must start with an empty string")

    def text(index: int) -> str:
        return strings[index] if 0 <= index < len(strings) else ""

    functions = {function.id: Frame(text(function.name), text(function.filename)) for function in message.function}
    # A location may hold several lines (inlined calls), innermost first.
    locations = {
        location.id: [functions.get(line.function_id, Frame("?", "")) for line in location.line]
        for location in message.location
    }
    sample_types = [text(value_type.type) for value_type in message.sample_type]
    samples = []
    for sample in message.sample:
        frames: list[Frame] = []
        for location_id in sample.location_id:  # leaf first
            frames.extend(locations.get(location_id, [Frame("?", "")]))
        values = {name: value for name, value in zip(sample_types, sample.value, strict=False) if value}
        labels: dict[str, str | int] = {
            text(label.key): text(label.str) if label.str else label.num for label in sample.label
        }
        samples.append(Sample(stack=tuple(reversed(frames)), values=values, labels=labels))
    return sample_types, samples


def decode(data: bytes) -> Profile:
    """Decode one profile, samples summed by stack; raises ProfileFormatError for anything else."""
    sample_types, samples = decode_samples(data)
    stacks: dict[str, Counter[Stack]] = {name: Counter() for name in sample_types}
    for sample in samples:
        for name, value in sample.values.items():
            stacks[name][sample.stack] += value
    return Profile(sample_types=sample_types, stacks=stacks)


def read_profiles(paths: list[Path]) -> Profile:
    """Decode several files (one per upload interval) into one profile."""
    merged = Profile(sample_types=[], stacks={})
    for path in paths:
        profile = decode(path.read_bytes())
        for name in profile.sample_types:
            if name not in merged.stacks:
                merged.sample_types.append(name)
                merged.stacks[name] = Counter()
            merged.stacks[name].update(profile.stacks[name])
    return merged


NATIVE = "<native>"


def innermost_python_frame(stack: Stack) -> Frame:
    """The leaf, or the nearest caller of it that is Python code."""
    for frame in reversed(stack):
        if frame.filename != NATIVE:
            return frame
    return stack[-1]


@dataclass(frozen=True)
class FunctionCost:
    self_value: int
    inclusive_value: int


def function_costs(profile: Profile, sample_type: str) -> dict[Frame, FunctionCost]:
    """Self and inclusive (anywhere on the stack, once per sample) totals.

    Self time is charged to the innermost Python frame: time in a C function
    it calls directly (``HASH.digest``, ``lock.acquire``) counts as the Python
    caller's own, because that is the code a change would have touched.
    """
    self_totals: Counter[Frame] = Counter()
    inclusive_totals: Counter[Frame] = Counter()
    for stack, value in profile.stacks.get(sample_type, Counter()).items():
        if not stack:
            continue
        self_totals[innermost_python_frame(stack)] += value
        for frame in set(stack):
            inclusive_totals[frame] += value
    return {frame: FunctionCost(self_totals[frame], inclusive_totals[frame]) for frame in inclusive_totals}
