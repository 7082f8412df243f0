"""The library's layers (docs/design.md §2): an import only ever points down.

Parsed, not imported: every ``import``/``from ... import`` of a ``choirrec`` module outside an
``if TYPE_CHECKING:`` block, module-level or inside a function.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# longest matching prefix wins; a higher number is a higher layer
LAYERS = {
    "choirrec": 0, "choirrec.config": 0, "choirrec.schema": 0, "choirrec.run_dir": 0,
    "choirrec.shards": 0, "choirrec.resources": 0, "choirrec.hashing": 0,
    "choirrec.metrics": 0, "choirrec.segments": 0, "choirrec.lazy_exports": 0,
    "choirrec.models.config": 0,  # a plain dataclass that choirrec.config nests
    "choirrec.data": 1, "choirrec.profiles": 1, "choirrec.grouping": 1, "choirrec.priors": 1,
    "choirrec.models": 1,
    "choirrec.features": 2,
    "choirrec.training": 3, "choirrec.evaluation": 3, "choirrec.tuning": 3,
    "choirrec.serving": 3, "choirrec.diagnostics": 3,
    "choirrec.pipeline": 4,
    "choirrec.experiments": 5,
}


def layer(module: str) -> int:
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        if ".".join(parts[:n]) in LAYERS:
            return LAYERS[".".join(parts[:n])]
    raise KeyError(module)


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    skip = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip |= {id(n) for b in node.body for n in ast.walk(b)}
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("choirrec"):
            assert node.level == 0, f"{path}:{node.lineno}: use absolute imports"
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("choirrec")]
    return out


def library_files() -> list[Path]:
    return sorted((ROOT / "choirrec").rglob("*.py"))


def test_no_import_points_up():
    up = []
    for path in library_files():
        me = module_name(path)
        up += [f"{path.relative_to(ROOT)}:{line} imports {m} (layer {layer(m)} > {layer(me)})"
               for line, m in imports(path) if layer(m) > layer(me)]
    assert len(library_files()) > 80 and not up, "\n".join(up)


def test_every_library_module_has_a_layer():
    for path in library_files():
        layer(module_name(path))


def test_the_checker_sees_an_upward_import(tmp_path):
    src = ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
           "    from choirrec.features import FeatureStore\n"
           "def f():\n    from choirrec.pipeline import run_pipeline\n")
    p = tmp_path / "probe.py"
    p.write_text(src)
    assert [m for _, m in imports(p)] == ["choirrec.pipeline"]  # TYPE_CHECKING skipped
    assert layer("choirrec.pipeline") > layer("choirrec.models.registry")
    assert layer("choirrec.experiments.table1") > layer("choirrec.pipeline")


def test_public_entry_points_at_package_roots():
    from choirrec.experiments import compare, run_ablations, run_table1
    from choirrec.features import FeatureStore, load_feature_store, uses_priors
    from choirrec.grouping import DistributedRQKMeans, RQKMeans
    from choirrec.metrics import auc, gauc
    from choirrec.models import ChoirRecModel, ModelConfig, build_model, read_bundle
    from choirrec.profiles import build_profiles, embed_profiles
    from choirrec.segments import segment_report

    assert callable(RQKMeans(n_stages=1, n_clusters=2).fit)
    assert DistributedRQKMeans.__module__ == "choirrec.grouping.distributed"
    assert all(callable(f) for f in (compare, run_ablations, run_table1, load_feature_store,
                                     uses_priors, auc, gauc, build_model, read_bundle,
                                     build_profiles, embed_profiles, segment_report))
    assert FeatureStore.__module__ == "choirrec.features.store"
    assert ChoirRecModel.__module__ == "choirrec.models.dual_channel"
    assert ModelConfig().lambda_kd == 0.005
    import choirrec.grouping

    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        choirrec.grouping.nope  # noqa: B018


def test_no_package_export_is_shadowed_by_a_submodule():
    """A lazily exported name equal to a submodule's name would turn into that module as soon
    as the submodule is imported (Python sets it as the package attribute)."""
    import importlib

    for init in sorted((ROOT / "choirrec").rglob("__init__.py")):
        pkg = importlib.import_module(module_name(init))
        subs = {p.stem for p in init.parent.glob("*.py")} | {
            p.name for p in init.parent.iterdir() if (p / "__init__.py").exists()}
        clash = set(getattr(pkg, "__all__", [])) & subs
        assert not clash, f"{pkg.__name__} exports {clash}, which are also its submodules"
        for name in getattr(pkg, "__all__", []):  # every export resolves, to a non-module
            assert not isinstance(getattr(pkg, name), type(importlib)), f"{pkg.__name__}.{name}"
