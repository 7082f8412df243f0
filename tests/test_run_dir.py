import pyarrow as pa
import pytest

from choirrec.run_dir import MANIFEST, RunDir, fingerprint
from choirrec.schema import SchemaError


def _table():
    return pa.table({"user_id": pa.array([1, 2], pa.int64()), "query": ["a", "b"],
                     "ts": pa.array([1, 2], pa.int64())})


@pytest.mark.parametrize("scheme", ["", "file://"])
def test_commit_is_atomic_and_idempotent(tmp_path, scheme):
    run = RunDir(f"{scheme}{tmp_path}/run")
    fp = fingerprint("stage", {"a": 1})
    assert not run.is_current("data", fp)
    with run.stage("data", fp, {"rows": 2}) as w:
        w.write_table(_table(), "queries")
        assert run.manifest("data") is None  # nothing visible before commit
    assert run.is_current("data", fp) and run.manifest("data")["rows"] == 2
    assert run.read_table("data", "queries").num_rows == 2
    assert not run.is_current("data", fingerprint("stage", {"a": 2}))
    assert (tmp_path / "run" / "data" / MANIFEST).exists()


def test_failure_keeps_previous_output_and_leaves_no_partial(tmp_path):
    run = RunDir(str(tmp_path / "run"))
    with run.stage("data", "fp1") as w:
        w.write_table(_table(), "queries")
    with pytest.raises(RuntimeError), run.stage("data", "fp2") as w:
        w.write_table(_table().slice(0, 1), "queries")
        raise RuntimeError("killed midway")
    assert run.manifest("data")["fingerprint"] == "fp1"
    assert run.read_table("data", "queries").num_rows == 2
    assert list((tmp_path / "run" / ".tmp").iterdir()) == []


def test_invalid_table_is_never_written(tmp_path):
    from choirrec.schema import QUERIES
    run = RunDir(str(tmp_path / "run"))
    bad = _table().set_column(2, "ts", pa.array(["x", "y"]))
    with pytest.raises(SchemaError, match="queries.*'ts'"), run.stage("data", "fp") as w:
        w.write_table(bad, "queries", QUERIES)
    assert run.manifest("data") is None and not (tmp_path / "run" / "data").exists()


def test_require_names_the_missing_stage(tmp_path):
    with pytest.raises(FileNotFoundError, match="no complete 'groups' output. Fix: run build"):
        RunDir(str(tmp_path)).require("groups", "run build_groups first")
