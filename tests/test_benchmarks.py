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
