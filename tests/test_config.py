import pytest

from choirrec.config import Config, ConfigError, load_config


def test_defaults_and_yaml_and_overrides(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("run_dir: runs/x\ndata:\n  dataset: synthetic\n  synthetic:\n    users: 500\n"
                 "    conv_bias: -3\n")
    cfg = load_config(str(y), {"data.synthetic.seed": 7, "data.input": None})
    assert isinstance(cfg, Config)
    assert cfg.run_dir == "runs/x" and cfg.data.synthetic.users == 500
    assert cfg.data.synthetic.seed == 7 and cfg.data.synthetic.conv_bias == -3.0
    assert cfg.data.low_activity_share == 0.55  # paper default kept


def test_unknown_keys_and_wrong_types_are_errors(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("data:\n  synthetic:\n    user: 5\n")
    with pytest.raises(ConfigError, match=r"config.data.synthetic: unknown keys \['user'\]"):
        load_config(str(y))
    y.write_text("data:\n  synthetic:\n    users: many\n")
    with pytest.raises(ConfigError, match="config.data.synthetic.users: expected int"):
        load_config(str(y))


def test_demo_config_loads():
    cfg = load_config("configs/demo.yaml")
    assert cfg.data.dataset == "synthetic" and cfg.data.synthetic.users >= 10_000


def test_every_shipped_config_loads_strictly():
    from pathlib import Path

    from choirrec.config import load_config

    root = Path(__file__).resolve().parents[1]
    files = sorted((root / "configs").glob("*.yaml"))
    assert {f.name for f in files} >= {"demo.yaml", "taobao_userbehavior.yaml", "production.yaml"}
    for f in files:
        load_config(str(f))


def test_production_config_is_the_papers_taobao_scale_setup():
    from pathlib import Path

    from choirrec.config import load_config

    c = load_config(str(Path(__file__).resolve().parents[1] / "configs" / "production.yaml"))
    assert c.profiles.backend == "vllm" and c.profiles.vllm.model == "Qwen/Qwen3-30B-A3B"
    assert c.embed.embedder == "vllm" and c.profiles.vllm.embed_model == "Qwen/Qwen3-Embedding-8B"
    assert c.embed.dims == 512
    assert (c.groups.n_stages, c.groups.n_clusters) == (3, 256)
    assert c.train.batch_size == 1024 and c.train.use_gpu and c.train.num_workers > 1
    assert c.model.lambda_kd == 0.005 and c.run_dir.startswith("s3://")


def test_config_round_trips_through_yaml(tmp_path):
    from choirrec.config import Config, SweepConfig, load_config, to_yaml

    c = Config(sweep=SweepConfig(k=(8, 16), lambdas=(0.0, 0.01)))
    p = tmp_path / "c.yaml"
    p.write_text(to_yaml(c))
    assert load_config(str(p)) == c


def test_portable_uri_is_absolute_for_relative_local_paths(tmp_path, monkeypatch):
    """A Tune trial runs in its own directory: run dirs handed to it must not be relative."""
    import os

    from choirrec.run_dir import RunDir

    monkeypatch.chdir(tmp_path)
    assert RunDir("runs/x").portable_uri == os.path.join(str(tmp_path), "runs/x")
    assert RunDir(f"file://{tmp_path}/y").portable_uri == f"file://{tmp_path}/y"


def test_every_pipeline_flag_names_a_config_field():
    """A flag bound to a field that does not exist would be silently ignored by a typo."""
    import importlib
    import pkgutil

    import pipelines

    cfg = Config()
    n = 0
    for mod in pkgutil.iter_modules(pipelines.__path__):
        flags = getattr(importlib.import_module(f"pipelines.{mod.name}"), "FLAGS", [])
        for f in flags:
            obj = cfg
            for part in f["field"].split("."):
                assert hasattr(obj, part), f"{mod.name} {f['name']} -> {f['field']}"
                obj = getattr(obj, part)
            n += 1
    assert n > 20
    from pipelines.train import FLAGS

    assert {"--fusion-init-alpha", "--channel-aux-weight"} <= {f["name"] for f in FLAGS}


def test_a_config_with_the_old_model_extra_dict_loads(tmp_path):
    """tune/best.yaml files written before the baselines' fields were typed hold
    ``model: {extra: {...}}``; they load into the typed fields."""
    import yaml

    from choirrec.config import ConfigError, load_config

    p = tmp_path / "best.yaml"
    p.write_text(yaml.safe_dump({"model": {"extra": {"poso_c": 3.0, "uie_clusters": 8},
                                           "lambda_kd": 0.01}}))
    cfg = load_config(str(p))
    assert (cfg.model.poso_c, cfg.model.uie_clusters, cfg.model.lambda_kd) == (3.0, 8, 0.01)
    p.write_text(yaml.safe_dump({"model": {"extra": {}}}))
    assert load_config(str(p)).model.poso_c == 2.0
    p.write_text(yaml.safe_dump({"model": {"extra": {"nope": 1}}}))
    with pytest.raises((ConfigError, ValueError), match="nope"):
        load_config(str(p))
