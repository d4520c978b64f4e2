"""The one private ddtrace name the gate relies on, in one place.

The gate sets it in the service's environment (never imports ddtrace); the
package's ``tests/test_ddtrace_private.py`` fails, naming the ddtrace version,
when an upgrade stops reading it."""

# Caps the stack sampler's adaptive interval, in µs (read by ddtrace as
# ``config.stack.adaptive_sampling_max_interval``). Without it the interval
# stretches to 100 ms and a short profiled window gets few samples.
MAX_SAMPLING_INTERVAL_VARIABLE = "_DD_PROFILING_STACK_ADAPTIVE_SAMPLING_MAX_INTERVAL_US"
