"""The service package: app factory, settings, observability, workload and routes."""
