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
    query_rate: float = 0.6  # expected queries per visit


@dataclass
class DataConfig:
    """The data-preparation stage (``python -m pipelines.prepare_data``)."""

    dataset: str = "synthetic"  # synthetic | taobao_userbehavior | choirrec_tsv
    input: str | None = None  # raw input path (file or directory) for non-synthetic datasets
    tz_offset_hours: float | None = None  # day boundaries; None = the dataset's own default
    valid_days: int = 1
    test_days: int = 1
    attribution_window_hours: float | None = None  # None: a buy any time after the click
    low_activity_share: float = 0.55  # bottom share of users by training-window purchases
    activity_levels: int = 5
    force: bool = False  # recompute even if the output fingerprint matches
    synthetic: SyntheticConfig = field(default_factory=SyntheticConfig)


@dataclass
class RayConfig:
    address: str | None = None  # None: $RAY_ADDRESS, else attach to / start a local cluster
    num_cpus: int | None = None  # for a cluster started by this process
    include_dashboard: bool = False


@dataclass
class Config:
    run_dir: str = "runs/demo"
    data: DataConfig = field(default_factory=DataConfig)
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
    return from_dict(Config, data)


def to_dict(cfg: Any) -> dict:
    return dataclasses.asdict(cfg)
