"""The package's imports go one way (DESIGN.md, Layout): this walks every `import` in ddspfx/.

bottom:     dsp, params, core, nn           → bottom only
components: synths, effects, encoders,
            heads, losses, data             → bottom and their own package (never each other)
tasks:                                      → bottom, components, tasks
engine:     train, eval                     → bottom and their own package (never tasks)
delivery:   export, realtime                → bottom and components
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ddspfx"
BOTTOM = {"dsp", "params", "core", "nn"}
COMPONENTS = {"synths", "effects", "encoders", "heads", "losses", "data"}
ENGINE = {"train", "eval"}
DELIVERY = {"export", "realtime"}


def allowed(layer: str) -> set[str]:
    """The top-level subpackages that modules of `layer` may import."""
    if layer in BOTTOM:
        return BOTTOM
    if layer in COMPONENTS:
        return BOTTOM | {layer}
    if layer == "tasks":
        return BOTTOM | COMPONENTS | {"tasks"}
    if layer in ENGINE:
        return BOTTOM | {layer}
    if layer in DELIVERY:
        return BOTTOM | COMPONENTS | {layer}
    raise KeyError(f"ddspfx/{layer} is in no layer: add it to tests/test_layers.py")


def imported_subpackages(source: str) -> list[tuple[int, str]]:
    """(line, top-level ddspfx subpackage) of every import of ddspfx in `source`, at any depth."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names if node.module == "ddspfx"]
        for name in names:
            parts = name.split(".")
            if parts[0] == "ddspfx" and len(parts) > 1 and parts[1] != "__version__":
                found.append((node.lineno, parts[1]))
    return found


def violations(package: Path = PACKAGE) -> list[str]:
    """'file:line imports ddspfx.<x>' for every import that breaks the layering."""
    out = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if len(relative.parts) == 1:  # ddspfx/__init__.py, ddspfx/params.py
            layer = "params" if relative.stem == "params" else None
        else:
            layer = relative.parts[0]
        if layer is None:
            continue
        for line, target in imported_subpackages(path.read_text()):
            if target not in allowed(layer):
                out.append(f"ddspfx/{relative}:{line} ({layer}) imports ddspfx.{target}")
    return out


def test_imports_go_one_way():
    assert violations() == []


def test_relative_imports_are_not_used():
    relative = [str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py") if "from ." in p.read_text()]
    assert relative == []


@pytest.mark.parametrize(
    "layer, source, bad",
    [
        ("synths", "from ddspfx.data.dx7 import Voice", True),
        ("effects", "def f():\n    from ddspfx.train.checkpoint import load\n", True),
        ("train", "import ddspfx.tasks.base", True),
        ("eval", "from ddspfx.core.task import batch_to", False),
        ("tasks", "from ddspfx.effects import FXChain\nfrom ddspfx.heads import ParameterHead", False),
        ("heads", "from ddspfx.nn.mlp import ResBlock", False),
        ("heads", "from ddspfx.encoders.mlp import ResBlock", True),
    ],
)
def test_the_walker_finds_sideways_and_upward_imports(tmp_path, layer, source, bad):
    (tmp_path / layer).mkdir()
    (tmp_path / layer / "module.py").write_text(source)
    assert bool(violations(tmp_path)) == bad
