"""A baked service's settings class, read from its source: the one list of the
environment variables the service reads."""

from __future__ import annotations

import ast
from pathlib import Path


def settings_variables(project: Path) -> set[str]:
    """The environment variables of the ``Settings`` class: its annotated fields, upper-cased."""
    source = next((project / "src").glob("*/settings.py")).read_text()
    settings = next(
        node for node in ast.parse(source).body if isinstance(node, ast.ClassDef) and node.name == "Settings"
    )
    return {
        statement.target.id.upper()
        for statement in settings.body
        if isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
        if statement.target.id != "model_config"
    }
