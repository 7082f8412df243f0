"""serve/config.yaml passes Ray Serve's own schema and names the app's real deployment."""

from pathlib import Path

import pytest
import yaml
from ray.serve.schema import ServeDeploySchema

from serve.app import ChoirRecService, build

CONFIG = Path(__file__).resolve().parents[1] / "serve" / "config.yaml"


def test_serve_config_is_valid_for_serve_deploy():
    cfg = ServeDeploySchema.model_validate(yaml.safe_load(CONFIG.read_text()))
    app = cfg.applications[0]
    assert app.import_path == "serve.app:build" and "run_dir" in app.args
    (dep,) = app.deployments
    assert dep.name == ChoirRecService.name
    assert dep.user_config["model_uri"].startswith("models/")
    assert dep.autoscaling_config["max_replicas"] >= 1


def test_builder_checks_replicas_before_touching_the_run(tmp_path):
    with pytest.raises(ValueError, match="num_replicas=0"):
        build({"run_dir": str(tmp_path), "num_replicas": 0})
