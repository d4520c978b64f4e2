"""Performance tooling for this service, used in development and CI, never
shipped in the image: a CPU regression gate (instructions counted under
callgrind, or CPU time) and flame graphs from ddtrace's own profiles
(``python -m perf --help``)."""
