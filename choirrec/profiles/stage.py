"""The profile stage on Ray Data (``profiles/``).

Users + training-window purchases + searches are unified into one long table,
hash-partitioned by shard (``groupby(shard).map_groups``: each call sees complete users), and
an actor pool (model loaded once per actor, fractional CPUs) turns each shard into profiles.
Resumable and incremental through :mod:`choirrec.shards`; the embeddings stage that follows
is :mod:`choirrec.profiles.embed_stage`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import pickle
import time

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import ray

from choirrec.config import ProfileConfig
from choirrec.profiles import template
from choirrec.profiles.facts import CategoryInfo, in_windows, user_facts
from choirrec.profiles.interest_prior import (
    INTEREST_PRIOR_FILE,
    InterestPrior,
    PriorCounts,
    count_shard,
)
from choirrec.profiles.prompt import PROMPT_VERSION, build_messages, parse_profile, prompt_sha256
from choirrec.resources import (
    check_actor_budget,
    nonempty_blocks,
    read_parquet,
    shard_actor_pool,
)
from choirrec.run_dir import RunDir, fingerprint
from choirrec.schema import PROFILES, USER_ATTRIBUTES, validate_table
from choirrec.shards import (
    ShardCollector,
    ShardStore,
    expected_rows,
    n_shards_for,
    sample_users,
    shard_of,
    stage_store,
)

log = logging.getLogger(__name__)

LONG = pa.schema([("user_id", pa.int64()), ("shard", pa.int64()), ("kind", pa.string()),
                  ("ts", pa.int64()), ("item_id", pa.int64()), ("category_id", pa.int64()),
                  ("text", pa.string())])
KEY = ["user_id", "prompt_sha256", "backend", "model"]


def _long(t: pa.Table, kind: str, n_shards: int, selected: np.ndarray | None) -> pa.Table:
    """Convert users / buys / queries rows to the unified long schema (with their shard)."""
    u = t.column("user_id").to_numpy()
    if selected is not None:
        keep = np.isin(u, selected)
        t, u = t.filter(pa.array(keep)), u[keep]
    n = t.num_rows

    def col(name, tp):
        return t.column(name).cast(tp) if name in t.column_names else pa.nulls(n, tp)

    text = col("query", pa.string())
    if kind == "u":  # static attributes travel as one JSON string
        attrs = t.select([c for c in USER_ATTRIBUTES if c in t.column_names]).to_pylist()
        text = pa.array([json.dumps(a) for a in attrs], pa.string())
    return pa.table([pa.array(u, pa.int64()), pa.array(shard_of(u, n_shards)),
                     pa.array([kind] * n, pa.string()), col("ts", pa.int64()),
                     col("item_id", pa.int64()), col("category_id", pa.int64()), text],
                    schema=LONG)


def _split_long(long: pa.Table) -> tuple[np.ndarray, pa.Table, pa.Table, pa.Table]:
    kind = long.column("kind")
    users = long.filter(pc.equal(kind, "u"))
    rows = [{"user_id": uid, **json.loads(a)} for uid, a in zip(
        users.column("user_id").to_pylist(), users.column("text").to_pylist(), strict=True)]
    users_t = pa.Table.from_pylist(rows) if rows else pa.table({"user_id": pa.array([], pa.int64())})
    buys = long.filter(pc.equal(kind, "b")).select(["user_id", "ts", "item_id", "category_id"])
    queries = long.filter(pc.equal(kind, "q")).select(["user_id", "ts", "text"])
    queries = queries.rename_columns(["user_id", "ts", "query"])
    return np.sort(users.column("user_id").to_numpy()), users_t, buys, queries


@dataclasses.dataclass(frozen=True)
class ProfileJob:
    """Everything a profile worker needs; picklable."""

    cfg: ProfileConfig
    info: CategoryInfo
    split_ts: int
    store: ShardStore
    prior: InterestPrior | None = None  # None: no inferred interests (infer_interests = 0)


def shard_prompts(long: pa.Table, job: ProfileJob) -> tuple[list[dict], pa.Table]:
    """Facts, messages and hashes for one shard: (facts list, table of per-user prompt rows)."""
    cfg = job.cfg
    uids, users, buys, queries = _split_long(long)
    facts = user_facts(uids, users, buys, queries, job.info, job.split_ts, cfg.windows_days,
                       cfg.max_categories_per_window, cfg.max_queries)
    if job.prior is not None and cfg.infer_interests > 0:
        add_inferred(facts, buys, job.prior, cfg.infer_interests, job.split_ts,
                     cfg.windows_days)
    msgs = [build_messages(f, cfg.max_text_len) for f in facts]
    table = pa.table({
        "user_id": pa.array(uids, pa.int64()),
        "messages_json": [json.dumps(m, ensure_ascii=False) for m in msgs],
        "prompt_sha256": [prompt_sha256(m) for m in msgs],
        "template": [template.render(f) for f in facts],
    })
    return facts, table


def add_inferred(facts: list[dict], buys: pa.Table, prior: InterestPrior, n_slots: int,
                 split_ts: int, windows: tuple[int, ...]) -> None:
    """Give each user with fewer than ``n_slots`` purchased categories ``facts["inferred"]``:
    the prior's best guesses for the empty slots (heavy users' facts are left as they are).
    Only purchases inside the profile's windows count: the ones the profile shows."""
    recent = in_windows(buys.column("ts").to_numpy(), split_ts, windows)
    b_u = buys.column("user_id").to_numpy()[recent]
    b_c = buys.column("category_id").to_numpy()[recent]
    order = np.argsort(b_u, kind="stable")
    b_u, b_c = b_u[order], b_c[order]
    for f in facts:
        lo, hi = np.searchsorted(b_u, [f["user_id"], f["user_id"] + 1])
        inferred = prior.fill(f["attributes"], sorted(set(b_c[lo:hi].tolist())), n_slots)
        if inferred:
            f["inferred"] = inferred


