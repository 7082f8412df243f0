"""An S3-compatible object store on 127.0.0.1 for tests and benchmarks (moto's server mode).

The run directory's object-store path (``s3://bucket/prefix``) is exercised against a real
HTTP S3 API: pyarrow's S3 filesystem talks to it exactly as it talks to AWS, MinIO or Ceph.
The server runs in its own process, so Ray workers on every local node reach it, and a test
can kill it. Credentials are the standard AWS variables with throwaway values; nothing here
writes them to a file.

    python -m benchmarks.s3_server --port 9000   # serve until Ctrl-C (for manual runs)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request

TEST_CREDENTIALS = {  # moto accepts any; these only stop the SDK from probing an EC2 role
    "AWS_ACCESS_KEY_ID": "choirrec-test-key",
    "AWS_SECRET_ACCESS_KEY": "choirrec-test-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class S3Server:
    """``moto.server`` in a child process on a loopback port."""

    def __init__(self, port: int | None = None, log_path: str | None = None):
        self.port = port or free_port()
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        """The standard variables a client (or a `ray start` node) needs to use this store."""
        return {**TEST_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint}

    def start(self, timeout_s: float = 30.0) -> S3Server:
        with open(self.log_path or os.devnull, "ab") as out:  # the child keeps its own fd
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **TEST_CREDENTIALS})
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self.proc.returncode}; is "
                                   "'moto[s3]' with flask installed (the dev extra)?")
            try:
                urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=2).close()
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"moto server did not answer on {self.endpoint} in {timeout_s} s")

    def create_bucket(self, name: str) -> str:
        """Create ``name`` (idempotent) and return ``s3://name``."""
        import pyarrow.fs as pafs

        fs = pafs.S3FileSystem(endpoint_override=self.endpoint, allow_bucket_creation=True,
                               access_key=TEST_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                               secret_key=TEST_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
                               region=TEST_CREDENTIALS["AWS_DEFAULT_REGION"])
        fs.create_dir(name)
        return f"s3://{name}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, default=9000)
    p.add_argument("--bucket", default="choirrec")
    a = p.parse_args(argv)
    with S3Server(a.port) as s:
        print(f"{s.create_bucket(a.bucket)} at {s.endpoint}; use:")
        for k, v in s.env().items():
            print(f"  export {k}={v}")
        with contextlib.suppress(KeyboardInterrupt):
            s.proc.wait()


if __name__ == "__main__":
    main()
