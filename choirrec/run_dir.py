"""The run directory: where every stage reads and writes, on any pyarrow filesystem.

A stage's output is a directory (``data/``, ``groups/``, ...). It is written under
``.tmp/<stage>-<uuid>/`` and only then moved into place, and its ``_MANIFEST.json`` — the
commit marker, holding the fingerprint of the config and inputs that made it — is written
last. A reader trusts a stage directory only if its manifest exists, so a run killed midway
never leaves a partial output that looks complete, and a rerun with the same fingerprint is
skipped (idempotent stages). Single files outside a stage directory (a CSV report, a plot) go
through :func:`write_bytes_atomic`: a temp file, then a rename.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from choirrec.schema import ArtifactSchema, Checks, validate_schema, validate_table

MANIFEST = "_MANIFEST.json"
REUSE_FROM = "_REUSE_FROM.json"  # a derived run (a rolling-day fold) names its source


def fingerprint(*parts: Any) -> str:
    """A stable sha256 over JSON-serialisable parts (configs, input fingerprints, versions)."""
    blob = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def file_fingerprint(path: str) -> dict:
    """Identity of a raw input file: path, size and mtime (content hashing a 3 GB log is too slow)."""
    fs, p = resolve(path)
    info = fs.get_file_info(p)
    if info.type == pafs.FileType.NotFound:
        raise FileNotFoundError(f"input file not found: {path}")
    return {"path": p, "size": info.size, "mtime_ns": info.mtime_ns}


CREDENTIAL_KEYS = ("access_key", "secret_key", "session_token")
OBJECT_STORES = ("s3", "gcs", "abfs")  # pyarrow type names of filesystems without rename


def resolve(uri: str) -> tuple[pafs.FileSystem, str]:
    """(filesystem, path) for a local path, ``file://`` URI or any pyarrow-supported URI.

    An object-store URI may carry pyarrow's options as a query
    (``s3://bucket/run?endpoint_override=http://127.0.0.1:9000``), so a worker on any node
    resolves the same store from the URI alone. Credentials are refused there: a URI is
    written to manifests and logs; they come from the standard variables
    (``AWS_ACCESS_KEY_ID`` …) or the node's instance role.
    """
    if "://" not in uri:
        return pafs.LocalFileSystem(), os.path.abspath(uri)
    query = urllib.parse.parse_qs(uri.partition("?")[2])
    leaked = sorted(k for k in query if k in CREDENTIAL_KEYS)
    if leaked:
        raise ValueError(
            f"run directory URI carries credentials ({', '.join(leaked)}); they would be "
            "written to manifests and logs. Fix: remove them from the URI and set "
            "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN) instead")
    return pafs.FileSystem.from_uri(uri)


def join_uri(uri: str, *parts: str) -> str:
    """``uri`` extended by path ``parts``, keeping an object-store URI's query at the end."""
    base, sep, query = uri.partition("?") if "://" in uri else (uri, "", "")
    return "/".join([base.rstrip("/"), *parts]) + sep + query


def with_endpoint(uri: str, endpoint_url: str | None) -> str:
    """An ``s3://`` URI with ``endpoint_override`` set (config ``storage.endpoint_url``),
    unless the URI names one already; other URIs are returned unchanged."""
    if not endpoint_url or not uri.startswith("s3://"):
        return uri
    base, _, query = uri.partition("?")
    if "endpoint_override" in urllib.parse.parse_qs(query):
        return uri
    extra = urllib.parse.urlencode({"endpoint_override": endpoint_url})
    return f"{base}?{query + '&' if query else ''}{extra}"


def is_object_store(fs: pafs.FileSystem) -> bool:
    """Object stores have no directory rename: a "move" there copies every object."""
    return fs.type_name in OBJECT_STORES


@dataclass(frozen=True)
class PartWriter:
    """A picklable handle that Ray tasks and Data workers use to write artifact parts.

    It carries the run URI (not a filesystem object), so a worker on another node resolves
    the same storage (object store, NFS) itself. Part names must be deterministic for the
    input they come from, so a retried task overwrites its own file instead of duplicating it.
    """

    uri: str
    base: str  # the stage's temporary directory (a path on the URI's filesystem)

    def write(self, artifact: str, part: str, table: pa.Table,
              schema: ArtifactSchema | None = None, checks: Checks | None = None) -> None:
        if schema is not None:
            validate_table(table, schema, checks)
        fs, _ = resolve(self.uri)
        fs.create_dir(f"{self.base}/{artifact}", recursive=True)
        pq.write_table(table, f"{self.base}/{artifact}/{part}.parquet", filesystem=fs)


@dataclass
class StageWriter:
    """Handle given to a stage while it writes into its temporary directory."""

    run: RunDir
    stage: str
    tmp_path: str
    info: dict

    def path(self, *parts: str) -> str:
        return "/".join([self.tmp_path, *parts])

    def write_table(self, table: pa.Table, artifact: str, schema: ArtifactSchema | None = None,
                    checks: Checks | None = None, part: str = "part-00000") -> None:
        """Validate (if a schema is given) and write one Parquet part of an artifact."""
        self.parts().write(artifact, part, table, schema, checks)

    def write_json(self, name: str, obj: Any) -> None:
        write_json(self.run.fs, self.path(name), obj)

    def parts(self) -> PartWriter:
        return PartWriter(self.run.uri, self.tmp_path)


def write_json(fs: pafs.FileSystem, path: str, obj: Any) -> None:
    with fs.open_output_stream(path) as f:
        f.write(json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


class RunDir:
    """A run directory on a pyarrow filesystem (local path, ``file://``, ``s3://``, ``gs://``...)."""

    def __init__(self, uri: str):
        self.uri = uri
        self.fs, self.root = resolve(uri)
        self.fs.create_dir(self.root, recursive=True)

    def path(self, *parts: str) -> str:
        return "/".join([self.root.rstrip("/"), *parts])

    def child(self, *parts: str) -> RunDir:
        """A run directory nested in this one (a rolling-day fold, a group variant), on the
        same storage: the URI keeps its scheme and options."""
        return RunDir(join_uri(self.uri, *parts))

    @property
    def portable_uri(self) -> str:
        """The URI with a local relative path made absolute: for code that runs with another
        working directory (a Tune trial runs in its own trial directory)."""
        if isinstance(self.fs, pafs.LocalFileSystem) and "://" not in self.uri:
            return os.path.abspath(self.root)
        return self.uri

    def manifest(self, stage: str) -> dict | None:
        """The stage's manifest if the stage committed, else None."""
        p = self.path(stage, MANIFEST)
        if self.fs.get_file_info(p).type != pafs.FileType.File:
            return None
        with self.fs.open_input_stream(p) as f:
            return json.loads(f.read())

    def is_current(self, stage: str, fp: str) -> bool:
        m = self.manifest(stage)
        return m is not None and m.get("fingerprint") == fp

    @contextmanager
    def stage(self, stage: str, fp: str, info: Mapping[str, Any] | None = None
              ) -> Iterator[StageWriter]:
        """Write a stage atomically: temp dir -> replace old output -> manifest last.

        On an exception the temp dir is removed and any previous output stays as it was.
        """
        tmp = self.path(".tmp", f"{stage.replace('/', '_')}-{uuid.uuid4().hex[:12]}")
        self.fs.create_dir(tmp, recursive=True)
        writer = StageWriter(self, stage, tmp, dict(info or {}))
        try:
            yield writer
        except BaseException:
            self.fs.delete_dir(tmp)
            raise
        self.commit_dir(tmp, stage, fp, writer.info)

    def commit_dir(self, src: str, stage: str, fp: str, info: Mapping[str, Any]) -> None:
        """Move a fully written directory into place as ``stage``, then write its manifest."""
        final = self.path(stage)
        if self.fs.get_file_info(final).type != pafs.FileType.NotFound:
            # Drop the old commit marker first, so a crash between here and the end leaves
            # an output that is visibly incomplete rather than stale-but-complete.
            old = self.path(stage, MANIFEST)
            if self.fs.get_file_info(old).type == pafs.FileType.File:
                self.fs.delete_file(old)
            self.fs.delete_dir(final)
        parent = final.rsplit("/", 1)[0]
        self.fs.create_dir(parent, recursive=True)
        if is_object_store(self.fs):
            # no rename on an object store: copy, then the manifest below commits it (a copy
            # killed halfway leaves objects but no manifest: the stage is not complete)
            pafs.copy_files(src, final, source_filesystem=self.fs,
                            destination_filesystem=self.fs)
            self.fs.delete_dir(src)
        else:
            self.fs.move(src, final)
        manifest = {"stage": stage, "fingerprint": fp, "created_at": time.time(), **info}
        write_json(self.fs, self.path(stage, MANIFEST), manifest)

    def staging(self, stage: str, fp: str) -> str:
        """A persistent work directory for a resumable stage, keyed by its fingerprint.

        Unlike ``.tmp``, it survives a crash: a rerun with the same fingerprint finds the
        shards already finished there and skips them.
        """
        path = self.path(".staging", f"{stage.replace('/', '_')}-{fp[:16]}")
        self.fs.create_dir(path, recursive=True)
        return path

    def copy_stage_from(self, src: RunDir, stage: str, hint: str = "") -> dict:
        """Copy ``src``'s committed ``stage`` here (same fingerprint), unless already current.

        Derived runs (a group variant, a sweep's groups for one k) start from their parent's
        upstream outputs; the copy is committed like any stage, manifest last."""
        src_m = src.require(stage, hint or f"build '{stage}' in {src.uri} first")
        if self.is_current(stage, src_m["fingerprint"]):
            return self.manifest(stage)
        tmp = self.path(".tmp", f"{stage.replace('/', '_')}-copy-{uuid.uuid4().hex[:8]}")
        self.fs.create_dir(tmp, recursive=True)
        pafs.copy_files(src.path(stage), tmp, source_filesystem=src.fs,
                        destination_filesystem=self.fs)
        self.fs.delete_file(f"{tmp}/{MANIFEST}")  # commit_dir writes it last
        info = {k: v for k, v in src_m.items() if k not in ("stage", "fingerprint", "created_at")}
        self.commit_dir(tmp, stage, src_m["fingerprint"], info)
        return self.manifest(stage)

    def set_reuse_from(self, other: RunDir) -> None:
        """Let this run's incremental stages reuse ``other``'s unchanged rows (see
        :class:`choirrec.shards.ShardStore`): written once by whoever derives a run."""
        write_json(self.fs, self.path(REUSE_FROM), {"uri": other.uri})

    def reuse_from(self) -> RunDir | None:
        p = self.path(REUSE_FROM)
        if self.fs.get_file_info(p).type != pafs.FileType.File:
            return None
        uri = self.read_json(REUSE_FROM)["uri"]
        other = RunDir.__new__(RunDir)  # no create_dir: a vanished source is simply unused
        other.uri, (other.fs, other.root) = uri, resolve(uri)
        return other

    def require(self, stage: str, hint: str) -> dict:
        m = self.manifest(stage)
        if m is None:
            raise FileNotFoundError(
                f"run directory {self.uri} has no complete '{stage}' output. Fix: {hint}")
        return m

    def dataset(self, *parts: str) -> pads.Dataset:
        return pads.dataset(self.path(*parts), format="parquet", filesystem=self.fs)

    def read_table(self, *parts: str, schema: ArtifactSchema | None = None,
                   columns: list[str] | None = None) -> pa.Table:
        """Read a Parquet artifact; validate its schema (types) if one is given."""
        ds = self.dataset(*parts)
        if schema is not None:
            validate_schema(ds.schema, schema)
        return ds.to_table(columns=columns)

    def read_json(self, *parts: str) -> Any:
        with self.fs.open_input_stream(self.path(*parts)) as f:
            return json.loads(f.read())


def write_bytes_atomic(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write to ``path.tmp`` then rename: a reader never sees half a file."""
    tmp = f"{path}.tmp"
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(tmp) as f:
        f.write(data)
    fs.move(tmp, path)


def write_csv(fs: pafs.FileSystem, path: str, rows: Sequence[Mapping]) -> None:
    """Rows (dicts with the same keys) as CSV, atomically; floats to 6 significant digits."""
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]))
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    write_bytes_atomic(fs, path, buf.getvalue().encode())
