"""The GPU path: profiles and embeddings through Ray Data's LLM API with a vLLM engine.

``ray.data.llm.build_processor(config, preprocess, postprocess)`` turns a Dataset of rows into
a Dataset of results, running vLLM engine replicas as Ray actors on GPU workers. Profiles use
``task_type="generate"`` (chat template applied from the ``messages`` column; output in
``generated_text``); embeddings use ``task_type="embed"`` (``prompt`` in, ``embeddings`` out),
Matryoshka-truncated to ``dims`` and re-normalised (§5.1: Qwen3-Embedding-8B, 4096 -> 512).

Building the processor needs the ``gpu`` extra (vllm, transformers) and GPUs; everything
else here — configs, pre/post-processing, truncation — is plain Python and tested on CPU.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from choirrec.config import VllmConfig
from choirrec.profiles.prompt import parse_profile


def profile_processor_config(cfg: VllmConfig):
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=cfg.model,
        task_type="generate",
        engine_kwargs={
            "tensor_parallel_size": cfg.tensor_parallel_size,
            "max_model_len": cfg.max_model_len,
            "enable_chunked_prefill": True,
        },
        batch_size=cfg.batch_size,
        concurrency=cfg.concurrency,
        chat_template_stage=True,
        tokenize_stage=True,
        detokenize_stage=True,
    )


def embed_processor_config(cfg: VllmConfig):
    from ray.data.llm import vLLMEngineProcessorConfig

    return vLLMEngineProcessorConfig(
        model_source=cfg.embed_model,
        task_type="embed",
        engine_kwargs={"tensor_parallel_size": cfg.tensor_parallel_size,
                       "max_model_len": cfg.max_model_len},
        batch_size=cfg.embed_batch_size,
        concurrency=cfg.concurrency,
        chat_template_stage=False,
        detokenize_stage=False,
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
    """Keep the first ``dims`` coordinates and re-normalise to unit length (float32)."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim == 1:
        v = v[None, :]
    if dims > v.shape[1]:
        raise ValueError(f"cannot truncate {v.shape[1]}-dim embeddings to {dims} dims")
    v = v[:, :dims]
    norm = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norm, 1e-12)


def embed_preprocess(row: dict[str, Any]) -> dict[str, Any]:
    return {"prompt": row["profile"], "user_id": row["user_id"], "shard": row["shard"],
            "source_sha256": row["source_sha256"]}


def embed_postprocess(dims: int):
    def fn(row: dict[str, Any]) -> dict[str, Any]:
        return {"user_id": row["user_id"], "shard": row["shard"],
                "source_sha256": row["source_sha256"],
                "embedding": matryoshka(np.asarray(row["embeddings"]), dims)[0]}

    return fn


def build_profile_processor(cfg: VllmConfig):
    from ray.data.llm import build_processor

    return build_processor(profile_processor_config(cfg), preprocess=profile_preprocess(cfg),
                           postprocess=profile_postprocess(cfg.model))


def build_embed_processor(cfg: VllmConfig, dims: int):
    from ray.data.llm import build_processor

    return build_processor(embed_processor_config(cfg), preprocess=embed_preprocess,
                           postprocess=embed_postprocess(dims))
