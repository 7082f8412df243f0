"""Rolling-origin test days: the per-day eligible users, the automatic K, the shifted split."""

import numpy as np
import pyarrow as pa
import pytest

from choirrec.config import Config, DataConfig, SyntheticConfig
from choirrec.data.cvr_samples import DAY
from choirrec.data.synthetic_source import synthetic_split
from choirrec.experiments.rolling_folds import choose_test_days, eligible_users_by_day, fold_config


def test_eligible_users_by_day_counts_users_with_both_labels_that_day():
    end = 10 * DAY
    rows = [  # (user, day before end, label)
        (1, 0, 0), (1, 0, 1), (2, 0, 1), (3, 0, 0), (3, 0, 1),
        (1, 1, 0), (1, 1, 1), (2, 1, 0), (2, 2, 1), (2, 1, 1)]
    u, d, y = (np.array(c) for c in zip(*rows, strict=True))
    t = pa.table({"user_id": u, "ts": end - 1 - d * DAY - 5, "label": y})
    per_day = eligible_users_by_day(t, low_users=np.array([3, 2]), end=end, n_days=4)
    assert per_day == [(2, 1), (2, 1), (0, 0), (0, 0)]


def test_choose_test_days_reaches_the_low_activity_target_or_the_cap():
    per_day = [(1900, 190), (1800, 180), (1700, 170)]
    assert choose_test_days(per_day, 300, 7) == 2
    assert choose_test_days(per_day, 100, 7) == 1
    assert choose_test_days(per_day, 10_000, 7) == 3  # every available day
    assert choose_test_days(per_day, 10_000, 2) == 2  # the cap


def test_holdout_moves_the_split_back_and_refuses_to_empty_training():
    syn = SyntheticConfig(days=14)
    s0 = synthetic_split(syn, DataConfig())
    s2 = synthetic_split(syn, DataConfig(holdout_days=2))
    assert s0.end - s2.end == 2 * DAY and s0.test_start - s2.test_start == 2 * DAY
    with pytest.raises(ValueError, match="holdout_days"):
        synthetic_split(syn, DataConfig(holdout_days=12))


def test_fold_config_adds_to_the_configured_holdout():
    cfg = Config(data=DataConfig(holdout_days=1))
    assert fold_config(cfg, 2).data.holdout_days == 3 and cfg.data.holdout_days == 1


def test_default_holdout_keeps_the_data_fingerprint(monkeypatch):
    """Runs prepared before holdout_days existed stay current: the default is not hashed."""
    import choirrec.data.prepare as prepare

    seen = []
    monkeypatch.setattr(prepare, "fingerprint", lambda *parts: seen.append(parts) or "x")
    prepare.data_fingerprint(DataConfig())
    prepare.data_fingerprint(DataConfig(holdout_days=1))
    assert "holdout_days" not in seen[0][2] and seen[1][2]["holdout_days"] == 1