def template_model(job: ProfileJob) -> str:
    """The template's model id; with inferred interests it names the prior's content, so a
    resumed or incremental run never reuses a profile rendered from a different prior."""
    if job.prior is None or job.cfg.infer_interests <= 0:
        return template.MODEL
    return f"{template.MODEL}+prior-{job.cfg.infer_interests}-{job.prior.digest()[:12]}"


def fit_interest_prior(long: ray.data.Dataset, info: CategoryInfo,
                       smoothing: float) -> InterestPrior:
    """Per-shard partial counts on Ray Data, summed on the driver (small: C x C + C x values)."""
    categories = np.unique(info.item_category)

    def count(t: pa.Table) -> pa.Table:
        _, users, buys, _ = _split_long(t)
        c = count_shard(users, buys, categories)
        return pa.table({"counts": [pickle.dumps(c)]})

    total = PriorCounts.empty(categories)
    for block in nonempty_blocks(long.groupby("shard").map_groups(
            count, batch_format="pyarrow", num_cpus=0.25)):
        for b in block.column("counts").to_pylist():
            total = total.add(pickle.loads(b))
    log.info("interest prior: %d purchases by %d buyers over %d categories",
             int(total.buys.sum()), total.n_buyers, len(categories))
    labels = {int(c): info.label(int(c)) for c in categories}
    return InterestPrior.from_counts(total, smoothing, labels)


