"""The private ddtrace names the service relies on still exist and still behave
as ddtrace_internals.py expects. When a ddtrace upgrade fails one of these,
the message names the version: fix ddtrace_internals.py, nothing else."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from {{ cookiecutter.package_name }}.build_info import BuildInfo
from {{ cookiecutter.package_name }}.identity import resolve_identity
from {{ cookiecutter.package_name }}.profile_types import PROFILE_TYPES, ProfileSet
from {{ cookiecutter.package_name }}.profiling import Profiling
from {{ cookiecutter.package_name }}.settings import load_settings

from .agent import free_port
from .service import isolated_environment

CHANGES = 600  # without the restore, no thread can start after ~500
PACKAGE_DIR = Path(__file__).resolve().parents[1] / "src" / "{{ cookiecutter.package_name }}"
# The modules allowed to import ddtrace: tracing at app build, metrics and the
# tracer's flush while serving, and its private names (the profiler).
DDTRACE_IMPORTERS = {"tracing.py", "telemetry.py", "ddtrace_internals.py"}


def internals() -> ModuleType:
    """The adapter, imported only now: ddtrace reads the environment when first
    imported, and the test environment is set per test (conftest.py)."""
    from {{ cookiecutter.package_name }} import ddtrace_internals

    return ddtrace_internals


def imported_modules(source: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def test_only_the_observability_modules_import_ddtrace() -> None:
    """The rest of the service (routes, workload, settings) stays free of the
    vendor: a ddtrace upgrade or a switch of vendor touches these three files."""
    importers = {
        str(source.relative_to(PACKAGE_DIR))
        for source in PACKAGE_DIR.rglob("*.py")
        if any(module == "ddtrace" or module.startswith("ddtrace.") for module in imported_modules(source))
    }
    assert importers <= DDTRACE_IMPORTERS, f"only {sorted(DDTRACE_IMPORTERS)} may import ddtrace: {sorted(importers)}"
    assert "tracing.py" in importers, "the check found no ddtrace import at all: is it still reading the source?"


@pytest.fixture(autouse=True)
def thread_methods_restored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # Profiles go to files: nothing to upload to. ddtrace reads the variable when
    # its profiling settings are first imported, which an earlier test may have
    # done without it, so the setting is set on the imported object too.
    monkeypatch.setenv("DD_PROFILING_OUTPUT_PPROF", str(tmp_path / "profile"))
    from ddtrace.internal.settings.profiling import config as profiling_config

    monkeypatch.setattr(profiling_config, "output_pprof", str(tmp_path / "profile"))
    yield
    internals().restore_thread_methods()


def upgrade_message(what: str) -> str:
    return (
        f"ddtrace {internals().DDTRACE_VERSION}: {what}. ddtrace_internals.py relies on it; "
        "adapt it to this ddtrace (or pin the version that has it)."
    )


def test_every_profile_type_has_a_profiler_switch_and_a_config_section() -> None:
    from ddtrace.internal.settings.profiling import config as profiling_config
    from ddtrace.profiling.profiler import _ProfilerInstance

    ddtrace_internals = internals()

    parameters = inspect.signature(_ProfilerInstance.__init__).parameters
    assert set(ddtrace_internals.PROFILER_SWITCHES) == set(PROFILE_TYPES)
    for profile, switch in ddtrace_internals.PROFILER_SWITCHES.items():
        assert switch.argument in parameters, upgrade_message(
            f"Profiler() no longer takes {switch.argument} ({profile} profile)"
        )
        assert hasattr(getattr(profiling_config, switch.config_section, None), "enabled"), upgrade_message(
            f"profiling config has no {switch.config_section}.enabled ({profile} profile)"
        )
    assert isinstance(getattr(profiling_config.heap, "sample_size", None), int), upgrade_message(
        "profiling config has no heap.sample_size"
    )


def test_a_cpu_profiler_wraps_thread_start_once_and_stopping_takes_it_back() -> None:
    ddtrace_internals = internals()

    for name in ddtrace_internals.PATCHED_THREAD_METHODS:
        assert name in vars(threading.Thread), upgrade_message(f"threading.Thread has no {name}")
    assert ddtrace_internals.thread_wrapper_depth() == 0
    identity: dict[str, Any] = {"service": "internals-test", "env": "test", "version": "0", "tags": {}}
    profiler = ddtrace_internals.start_profiler(**identity, profiles=frozenset({"cpu"}), heap_sample_bytes=0)
    try:
        assert ddtrace_internals.thread_wrapper_depth() == 1, upgrade_message(
            "starting the CPU profiler no longer wraps threading.Thread._bootstrap_inner; "
            "check what it patches now and what stop() leaves behind"
        )
    finally:
        ddtrace_internals.stop_profiler(profiler)
    assert ddtrace_internals.thread_wrapper_depth() == 0


def sampling_interval_us(
    run_for_seconds: float,
    max_sampling_interval_us: int | None,
    sampler_floor_core_percent: float | None = None,
    sampler_target_percent: float | None = None,
    busy: bool = False,
) -> int:
    """The CPU sampler's interval as ddtrace wrote it into the profile's internal
    metadata; with ``busy``, a thread burns CPU meanwhile."""
    import json
    import time

    from ddtrace.internal.settings.profiling import config as profiling_config

    ddtrace_internals = internals()
    assert profiling_config.output_pprof, "the tests write profiles to files (thread_methods_restored)"
    output = Path(profiling_config.output_pprof)
    before = set(output.parent.glob(f"{output.name}.*.internal_metadata.json"))
    identity: dict[str, Any] = {"service": "internals-test", "env": "test", "version": "0", "tags": {}}
    # Left out, the budget is ddtrace's own.
    budget = {
        name: value
        for name, value in (
            ("sampler_floor_core_percent", sampler_floor_core_percent),
            ("sampler_target_percent", sampler_target_percent),
        )
        if value is not None
    }
    profiler = ddtrace_internals.start_profiler(
        **identity,
        profiles=frozenset({"cpu"}),
        heap_sample_bytes=0,
        max_sampling_interval_us=max_sampling_interval_us,
        **budget,
    )
    deadline = time.monotonic() + run_for_seconds

    def burn() -> None:
        while time.monotonic() < deadline:
            pass

    burner = threading.Thread(target=burn)
    if busy:
        burner.start()
    time.sleep(run_for_seconds)
    if busy:
        burner.join()
    ddtrace_internals.stop_profiler(profiler)
    (written,) = set(output.parent.glob(f"{output.name}.*.internal_metadata.json")) - before
    interval: int = json.loads(written.read_text())["sampling_interval_us"]
    return interval


def test_the_sampling_interval_cap_holds_for_one_start_and_not_the_next() -> None:
    from ddtrace.internal.settings.profiling import config as profiling_config

    assert isinstance(getattr(profiling_config.stack, "adaptive_sampling_max_interval", None), int), upgrade_message(
        "profiling config has no stack.adaptive_sampling_max_interval"
    )
    capped = sampling_interval_us(1.0, max_sampling_interval_us=2000)
    assert 0 < capped <= 2000, upgrade_message(f"a 2 ms cap left the sampler at {capped} µs")
    # Idle, just started: ddtrace's own interval is tens of milliseconds.
    assert sampling_interval_us(1.0, max_sampling_interval_us=None) > 5000, "the cap outlived its profiler"


def test_the_sampler_floor_reaches_the_sampler_for_one_start_and_not_the_next() -> None:
    """The shipped floor (PROFILING_SAMPLER_FLOOR_CORE_PERCENT) works only while
    ddtrace hands config.stack.adaptive_sampling_baseline to its native sampler
    at each start: an idle process with a floor of a tenth of a core samples far
    more often than ddtrace's 10 ms start, and without it, less often."""
    from ddtrace.internal.settings.profiling import config as profiling_config

    ddtrace_internals = internals()
    floor = getattr(profiling_config.stack, "adaptive_sampling_baseline", None)
    assert isinstance(floor, float), upgrade_message("profiling config has no stack.adaptive_sampling_baseline")
    assert ddtrace_internals.DDTRACE_SAMPLER_FLOOR_CORE_PERCENT == 0, upgrade_message(
        f"ddtrace's own sampler floor is now {ddtrace_internals.DDTRACE_SAMPLER_FLOOR_CORE_PERCENT}, not 0: "
        "measure the service's again (bench/profile_truth.py in the template repository)"
    )
    floored = sampling_interval_us(1.5, max_sampling_interval_us=None, sampler_floor_core_percent=10)
    assert 0 < floored < 2000, upgrade_message(
        f"a floor of 0.1 core left an idle sampler at {floored} µs: the floor no longer reaches the sampler"
    )
    # ddtrace's own start is 10 ms, growing when idle: well above a floored sampler.
    unfloored = sampling_interval_us(1.5, max_sampling_interval_us=None, sampler_floor_core_percent=0)
    assert unfloored > 2000, f"the floor outlived its profiler: {unfloored} µs without one"


