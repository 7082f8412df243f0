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
