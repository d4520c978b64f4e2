"""Load the generated service's test-agent helper from the template itself.

``{{cookiecutter.service_slug}}/tests/agent.py`` is plain Python (no template
syntax), so the template's tests and demo read profiles exactly the way the
generated service's own tests do, from one implementation.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

AGENT_SUPPORT = Path(__file__).resolve().parents[1] / "{{cookiecutter.service_slug}}" / "tests" / "agent.py"
MODULE_NAME = "generated_agent_support"


def load_agent_support() -> ModuleType:
    if MODULE_NAME in sys.modules:
        return sys.modules[MODULE_NAME]
    spec = importlib.util.spec_from_file_location(MODULE_NAME, AGENT_SUPPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = module  # dataclasses look their module up here
    spec.loader.exec_module(module)
    return module
