"""The run directory on an object store (a real S3 HTTP API: moto's server on 127.0.0.1).

Object stores have no rename, so a stage is committed by copying its objects and writing the
manifest last; these tests kill a process in the middle of that copy and check that the
stage never looks complete and that a rerun recomputes it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid

import pyarrow as pa
import pytest

from choirrec.run_dir import RunDir, join_uri, resolve, with_endpoint

pytestmark = pytest.mark.timeout(180)


def _uri(s3_store, name: str) -> str:
    return f"s3://{s3_store.bucket}/{name}-{uuid.uuid4().hex[:8]}" \
           f"?endpoint_override={s3_store.endpoint}"


def test_join_uri_keeps_the_query_at_the_end():
    assert join_uri("s3://b/run?endpoint_override=http://h:1", "folds", "holdout_1") == \
        "s3://b/run/folds/holdout_1?endpoint_override=http://h:1"
    assert join_uri("runs/demo/", "variants", "minilm") == "runs/demo/variants/minilm"
    assert join_uri("file:///x/run", "a") == "file:///x/run/a"


def test_with_endpoint_folds_the_config_endpoint_into_s3_uris_only():
    assert with_endpoint("s3://b/run", "http://127.0.0.1:9000") == \
        "s3://b/run?endpoint_override=http%3A%2F%2F127.0.0.1%3A9000"
    assert with_endpoint("s3://b/run?region=eu-west-1", "http://h:9") == \
        "s3://b/run?region=eu-west-1&endpoint_override=http%3A%2F%2Fh%3A9"
    assert with_endpoint("s3://b/run?endpoint_override=x", "http://h:9") == \
        "s3://b/run?endpoint_override=x"  # the URI's own wins
    assert with_endpoint("runs/demo", "http://h:9") == "runs/demo"
    assert with_endpoint("s3://b/run", None) == "s3://b/run"


def test_config_storage_endpoint_and_its_flag_reach_the_run_dir(tmp_path):
    from choirrec.config import load_config
    from pipelines.cli import base_parser, config_from_args

    cfg = load_config(None, {"run_dir": "s3://b/r", "storage.endpoint_url": "http://h:9"})
    assert cfg.run_dir == "s3://b/r?endpoint_override=http%3A%2F%2Fh%3A9"
    args = base_parser("x").parse_args(["--run-dir", "s3://b/r", "--storage-endpoint",
                                        "http://h:9"])
    assert config_from_args(args, {}).run_dir == cfg.run_dir


def test_credentials_in_a_uri_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="AWS_ACCESS_KEY_ID") as e:
        resolve("s3://b/run?access_key=AK&secret_key=SK")
    assert "access_key, secret_key" in str(e.value)


def test_stages_commit_on_s3_and_replace_their_old_output(s3_store):
    run = RunDir(_uri(s3_store, "commit"))
    assert run.fs.type_name == "s3"
    with run.stage("data", "fp1") as w:
        for i in range(3):
            w.write_table(pa.table({"x": [i] * 10}), "rows", part=f"part-{i:05d}")
        w.write_json("summary.json", {"n": 30})
    assert run.is_current("data", "fp1") and run.read_table("data", "rows").num_rows == 30
    with run.stage("data", "fp2") as w:
        w.write_table(pa.table({"x": [9]}), "rows")
    assert run.manifest("data")["fingerprint"] == "fp2"
    assert run.read_table("data", "rows").column("x").to_pylist() == [9]  # no stale parts
    with pytest.raises(RuntimeError), run.stage("data", "fp3") as w:
        w.write_table(pa.table({"x": [1]}), "rows")
        raise RuntimeError("boom")
    assert run.manifest("data")["fingerprint"] == "fp2"  # a failed stage leaves the old one
    child = run.child("folds", "holdout_1")
    assert child.uri.endswith(s3_store.endpoint) and child.root.endswith("/folds/holdout_1")


CHILD = textwrap.dedent("""
    import sys, time
    import pyarrow as pa, pyarrow.fs as pafs
    from choirrec.run_dir import RunDir

    def slow_copy(src, dst, source_filesystem, destination_filesystem, **kw):
        # the commit's object-by-object copy, paced so the parent can kill it halfway
        files = [i for i in source_filesystem.get_file_info(pafs.FileSelector(src, recursive=True))
                 if i.type == pafs.FileType.File]
        for n, info in enumerate(sorted(files, key=lambda i: i.path)):
            rel = info.path[len(src):]
            destination_filesystem.create_dir((dst + rel).rsplit("/", 1)[0], recursive=True)
            with source_filesystem.open_input_stream(info.path) as r, \\
                    destination_filesystem.open_output_stream(dst + rel) as w:
                w.write(r.read())
            print(f"copied {n + 1}", flush=True)
            time.sleep(0.5)

    pafs.copy_files = slow_copy
    run = RunDir(sys.argv[1])
    with run.stage("groups", "fp") as w:
        for i in range(8):
            w.write_table(pa.table({"x": [i]}), "rows", part=f"part-{i:05d}")
    print("committed", flush=True)
""")


def test_a_stage_killed_mid_commit_never_looks_complete_and_the_rerun_recomputes(s3_store):
    uri = _uri(s3_store, "killed")
    child = subprocess.Popen([sys.executable, "-c", CHILD, uri], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, **s3_store.env()})
    copied = 0
    deadline = time.monotonic() + 60
    while copied < 3 and time.monotonic() < deadline:
        line = child.stdout.readline()
        if line.startswith("copied"):
            copied = int(line.split()[1])
    os.kill(child.pid, signal.SIGKILL)  # a lost node: no cleanup code runs
    child.wait()
    assert copied >= 3, "the child never reached the commit"
    run = RunDir(uri)
    assert run.fs.get_file_info(run.path("groups")).type.name == "Directory"  # objects exist
    assert run.manifest("groups") is None and not run.is_current("groups", "fp")
    with pytest.raises(FileNotFoundError, match="no complete 'groups' output"):
        run.require("groups", "rerun the stage")
    with run.stage("groups", "fp") as w:  # the rerun
        for i in range(8):
            w.write_table(pa.table({"x": [i]}), "rows", part=f"part-{i:05d}")
    assert run.is_current("groups", "fp")
    assert sorted(run.read_table("groups", "rows").column("x").to_pylist()) == list(range(8))
