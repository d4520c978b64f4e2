"""Performance tooling for this service, used in development and CI, never
shipped in the image: a CPU regression gate and flame graphs from ddtrace's
own profiles (``python -m perf --help``)."""