def test_the_service_starts_its_profiler_with_the_sampler_budget_of_its_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ddtrace.internal.settings.profiling import config as profiling_config

    monkeypatch.setenv("PROFILING_SAMPLER_FLOOR_CORE_PERCENT", "0.7")
    monkeypatch.setenv("PROFILING_SAMPLER_TARGET_PERCENT", "3")
    settings = load_settings()
    profiling = Profiling(settings, resolve_identity(settings, BuildInfo(version="0", git_commit_sha="unknown")))
    try:
        profiling.apply(ProfileSet(enabled=True, profiles=frozenset({"cpu"}), heap_sample_bytes=1 << 20))
        in_force = (
            profiling_config.stack.adaptive_sampling_baseline,
            profiling_config.stack.adaptive_sampling_target_overhead,
        )
    finally:
        profiling.stop()
    assert in_force == (0.7, 3.0)


def test_the_sampler_target_reaches_the_sampler() -> None:
    """PROFILING_SAMPLER_TARGET_PERCENT works only while ddtrace hands
    config.stack.adaptive_sampling_target_overhead to its native sampler: with
    a thread burning CPU, a budget of half the process's CPU samples far more
    often than one of 1%."""
    from ddtrace.internal.settings.profiling import config as profiling_config

    target = getattr(profiling_config.stack, "adaptive_sampling_target_overhead", None)
    assert isinstance(target, float), upgrade_message("profiling config has no stack.adaptive_sampling_target_overhead")
    generous = sampling_interval_us(1.5, None, sampler_floor_core_percent=0, sampler_target_percent=50, busy=True)
    frugal = sampling_interval_us(1.5, None, sampler_floor_core_percent=0, sampler_target_percent=1, busy=True)
    assert generous < 1000 and frugal > 2 * generous, upgrade_message(
        f"a busy process sampled every {generous} µs with a 50% target and every {frugal} µs with 1%: "
        "the target no longer reaches the sampler"
    )