class ProfileShardWorker:
    """Ray Data actor: one shard of users -> profiles, written atomically to staging."""

    def __init__(self, job: ProfileJob):
        self.job = job
        self.gen = None
        self._template_model = template_model(job)
        if job.cfg.backend == "llm-cpu":
            from choirrec.profiles.llm_cpu import LlmCpuGenerator

            self.gen = LlmCpuGenerator(job.cfg.llm_cpu)

    @property
    def model(self) -> str:
        return self.gen.model if self.gen is not None else self._template_model

    def _generate(self, messages: list[dict], fallback: str) -> tuple[str, str, str, int]:
        """(profile, backend, status, tokens); malformed answers are retried, then replaced."""
        tokens = 0
        for attempt in range(self.job.cfg.llm_cpu.retries + 1):
            temp = None if attempt == 0 else min(1.0, self.job.cfg.llm_cpu.temperature + 0.3)
            text, n, _ = self.gen.chat(messages, temperature=temp)
            tokens += n
            parsed = parse_profile(text)
            if parsed is not None:
                return parsed, "llm-cpu", "ok" if attempt == 0 else "retried", tokens
        return fallback, "template", "fallback", tokens

    def __call__(self, long: pa.Table) -> pa.Table:
        shard = int(long.column("shard")[0].as_py())
        store = self.job.store
        t0 = time.perf_counter()
        facts, prompts = shard_prompts(long, self.job)
        backend = self.job.cfg.backend
        keys = prompts.select(["user_id", "prompt_sha256"]).append_column(
            "backend", pa.array([backend] * prompts.num_rows, pa.string())).append_column(
            "model", pa.array([self.model] * prompts.num_rows, pa.string()))
        reused = store.reusable(shard, keys, KEY)
        reused_ids = set(reused.column("user_id").to_pylist()) if reused is not None else set()
        rows, tokens = [], 0
        for i, uid in enumerate(prompts.column("user_id").to_pylist()):
            if uid in reused_ids:
                continue
            sha = prompts.column("prompt_sha256")[i].as_py()
            tmpl = prompts.column("template")[i].as_py()
            if self.gen is None:
                prof, be, status, n = tmpl, "template", "ok", 0
            else:
                prof, be, status, n = self._generate(
                    json.loads(prompts.column("messages_json")[i].as_py()), tmpl)
            tokens += n
            rows.append({"user_id": uid, "profile": prof, "backend": be,
                         "model": self.model if be != "template" or self.gen is None
                         else "template-fallback",
                         "prompt_sha256": sha, "prompt_version": PROMPT_VERSION,
                         "status": status, "n_tokens": n})
        new = pa.Table.from_pylist(rows, schema=PROFILE_SCHEMA)
        out = new if reused is None else pa.concat_tables(
            [reused.select(PROFILE_SCHEMA.names).cast(PROFILE_SCHEMA), new])
        out = out.sort_by("user_id")
        validate_table(out, PROFILES)
        store.write(shard, out)
        status = pc.value_counts(new.column("status")).to_pylist() if new.num_rows else []
        counts = {d["values"]: d["counts"] for d in status}
        return pa.table({"shard": [shard], "users": [out.num_rows], "reused": [len(reused_ids)],
                         "generated": [new.num_rows], "retried": [counts.get("retried", 0)],
                         "fallback": [counts.get("fallback", 0)], "tokens": [tokens],
                         "seconds": [time.perf_counter() - t0]})


PROFILE_SCHEMA = pa.schema([
    ("user_id", pa.int64()), ("profile", pa.string()), ("backend", pa.string()),
    ("model", pa.string()), ("prompt_sha256", pa.string()), ("prompt_version", pa.string()),
    ("status", pa.string()), ("n_tokens", pa.int64())])


def _data_context(run: RunDir) -> tuple[dict, int]:
    m = run.require("data", "run `python -m pipelines.prepare_data` first")
    ds = run.read_json("data", "dataset.json")
    return m, int(ds["split"]["valid_start"])


def _selected_users(run: RunDir, max_users: int | None) -> np.ndarray:
    ids = run.read_table("data", "users", columns=["user_id"]).column("user_id").to_numpy()
    return sample_users(ids, max_users)


def profile_fingerprint(cfg: ProfileConfig, data_fp: str, n_shards: int) -> str:
    c = dataclasses.asdict(cfg)
    c.pop("concurrency"), c.pop("num_cpus_per_actor"), c.pop("max_fallback_share")
    if cfg.backend != "llm-cpu":
        c.pop("llm_cpu")
    if cfg.backend != "vllm":
        c.pop("vllm")
    else:  # where and how fast the engines run, and the embedder's fields, change no profile
        for k in ("batch_size", "concurrency", "cpu_per_engine", "cpu_kv_cache_gib",
                  "stage_num_cpus", "cache_dir", "enforce_eager", "tensor_parallel_size",
                  "embed_model", "embed_batch_size", "embed_max_model_len", "embed_dtype"):
            c["vllm"].pop(k)
    return fingerprint("profiles", PROMPT_VERSION, template.MODEL, c, data_fp, n_shards)


