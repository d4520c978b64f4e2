"""The test agent lives in ``harness.agent``. This re-export serves only
bench/profile_truth.py, which still imports it from here; delete it once it
imports ``harness.agent``."""

from harness.agent import TestAgent as TestAgent