def test_hundreds_of_profile_set_changes_leave_thread_start_as_it_was() -> None:
    ddtrace_internals = internals()

    settings = load_settings()
    profiling = Profiling(settings, resolve_identity(settings, BuildInfo(version="0", git_commit_sha="unknown")))
    sets = [
        ProfileSet(enabled=True, profiles=frozenset({"cpu"}), heap_sample_bytes=1 << 20),
        ProfileSet(enabled=True, profiles=frozenset({"cpu", "lock"}), heap_sample_bytes=1 << 20),
        ProfileSet(enabled=True, profiles=frozenset({"cpu", "memory"}), heap_sample_bytes=1 << 20),
        ProfileSet(enabled=False, profiles=frozenset({"cpu"}), heap_sample_bytes=1 << 20),
    ]
    threads_before = threading.active_count()
    try:
        for change in range(CHANGES):
            profiling.apply(sets[change % len(sets)])
            expected = 1 if profiling.active else 0
            depth = ddtrace_internals.thread_wrapper_depth()
            assert depth == expected, f"after {change + 1} changes: {depth} wrappers on thread start, not {expected}"
        ran = threading.Event()
        worker = threading.Thread(target=ran.set)
        worker.start()
        worker.join(5)
        assert ran.is_set(), f"no thread could start after {CHANGES} changes"
    finally:
        profiling.stop()
    # The profiler's own threads (sampler, scheduler) ended with it.
    assert threading.active_count() == threads_before


def test_the_exporter_still_says_a_failed_final_upload_on_stderr_before_stop_returns() -> None:
    """profile_uploads.py's only signal: with no Agent, stop(flush=True) writes a
    line beginning with one of PROFILE_EXPORT_FAILURES to fd 2, and has written
    it by the time it returns."""
    ddtrace_internals = internals()
    script = textwrap.dedent(
        """
        import sys, time
        from ddtrace.profiling import Profiler
        profiler = Profiler()
        profiler.start()
        time.sleep(0.2)
        profiler.stop(flush=True)
        sys.stderr.write("stop returned\\n")
        """
    )
    environment = isolated_environment({"DD_TRACE_AGENT_URL": f"http://127.0.0.1:{free_port()}"})
    result = subprocess.run(
        [sys.executable, "-c", script], env=environment, capture_output=True, text=True, timeout=60, check=False
    )
    lines = result.stderr.splitlines()
    assert "stop returned" in lines, f"the profiler did not stop cleanly:\n{result.stderr}"
    failures = [line for line in lines if line.startswith(ddtrace_internals.PROFILE_EXPORT_FAILURES)]
    assert failures, upgrade_message(f"a final upload with no Agent wrote no failure line to stderr: {lines}")
    assert lines.index(failures[0]) < lines.index("stop returned"), upgrade_message(
        "the failure line of the final upload came after stop(flush=True) returned"
    )


def test_every_export_failure_line_is_still_in_the_native_exporter() -> None:
    from ddtrace.internal.datadog import profiling

    libraries = list(Path(profiling.__file__).parent.glob("libdd_wrapper*"))
    assert libraries, upgrade_message("no libdd_wrapper library next to ddtrace.internal.datadog.profiling")
    native = b"".join(library.read_bytes() for library in libraries)
    for prefix in internals().PROFILE_EXPORT_FAILURES:
        assert prefix.encode() in native, upgrade_message(f"the profile exporter no longer writes {prefix!r}")
    interval = internals().upload_interval_seconds()
    assert isinstance(interval, float) and interval > 0, upgrade_message("profiling config has no upload_interval")
