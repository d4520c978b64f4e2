"""What the template's tests, benchmarks and demo share to bake, run and read a
service on this machine, one module per job:

- ``bake``: a service baked from this checkout and its locked environment installed;
- ``docker``: the Docker engine, a base image that works offline, builds, containers;
- ``agent``: ddapm-test-agent and the profiles it received; the generated service's
  own test helper (a symlink), so every reader of profiles reads them one way.
"""
