"""The training-throughput benchmark times both models alternately and reports honest ratios."""

import statistics

import pytest

pytestmark = [pytest.mark.ray, pytest.mark.timeout(900)]  # includes the trained_run fixture


def test_train_throughput_interleaves_models_and_reports_the_median_ratio(trained_run, capsys):
    from benchmarks.train_throughput import main

    run, _cfg, _marker = trained_run
    out = main(["--run-dir", run.uri, "--batch-size", "64", "--batches", "2", "--warmup", "1",
                "--repeats", "3", "--group-attention-hidden", "8", "--group-seq-length", "5"])
    per = out["samples_per_s_per_repeat"]
    assert len(per["base"]) == len(per["choirrec"]) == 3
    assert all(r > 0 for k in per for r in per[k])
    assert out["samples_per_s"]["base"] == statistics.median(per["base"])
    ratios = [b / c for b, c in zip(per["base"], per["choirrec"], strict=True)]
    assert out["cost_ratio_choirrec_vs_base"] == pytest.approx(statistics.median(ratios))
    assert out["group_attention_hidden"] == [8] and out["group_seq_length"] == 5
    assert "choirrec costs" in capsys.readouterr().out


def test_sequence_leak_reports_both_features_per_split(trained_run, capsys):
    import math

    from benchmarks.sequence_leak import main

    run, _cfg, _marker = trained_run
    out = main(["--run-dir", run.uri])
    assert set(out["splits"]) == set(out["activity"]) == {"train", "valid", "test"}
    n_train = run.read_table("data", "samples", "train").num_rows
    for counts in ("static", "as_of_sample"):
        bins = out["activity"]["train"][counts]
        assert list(bins) == ["0", "1", "2-4", "5+"]
        assert sum(b["n_samples"] for b in bins.values()) == n_train
    # a user with no purchase before the validation day has no training positive: the leak
    zero = out["activity"]["train"]["static"]["0"]
    assert zero["positive_rate"] == 0.0 or math.isnan(zero["positive_rate"])
    # counted as of the sample, every user's first purchase is a positive with 0 before it
    assert out["activity"]["train"]["as_of_sample"]["0"]["positive_rate"] > 0
    assert "positive rate by purchase count (as_of_sample)" in capsys.readouterr().out


def test_fusion_gate_reports_channels_and_alpha_per_level(trained_run, capsys):
    from benchmarks.fusion_gate import main

    run, _cfg, _marker = trained_run
    out = main(["--run-dir", run.uri, "--splits", "valid,test"])
    for split in ("valid", "test"):
        r = out["splits"][split]
        assert r["seeds"] == [0]
        assert set(r) >= {"all", *(f"level_{k}" for k in range(1, 6))}
        n = run.read_table("data", "samples", split).num_rows
        assert r["all"]["n_samples"] == n
        assert sum(r[f"level_{k}"]["n_samples"] for k in range(1, 6)) == n
        assert 0.0 <= r["all"]["alpha_best"] <= 1.0
        assert 0.0 < r["all"]["alpha_learned"] < 1.0
        # the hindsight α is the log-loss minimum over a grid that the learned gate is not bound to
        assert r["all"]["log_loss_best"] <= r["all"]["log_loss_learned"] + 1e-9
    assert "alpha_best" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="dual-channel"):
        main(["--run-dir", run.uri, "--model", "base"])