def build_profiles(cfg: ProfileConfig, run: RunDir, force: bool = False) -> dict:
    """The ``profiles`` artifact for all (or ``max_users`` sampled) users."""
    if cfg.backend not in ("template", "llm-cpu", "vllm"):
        raise ValueError(f"profiles.backend must be template, llm-cpu or vllm, got "
                         f"{cfg.backend!r}")
    data_m, split_ts = _data_context(run)
    selected = _selected_users(run, cfg.max_users)
    if selected.size == 0:
        raise ValueError("the users artifact is empty: nothing to profile")
    per_shard = cfg.users_per_shard if cfg.backend == "template" else cfg.llm_users_per_shard
    n_shards = n_shards_for(selected.size, per_shard)
    fp = profile_fingerprint(cfg, data_m["fingerprint"], n_shards)
    if not force and run.is_current("profiles", fp):
        log.info("profiles are current in %s; skipping", run.uri)
        return run.manifest("profiles")
    store = stage_store(run, "profiles", fp, n_shards)
    done = store.done_shards()
    todo = sorted(set(range(n_shards)) - done)
    log.info("profiles: backend=%s, %d users in %d shards (%d already done, resuming)",
             cfg.backend, selected.size, n_shards, len(done))
    info = CategoryInfo.from_items(run.read_table("data", "items"))
    sel = None if cfg.max_users is None else selected
    t0 = time.perf_counter()
    summaries: list[pa.Table] = []
    if todo:
        prior = None
        if cfg.infer_interests > 0:  # from every user's purchases, also when resuming/sampling
            prior = fit_interest_prior(
                _long_inputs(run, split_ts, n_shards, None, list(range(n_shards))),
                info, cfg.interest_smoothing)
            tmp = f"{store.staging}/.tmp-{INTEREST_PRIOR_FILE}"
            with run.fs.open_output_stream(tmp) as f:
                f.write(prior.to_bytes())
            run.fs.move(tmp, f"{store.staging}/{INTEREST_PRIOR_FILE}")
        job = ProfileJob(cfg, info, split_ts, store, prior)
        long = _long_inputs(run, split_ts, n_shards, sel, todo)
        if cfg.backend == "vllm":
            summaries = _profiles_vllm(long, job, expected_rows(selected, n_shards, todo))
        else:
            check_actor_budget(cfg.concurrency, cfg.num_cpus_per_actor, "profiles")
            out = long.groupby("shard", num_partitions=min(len(todo), 64)).map_groups(
                ProfileShardWorker, fn_constructor_args=(job,), batch_format="pyarrow",
                compute=shard_actor_pool(cfg.concurrency),
                num_cpus=cfg.num_cpus_per_actor)
            summaries = nonempty_blocks(out)
    store.require_complete("profiles")
    fallback = check_fallback_share(cfg, store)
    s = pa.concat_tables(summaries) if summaries else None
    summary = {
        "backend": cfg.backend, "prompt_version": PROMPT_VERSION, "users": int(selected.size),
        "infer_interests": cfg.infer_interests,  # > 0: INTEREST_PRIOR_FILE is in the artifact
        "n_shards": n_shards, "shards_resumed": len(done),
        **({k: int(pc.sum(s.column(k)).as_py()) for k in
            ("reused", "generated", "retried", "fallback", "tokens")} if s else {}),
        **fallback,
        "seconds": round(time.perf_counter() - t0, 1),
    }
    if s is not None and summary.get("tokens"):
        summary["tokens_per_s"] = round(summary["tokens"] / max(summary["seconds"], 1e-9), 1)
    run.commit_dir(store.staging, "profiles", fp, summary)
    log.info("profiles: %s", json.dumps(summary))
    return run.manifest("profiles")


