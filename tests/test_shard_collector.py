"""Shards reassembled from a processor's row stream, and the LLM fallback-share gate."""

import numpy as np
import pyarrow as pa
import pytest

from choirrec.config import ProfileConfig
from choirrec.profiles.stage import check_fallback_share
from choirrec.shards import ShardCollector, ShardStore, expected_rows, shard_of


def _rows(uids, n_shards):
    uids = np.asarray(uids)
    return pa.table({"user_id": uids, "shard": shard_of(uids, n_shards)})


def test_each_shard_is_handed_on_once_when_its_last_row_arrives():
    uids = np.arange(100, 160)
    expected = expected_rows(uids, 4, range(4))
    assert sum(expected.values()) == 60
    done = []
    col = ShardCollector(expected, lambda s, t: done.append((s, sorted(
        t.column("user_id").to_pylist()))) or pa.table({"shard": [s]}))
    rng = np.random.default_rng(0)
    order = rng.permutation(uids)
    for chunk in np.array_split(order, 7):  # batches mixing shards, in any order
        col.add(_rows(chunk, 4))
    assert sorted(s for s, _ in done) == [0, 1, 2, 3]
    for s, ids in done:
        assert ids == sorted(uids[shard_of(uids, 4) == s].tolist())
    assert len(col.finish()) == 4


def test_lost_duplicated_or_foreign_rows_are_errors():
    uids = np.arange(40)
    expected = expected_rows(uids, 2, [0])  # only shard 0 is being computed
    col = ShardCollector(expected, lambda s, t: pa.table({"shard": [s]}))
    s0 = uids[shard_of(uids, 2) == 0]
    col.add(_rows(s0[:-1], 2))
    with pytest.raises(RuntimeError, match="missing rows"):
        col.finish()
    with pytest.raises(RuntimeError, match="not being computed"):
        col.add(_rows(uids[shard_of(uids, 2) == 1][:1], 2))
    col.add(_rows(s0[-1:], 2))
    with pytest.raises(RuntimeError, match="duplicated"):
        col.add(_rows(s0[:1], 2))


def test_the_stage_fails_above_the_fallback_share_naming_the_cause(tmp_path):
    store = ShardStore(str(tmp_path), str(tmp_path / "staging"), None, None, 2)
    (tmp_path / "staging").mkdir()
    store.write(0, pa.table({"status": ["ok"] * 18 + ["fallback"] * 2}))
    store.write(1, pa.table({"status": ["retried"] * 19 + ["fallback"]}))  # a resumed shard
    assert check_fallback_share(ProfileConfig(backend="vllm", max_fallback_share=0.1),
                                store) == {"fallback_share": 0.075}
    with pytest.raises(RuntimeError, match=r"3 of 40 LLM answers \(7.5%\).*max_tokens"):
        check_fallback_share(ProfileConfig(backend="llm-cpu", max_fallback_share=0.05), store)
    assert check_fallback_share(ProfileConfig(backend="template"), store) == {}
