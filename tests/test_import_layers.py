"""Imports run one way: ``rl`` -> ``models`` -> ``memory`` -> ``nn``; ``utils`` are leaves.

Every module of ``hcmrl_jax`` and ``envs_jax`` is parsed (not imported) and each import it makes,
at module level or inside a function, is checked against the layering: a module imports nothing
from a layer above its own, ``utils`` import nothing of the library but ``utils``, the library
never imports ``experiments``, ``envs_jax`` imports nothing of ``hcmrl_jax``, and no package
initialiser resolves names lazily (a module-level ``__getattr__``) to dodge a cycle.
"""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: The library's layers, lowest first: each may import its own layer and the ones before it.
LAYERS = ("nn", "memory", "models", "rl")
#: Leaves: anyone may import them, they import nothing of the library but themselves.
LEAVES = ("utils",)


def _modules(package: str) -> dict[str, str]:
    """Dotted module name -> file path, for every module of ``package``."""
    modules = {}
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
        for name in sorted(files):
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            parts = os.path.relpath(path, ROOT)[: -len(".py")].split(os.sep)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _imports(module: str, path: str) -> list[tuple[int, str]]:
    """(line, imported module) for every import in the file, relative ones made absolute."""
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    is_package = os.path.basename(path) == "__init__.py"
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base[: len(base) - node.level + (1 if is_package else 0)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            # ``from package import submodule`` imports the submodule.
            found.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
    return found


def _layer(module: str) -> str | None:
    """``nn``, ``memory``, ... for a module of ``hcmrl_jax``; None for anything else."""
    parts = module.split(".")
    return parts[1] if parts[0] == "hcmrl_jax" and len(parts) > 1 else None


LIBRARY = _modules("hcmrl_jax")
BENCHMARKS = _modules("envs_jax")


def test_every_library_module_is_in_a_layer():
    layers = {_layer(module) for module in LIBRARY} - {None}
    assert layers <= set(LAYERS) | set(LEAVES), layers - set(LAYERS) - set(LEAVES)
    assert {"hcmrl_jax.nn", "hcmrl_jax.memory", "hcmrl_jax.models"} <= set(LIBRARY)


@pytest.mark.parametrize("module", sorted(LIBRARY))
def test_library_imports_run_one_way(module):
    own = _layer(module)
    upward = []
    for line, target in _imports(module, LIBRARY[module]):
        root = target.split(".")[0]
        if root == "experiments":
            upward.append(f"line {line}: {target} (the library never imports experiments)")
        if root != "hcmrl_jax":
            continue
        layer = _layer(target)
        if layer is None or layer in LEAVES or layer == own:
            continue
        if own is None or own in LEAVES:
            upward.append(f"line {line}: {target} ({module} imports nothing of the library)")
        elif layer in LAYERS and LAYERS.index(layer) > LAYERS.index(own):
            upward.append(f"line {line}: {target} ({layer} is above {own})")
    assert not upward, f"{module} imports upward:\n" + "\n".join(upward)


@pytest.mark.parametrize("module", sorted(BENCHMARKS))
def test_benchmarks_import_nothing_of_the_library(module):
    imported = [
        f"line {line}: {target}"
        for line, target in _imports(module, BENCHMARKS[module])
        if target.split(".")[0] in ("hcmrl_jax", "experiments")
    ]
    assert not imported, f"{module} imports the library:\n" + "\n".join(imported)


@pytest.mark.parametrize(
    "module", sorted(m for m, p in {**LIBRARY, **BENCHMARKS}.items() if p.endswith("__init__.py"))
)
def test_package_initialisers_import_eagerly(module):
    path = {**LIBRARY, **BENCHMARKS}[module]
    with open(path, encoding="utf-8") as handle:
        tree = ast.parse(handle.read(), filename=path)
    lazy = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert "__getattr__" not in lazy, f"{module} resolves names lazily"


@pytest.mark.parametrize("package", ["nn", "memory", "models"])
def test_importing_a_layer_loads_nothing_above_it(package):
    above = LAYERS[LAYERS.index(package) + 1 :]
    code = (
        f"import sys, hcmrl_jax.{package}\n"
        f"print(sorted({{m.split('.')[1] for m in sys.modules if m.startswith('hcmrl_jax.')}}))"
    )
    path = os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "PYTHONPATH": path}
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    assert not any(f"'{layer}'" in loaded for layer in above), loaded


def test_moved_names_keep_their_old_import_paths():
    import hcmrl_jax.memory.immediate as immediate
    import hcmrl_jax.models as models
    import hcmrl_jax.models.attention as old_attention
    import hcmrl_jax.nn as nn

    assert old_attention.MaskedMultiHeadAttention is nn.MaskedMultiHeadAttention
    assert old_attention.HierarchicalAttention is nn.HierarchicalAttention
    assert old_attention.masked_softmax is nn.masked_softmax
    assert old_attention.log_time_encoding is nn.log_time_encoding
    assert old_attention.sliding_windows is nn.sliding_windows
    assert immediate.ring_history is nn.ring_history
    for name in ("count_params", "size_core", "MemoryAugmentedPolicy", "WindowTransformerCore"):
        assert hasattr(models, name), name
