"""Command-line failures: one clear line and a non-zero exit; the traceback only on request."""

import pytest

from pipelines import cli


def _fail():
    raise ValueError("/data/bad.csv: no valid event rows (malformed lines: 2). Fix: use the "
                     "UserBehavior format")


def test_a_failure_is_one_line_on_stderr_and_exit_1(capsys, monkeypatch):
    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as e:
        cli.run_cleanly(_fail)
    assert e.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: ValueError: /data/bad.csv: no valid")
    assert "Traceback" not in err and "--debug" in err


def test_debug_flag_or_env_shows_the_traceback(monkeypatch):
    with pytest.raises(ValueError, match="no valid event rows"):
        cli.run_cleanly(_fail, debug=True)
    monkeypatch.setenv(cli.DEBUG_ENV, "1")
    with pytest.raises(ValueError):
        cli.run_cleanly(_fail)


def test_a_ray_task_error_is_reported_as_its_cause():
    class Wrapped(Exception):  # what ray.exceptions.RayTaskError looks like
        cause = KeyError("user_id")

        def __str__(self):
            return "ray::task()\\nTraceback (most recent call last):\\n  File ...\\nKeyError"

    assert cli.error_line(Wrapped()) == "KeyError: 'user_id'"
    tb = RuntimeError("Traceback (most recent call last):\n  File x\nOSError: disk full")
    assert cli.error_line(tb) == "RuntimeError: OSError: disk full"


def test_stage_main_reports_a_bad_input_cleanly(tmp_path, capsys, monkeypatch):
    """`python -m pipelines.prepare_data --dataset taobao_userbehavior --input bad.csv`."""
    from pipelines import prepare_data

    monkeypatch.delenv(cli.DEBUG_ENV, raising=False)
    monkeypatch.setattr(cli, "connect", lambda _cfg: None)  # no cluster needed to fail
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,category,behavior,timestamp\n1,2,3\n")
    with pytest.raises(SystemExit) as e:
        prepare_data.main(["--dataset", "taobao_userbehavior", "--input", str(bad),
                           "--run-dir", str(tmp_path / "run")])
    assert e.value.code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("prepare_data: full log in ") and len(err) == 2, err
    assert err[1].startswith("error: SchemaError") and "bad.csv" in err[1] and "Fix:" in err[1]
    assert not (tmp_path / "run" / "data" / "_MANIFEST.json").exists()
    log = next((tmp_path / "run" / "logs").glob("prepare_data-*.log")).read_text()
    assert "skipping malformed line 2" in log  # the details are in the log file


def test_logs_go_to_the_run_dir_and_ray_stays_off_the_console(tmp_path):
    import logging

    from pipelines.console import _is_console, log_path, route_logs

    path = log_path(str(tmp_path / "run"), "train")
    assert path.startswith(str(tmp_path / "run" / "logs" / "train-"))
    assert log_path("s3://bucket/run", "train").startswith("/")  # remote: a local temp dir
    route_logs(path, verbose=False, library_info_on_console=False)
    logging.getLogger("choirrec.test").info("library detail")
    logging.getLogger("ray.data").info("Running Dataset: 0/1")
    with open(path) as f:
        text = f.read()
    assert "library detail" in text and "Running Dataset" in text
    consoles = [h for h in logging.getLogger("ray.data").handlers if _is_console(h)]
    assert consoles and all(h.level == logging.ERROR for h in consoles)
    route_logs(path, verbose=True)  # --verbose: Ray's console handlers back at INFO
    assert all(h.level <= logging.INFO for h in consoles)
    # a handler that is not the terminal (a test runner's capture) keeps its own level
    others = [h for h in logging.getLogger().handlers if not _is_console(h)]
    assert all(h.level != logging.ERROR for h in others)


def test_a_remote_run_directory_gets_the_log_and_the_node_keeps_none(s3_store, tmp_path):
    """With an s3:// run directory the log is a local temp file while the entry point runs,
    then moved into <run>/logs/: a cluster job leaves nothing on its driver's node."""
    import logging
    import os

    from choirrec.run_dir import RunDir
    from pipelines.console import log_path, publish_log, route_logs

    uri = f"s3://{s3_store.bucket}/logs-test?endpoint_override={s3_store.endpoint}"
    path = log_path(uri, "train")
    route_logs(path, verbose=False)
    logging.getLogger("choirrec.test").warning("remote detail")
    dest = publish_log(path, uri)
    assert dest is not None and not os.path.exists(path)
    run = RunDir(uri)
    with run.fs.open_input_stream(dest) as f:
        assert b"remote detail" in f.read()
    assert dest.startswith(run.path("logs", "train-"))
    local = str(tmp_path / "run")
    assert publish_log(log_path(local, "train"), local) is None  # already in the run dir
