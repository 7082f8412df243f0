"""What an entry point prints: our own lines on the console, everything in a log file.

By default the console shows our progress lines, summary tables, warnings and errors; Ray's
own loggers (``ray``, ``ray.data`` progress, ``ray.train``, ``ray.serve``) and the library's
INFO lines go only to ``<run dir>/logs/<entry point>-<time>.log`` (with a remote run directory,
a local temp file that :func:`publish_log` moves into ``<run dir>/logs/`` when the entry point
ends, so a cluster job leaves nothing on the driver's node). ``--verbose`` (``ray.verbose``) puts them all back on the
console, and Ray workers' output with them (``log_to_driver``).
"""

from __future__ import annotations

import io
import logging
import os
import sys
import tempfile
import time

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
RAY_LOGGERS = ("ray", "ray.data", "ray.train", "ray.tune", "ray.serve")
_file_handler: logging.Handler | None = None


def setup_logging(level: str = "INFO") -> None:
    """The console handler of our own loggers (before any config is known)."""
    logging.basicConfig(level=level, stream=sys.stderr, format=FORMAT, datefmt="%H:%M:%S")


def log_path(run_dir: str, entry: str) -> str:
    """Where this invocation's full log goes: inside a local run directory, else /tmp."""
    local = run_dir.removeprefix("file://") if run_dir.startswith("file://") or \
        "://" not in run_dir else None
    folder = os.path.join(local, "logs") if local else os.path.join(
        tempfile.gettempdir(), "choirrec-logs")
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, f"{entry}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log")


def publish_log(path: str, run_dir: str) -> str | None:
    """Move a temp-dir log into a remote run directory's ``logs/``; returns its new path
    (None when the log already is in a local run directory, or the upload failed)."""
    if not path.startswith(os.path.join(tempfile.gettempdir(), "choirrec-logs")):
        return None
    from choirrec.run_dir import RunDir, write_bytes_atomic

    try:
        for h in logging.getLogger().handlers:
            h.flush()
        run = RunDir(run_dir)
        dest = run.path("logs", os.path.basename(path))
        with open(path, "rb") as f:
            write_bytes_atomic(run.fs, dest, f.read())
    except Exception as err:  # noqa: BLE001 - the log stays where it is, and we say so
        print(f"log kept at {path} (copy to {run_dir}/logs failed: {err})", file=sys.stderr)
        return None
    global _file_handler
    if _file_handler is not None:
        for lg in (logging.getLogger(), *map(logging.getLogger, RAY_LOGGERS)):
            lg.removeHandler(_file_handler)
        _file_handler.close()
        _file_handler = None
    os.remove(path)
    return dest


def route_logs(path: str, verbose: bool, library_info_on_console: bool = True) -> None:
    """Send every logger's records to ``path``; keep Ray's off the console unless
    ``verbose`` (and the library's INFO lines too when ``library_info_on_console`` is off,
    for entry points that print their own progress lines)."""
    global _file_handler
    root = logging.getLogger()
    if _file_handler is not None:
        for lg in (root, *map(logging.getLogger, RAY_LOGGERS)):
            lg.removeHandler(_file_handler)
    _file_handler = logging.FileHandler(path)
    _file_handler.setFormatter(logging.Formatter(FORMAT, "%H:%M:%S"))
    _file_handler.setLevel(logging.INFO)
    root.setLevel(logging.INFO)
    root.addHandler(_file_handler)
    console_level = logging.INFO if verbose or library_info_on_console else logging.WARNING
    for h in root.handlers:
        if h is not _file_handler and _is_console(h):
            h.setLevel(console_level)
    quiet_ray(verbose)


def _is_console(h: logging.Handler) -> bool:
    """A handler that writes to a console stream; files and in-memory capture handlers (a
    host application's, a test runner's) are left at their own levels."""
    return isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler) \
        and not isinstance(getattr(h, "stream", None), io.StringIO)


def quiet_ray(verbose: bool) -> None:
    """Ray's loggers: their records to our file; their own console handlers silenced below
    ERROR unless ``verbose``. Call after ``import ray.data`` (it installs its handlers)."""
    import ray.data  # noqa: F401 - configures the ray.data logger we adjust

    for name in RAY_LOGGERS:
        lg = logging.getLogger(name)
        for h in lg.handlers:
            if _is_console(h):
                h.setLevel(logging.INFO if verbose else logging.ERROR)
        if _file_handler is not None and not lg.propagate and _file_handler not in lg.handlers:
            lg.addHandler(_file_handler)
