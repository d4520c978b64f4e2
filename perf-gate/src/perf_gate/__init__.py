"""A CPU regression gate for services profiled with ddtrace, and the tools
around it: flame graphs, and where the CPU went by function, endpoint and span,
read from ddtrace's own pprof files (``perf-gate --help``).

A development and CI tool, never installed in a service's image: services run
it with ``uvx`` from a pinned version (see the README)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("profiling-perf-gate")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"
