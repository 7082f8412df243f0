"""A trained model on disk: ``model.pt`` (state dict) + ``model.json`` (what it is).

``model.json`` holds everything needed to rebuild the module without the training code's
state: the kind (base | choirrec), the full :class:`ModelConfig` (vocabulary sizes included),
and metadata (seed, ablation, feature run, history). The same two files are the Ray Train
checkpoint payload, the ``models/<name>/seed_<s>/`` artifact and what evaluation, Serve and
the benchmarks load; :func:`trained_models` lists a run directory's committed bundles.
"""

from __future__ import annotations

import dataclasses
import io
import json
from typing import Any

import pyarrow.fs as pafs
import torch

from choirrec.config import from_dict
from choirrec.models.config import ModelConfig
from choirrec.models.registry import build_model
from choirrec.run_dir import RunDir

WEIGHTS = "model.pt"
SPEC = "model.json"
# ModelConfig fields added after bundles were first written, with the value those older
# bundles were trained with (a missing key must not silently take today's default)
LEGACY_DEFAULTS = {"attention_pooling": "sum", "group_attention_hidden": None,
                   "activity_as_of_sample": False, "reliability_input_norm": False}


def spec(kind: str, cfg: ModelConfig, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"kind": kind, "model_config": dataclasses.asdict(cfg), **(meta or {})}


def write_bundle(fs: pafs.FileSystem, path: str, model: torch.nn.Module, kind: str,
                 cfg: ModelConfig, meta: dict[str, Any] | None = None) -> None:
    """Write both files under ``path`` on any pyarrow filesystem (callers make it atomic)."""
    buf = io.BytesIO()
    torch.save(unwrap(model).state_dict(), buf)
    fs.create_dir(path, recursive=True)
    with fs.open_output_stream(f"{path}/{WEIGHTS}") as f:
        f.write(buf.getvalue())
    with fs.open_output_stream(f"{path}/{SPEC}") as f:
        f.write(json.dumps(spec(kind, cfg, meta), indent=2, default=str).encode())


def read_spec(fs: pafs.FileSystem, path: str) -> dict[str, Any]:
    with fs.open_input_stream(f"{path}/{SPEC}") as f:
        return json.loads(f.read())


def feature_run_dir(run: RunDir, spec: dict[str, Any]) -> RunDir:
    """The run directory whose features the bundle was trained on: ``spec["feature_run"]``
    relative to ``run`` ("." = the run itself; a regrouping ablation trains on a sub-run)."""
    frel = spec.get("feature_run", ".")
    return run if frel == "." else run.child(frel)


def read_bundle(fs: pafs.FileSystem, path: str) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(model in eval mode, spec); the config is rebuilt strictly (unknown keys fail)."""
    s = read_spec(fs, path)
    where = f"{path}/{SPEC}:model_config"
    raw = {**LEGACY_DEFAULTS, **s["model_config"]}  # from_dict merges an old extra dict
    cfg = from_dict(ModelConfig, raw, where)
    model = build_model(s["kind"], cfg)
    with fs.open_input_stream(f"{path}/{WEIGHTS}") as f:
        state = torch.load(io.BytesIO(f.read()), map_location="cpu", weights_only=True)
    model.load_state_dict(state)
    model.eval()
    return model, s


def unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel wrapper (state-dict keys without 'module.')."""
    return model.module if hasattr(model, "module") else model


def _subdirs(run: RunDir, *parts: str) -> list[str]:
    sel = pafs.FileSelector(run.path(*parts), allow_not_found=True)
    return sorted(i.base_name for i in run.fs.get_file_info(sel)
                  if i.type == pafs.FileType.Directory and not i.base_name.startswith("."))


def trained_models(run: RunDir) -> dict[str, dict[int, dict]]:
    """{model name: {seed: manifest}} of every committed ``models/<name>/seed_<s>``."""
    out: dict[str, dict[int, dict]] = {}
    for name in _subdirs(run, "models"):
        for d in _subdirs(run, "models", name):
            m = run.manifest(f"models/{name}/{d}") if d.startswith("seed_") else None
            if m is not None:
                out.setdefault(name, {})[int(d.removeprefix("seed_"))] = m
    return out
