"""Profiles and embeddings on Ray Data: complete, incremental, resumable."""

import dataclasses
import shutil

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from choirrec.config import DataConfig, EmbedConfig, LlmCpuConfig, ProfileConfig, SyntheticConfig
from choirrec.data.prepare import prepare_data
from choirrec.profiles.embed_stage import choose_embedder, embed_profiles
from choirrec.profiles.prompt import build_messages, prompt_sha256
from choirrec.profiles.stage import build_profiles, profile_fingerprint
from choirrec.run_dir import RunDir
from choirrec.schema import EMBEDDINGS, PROFILES, validate_table
from choirrec.serving.cold_start import load_interest_prior, profile_from_attributes
from choirrec.shards import n_shards_for

pytestmark = [pytest.mark.ray, pytest.mark.timeout(300)]
PCFG = ProfileConfig(users_per_shard=150)


@pytest.fixture(scope="module")
def world(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("prof")
    run = RunDir(str(root / "run"))
    prepare_data(DataConfig(synthetic=SyntheticConfig(users=600, block_size=500)), run)
    return root, run


def test_template_profiles_and_minilm_embeddings(world):
    _, run = world
    m = build_profiles(PCFG, run)
    assert m["users"] == 600 and m["n_shards"] == 4 and m["generated"] == 600
    prof = run.read_table("profiles")
    validate_table(prof, PROFILES)
    assert set(prof.column("backend").to_pylist()) == {"template"}
    assert prof.column("prompt_version")[0].as_py().startswith("profile-")
    assert all(p.startswith("Core identity:") for p in prof.column("profile").to_pylist())
    e = embed_profiles(EmbedConfig(users_per_shard=300), run)
    assert e["embedder"] == "minilm" and e["dims"] == 384 and e["embedded"] == 600
    emb = run.read_table("embeddings")
    validate_table(emb, EMBEDDINGS)
    assert sorted(emb.column("user_id").to_pylist()) == sorted(prof.column("user_id").to_pylist())

    # incremental: unchanged prompts and profiles are reused, not recomputed
    again = build_profiles(PCFG, run, force=True)
    assert again["reused"] == 600 and again["generated"] == 0
    e2 = embed_profiles(EmbedConfig(users_per_shard=300), run, force=True)
    assert e2["reused"] == 600 and e2["embedded"] == 0
    assert run.read_table("embeddings").sort_by("user_id").equals(emb.sort_by("user_id"))


def test_sparse_users_get_inferred_interests_and_serving_renders_them_alike(world, tmp_path):
    _, run = world
    m = build_profiles(PCFG, run)
    assert m["infer_interests"] == PCFG.infer_interests == 5
    texts = run.read_table("profiles").column("profile").to_pylist()
    interests = [t.split("\n")[1] for t in texts]
    guessed = [t for t in interests if "inferred from similar shoppers" in t]
    assert len(guessed) > 50
    for t in interests:
        if "inferred" not in t:  # a full list of 5 bought categories, or no evidence at all
            assert t.count(",") >= 4 or t.endswith("No purchases on record.") \
                or "Searches for" in t, t
    prior, n = load_interest_prior(run)
    assert n == 5 and prior is not None and len(prior.categories) > 10
    cold = profile_from_attributes({"gender": "female", "age_band": "25-29"}, prior, n)
    assert "top categories:" in cold and "no purchases on record" in cold
    assert cold.split("\n")[1].count(",") >= 4  # five inferred categories

    # switched off: the old wording, no prior in the artifact, serving falls back alike
    other = RunDir(str(tmp_path / "off"))
    shutil.copytree(run.path("data"), other.path("data"))
    off = dataclasses.replace(PCFG, infer_interests=0)
    assert build_profiles(off, other)["infer_interests"] == 0
    assert not any("inferred" in t for t in other.read_table("profiles").column("profile")
                   .to_pylist())
    assert load_interest_prior(other) == (None, 0)
    assert "inferred" not in profile_from_attributes({"gender": "female"}, None, 0)


def test_prompt_hash_is_recorded_per_user(world):
    _, run = world
    build_profiles(PCFG, run)
    prof = run.read_table("profiles").to_pylist()
    hashes = {r["prompt_sha256"] for r in prof}
    assert len(hashes) > 500  # one per distinct prompt
    assert all(len(h) == 64 for h in hashes)
    assert prompt_sha256(build_messages({"user_id": 1, "attributes": {}, "purchases": [],
                                         "n_purchases": 0, "searches": []}, 60)) not in hashes


def test_a_killed_run_resumes_from_finished_shards(world, tmp_path):
    root, run = world
    build_profiles(PCFG, run)
    # a second run directory whose previous attempt died after writing 2 of its 4 shards
    other = RunDir(str(tmp_path / "other"))
    shutil.copytree(run.path("data"), other.path("data"))
    n = n_shards_for(600, PCFG.users_per_shard)
    fp = profile_fingerprint(PCFG, other.manifest("data")["fingerprint"], n)
    staging = other.staging("profiles", fp)
    for shard in (0, 2):
        shutil.copy(run.path("profiles", f"part-{shard:05d}.parquet"), staging)
    (tmp_path / "other" / ".staging" / staging.rsplit("/", 1)[1] / ".tmp-00001-dead").write_text(
        "a half-written file from the crash")
    assert other.manifest("profiles") is None  # nothing looks complete before the rerun
    m = build_profiles(PCFG, other)
    assert m["shards_resumed"] == 2
    done = run.read_table("profiles").num_rows
    assert m["generated"] < done and other.read_table("profiles").num_rows == done
    a = run.read_table("profiles").sort_by("user_id").select(["user_id", "profile"])
    b = other.read_table("profiles").sort_by("user_id").select(["user_id", "profile"])
    assert a.equals(b)


def test_behavioural_embedder_covers_every_user(world):
    _, run = world
    e = embed_profiles(EmbedConfig(embedder="behavioral", behavioral_dims=16,
                                   users_per_shard=400), run, force=True)
    assert e["embedder"] == "behavioral" and e["dims"] == 16 and e["users"] == 600
    emb = run.read_table("embeddings")
    validate_table(emb, EMBEDDINGS)
    assert emb.num_rows == 600
    assert set(emb.column("embedder").to_pylist()) == {"behavioral"}


def test_an_actor_pool_that_would_starve_the_readers_is_refused(world):
    _, run = world
    with pytest.raises(ValueError, match="would hang.*profiles.num_cpus_per_actor"):
        build_profiles(ProfileConfig(concurrency=2, num_cpus_per_actor=1.0), run, force=True)


def test_auto_embedder_uses_behaviour_for_anonymous_categories(tmp_path):
    run = RunDir(str(tmp_path / "anon"))
    with run.stage("data", "fp") as w:
        w.write_table(pa.table({"item_id": pa.array([1], pa.int64()),
                                "category_id": pa.array([9], pa.int64()),
                                "category_name": pa.nulls(1, pa.string()),
                                "l1_category": pa.nulls(1, pa.string()),
                                "price_tier": pa.nulls(1, pa.float64())}), "items")
    assert choose_embedder(EmbedConfig(), run)[0] == "behavioral"
    assert choose_embedder(EmbedConfig(embedder="minilm"), run)[0] == "minilm"
    with pytest.raises(ValueError, match="embed.embedder must be"):
        choose_embedder(EmbedConfig(embedder="word2vec"), run)


def test_llm_cpu_backend_end_to_end_on_two_users(world):
    pytest.importorskip("xllamacpp")
    _, run = world
    # two users: one fallback is 50%, so the stage's fallback gate is opened for this test
    cfg = ProfileConfig(backend="llm-cpu", max_users=2, concurrency=1, num_cpus_per_actor=0.5,
                        max_fallback_share=1.0,
                        llm_cpu=LlmCpuConfig(model="qwen2.5-coder-0.5b-instruct-q4_k_m",
                                             max_tokens=200))
    try:
        from choirrec.profiles.llm_cpu import GGUF_MODELS, locate_parts
        locate_parts(GGUF_MODELS[cfg.llm_cpu.model])
    except ModuleNotFoundError:
        pytest.skip("llm-cpu-small extra not installed")
    m = build_profiles(cfg, run, force=True)
    assert m["users"] == 2 and m["generated"] == 2 and m["tokens"] > 50
    assert m["fallback"] + m["retried"] <= 2
    prof = run.read_table("profiles")
    validate_table(prof, PROFILES)
    ok = prof.filter(pc.equal(prof.column("status"), "ok"))
    for r in prof.to_pylist():
        assert r["profile"].startswith("Core identity:") and "Consumption philosophy:" in r[
            "profile"]
        assert (r["backend"], r["model"]) in {
            ("llm-cpu", cfg.llm_cpu.model), ("template", "template-fallback")}
    assert np.all(pc.greater(ok.column("n_tokens"), 0).to_numpy(zero_copy_only=False))


def test_plain_stage_commands_work_on_the_taobao_sample(ray_cluster, tmp_path):
    """No names, no attributes, no queries: profiles still build, embed picks behavioural."""
    from tests.conftest import TAOBAO_HEAD, require

    require(TAOBAO_HEAD)
    run = RunDir(str(tmp_path / "tb"))
    prepare_data(DataConfig(dataset="taobao_userbehavior", input=str(TAOBAO_HEAD)), run)
    m = build_profiles(ProfileConfig(), run)
    assert m["users"] == 815
    text = run.read_table("profiles").column("profile")[0].as_py()
    assert "category " in text or "No purchases" in text
    e = embed_profiles(EmbedConfig(), run)
    assert e["embedder"] == "behavioral" and "no names" in e["reason"]
    assert run.read_table("embeddings").num_rows == 815