def check_fallback_share(cfg: ProfileConfig, store: ShardStore) -> dict:
    """The share of LLM profiles that fell back to the template, over the whole artifact
    (resumed shards included); raises above ``max_fallback_share`` so a run whose model
    mostly failed is not committed as an LLM run. Shards stay staged: fix and rerun."""
    if cfg.backend == "template":
        return {}
    status = store.read_column("status")
    n = len(status)
    fb = int(pc.sum(pc.equal(status, "fallback")).as_py() or 0)
    share = fb / max(n, 1)
    if share > cfg.max_fallback_share:
        raise RuntimeError(
            f"profiles: {fb} of {n} LLM answers ({share:.1%}) lacked the three profile sections "
            f"and fell back to the template, above profiles.max_fallback_share = "
            f"{cfg.max_fallback_share:g}. Usual causes: max_tokens too small for the model "
            "(answers cut off), a thinking model with enable_thinking on, or a model too weak "
            "for the format. Fix the cause and rerun (a changed config profiles afresh), or "
            "raise profiles.max_fallback_share and rerun to commit the kept shards as they are")
    return {"fallback_share": round(share, 4)}


def _long_inputs(run: RunDir, split_ts: int, n_shards: int, selected: np.ndarray | None,
                 shards: list[int]) -> ray.data.Dataset:
    todo = np.asarray(shards)

    def conv(kind: str):
        def fn(t: pa.Table) -> pa.Table:
            if kind == "b":
                t = t.filter(pc.and_(pc.equal(t.column("behavior"), "buy"),
                                     pc.less(t.column("ts"), split_ts)))
            elif kind == "q":
                t = t.filter(pc.less(t.column("ts"), split_ts))
            out = _long(t, kind, n_shards, selected)
            return out.filter(pa.array(np.isin(out.column("shard").to_numpy(), todo)))
        return fn

    kw = {"batch_format": "pyarrow", "num_cpus": 0.25}
    users = read_parquet(run, "data", "users").map_batches(conv("u"), **kw)
    buys = read_parquet(run, "data", "events",
                 columns=["user_id", "item_id", "category_id", "behavior", "ts"]
                 ).map_batches(conv("b"), **kw)
    queries = read_parquet(run, "data", "queries").map_batches(conv("q"), **kw)
    return users.union(buys, queries)


def _profiles_vllm(long: ray.data.Dataset, job: ProfileJob,
                   expected: dict[int, int]) -> list[pa.Table]:
    """vLLM path: prompts -> ray.data.llm processor (engines on GPU or CPU workers) -> rows
    regrouped by shard on the driver, each shard written atomically once all its rows are in."""
    from choirrec.profiles.vllm import build_profile_processor

    cfg = job.cfg.vllm

    def prompts(long_shard: pa.Table) -> pa.Table:
        _, t = shard_prompts(long_shard, job)
        return t.append_column("shard", pa.array(
            [int(long_shard.column("shard")[0].as_py())] * t.num_rows, pa.int64()))

    # the prompts are built (a hash shuffle) before the engines start: the shuffle's aggregator
    # actors and the LLM stages' actors competing for a small node's CPUs can stall the whole
    # streaming pipeline silently; prompts are small (a few KB per user)
    ds = long.groupby("shard").map_groups(prompts, batch_format="pyarrow",
                                          num_cpus=cfg.stage_num_cpus).materialize()
    results = build_profile_processor(cfg)(ds)
    t0 = time.perf_counter()

    def write(shard: int, rows: pa.Table) -> pa.Table:
        out = rows.append_column(
            "prompt_version", pa.array([PROMPT_VERSION] * rows.num_rows, pa.string()))
        out = out.select(PROFILE_SCHEMA.names).cast(PROFILE_SCHEMA).sort_by("user_id")
        validate_table(out, PROFILES)
        job.store.write(shard, out)
        fb = int(pc.sum(pc.equal(out.column("status"), "fallback")).as_py() or 0)
        log.info("profiles: shard %d written (%d users, %d fallbacks)", shard, out.num_rows, fb)
        return pa.table({"shard": [shard], "users": [out.num_rows], "reused": [0],
                         "generated": [out.num_rows], "retried": [0], "fallback": [fb],
                         "tokens": [int(pc.sum(out.column("n_tokens")).as_py() or 0)],
                         "seconds": [time.perf_counter() - t0]})

    return ShardCollector(expected, write).drain(
        results.iter_batches(batch_format="pyarrow", batch_size=None))
