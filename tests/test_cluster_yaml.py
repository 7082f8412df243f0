"""cluster.yaml passes Ray's own cluster-launcher validation, offline."""

import copy

import pytest
import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from tests.conftest import ROOT


def load():
    return yaml.safe_load((ROOT / "cluster.yaml").read_text())


def test_cluster_yaml_is_valid_for_ray_up():
    cfg = load()
    validate_config(prepare_config(copy.deepcopy(cfg)))
    types = cfg["available_node_types"]
    assert {"head", "gpu_llm", "cpu_worker"} <= set(types)
    assert "[gpu]" in " ".join(types["gpu_llm"]["worker_setup_commands"])
    assert all("[gpu]" not in c for c in cfg["setup_commands"])  # no vLLM on CPU nodes


def test_validation_would_catch_a_typo():
    cfg = load()
    cfg["available_node_types"]["cpu_worker"]["min_worker"] = 1
    with pytest.raises(Exception, match="min_worker"):
        validate_config(prepare_config(cfg))
