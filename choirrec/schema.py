"""Artifact schemas (docs/design.md §3), declared once, and the validator used at every stage boundary.

Every stage validates what it reads and what it writes. A problem raises :class:`SchemaError`
naming the artifact, the column, what was found and how to fix it, because the person reading
the message is usually looking at someone else's data export, not at this code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

BEHAVIORS = ("pv", "cart", "fav", "buy")
SPLITS = ("train", "valid", "test")


class SchemaError(ValueError):
    """An artifact does not satisfy its contract. The message says what to change."""

    def __init__(self, artifact: str, column: str | None, problem: str, fix: str):
        self.artifact, self.column, self.problem, self.fix = artifact, column, problem, fix
        where = f"artifact '{artifact}'" + (f", column '{column}'" if column else "")
        super().__init__(f"{where}: {problem}. Fix: {fix}")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    nullable: bool = False
    allowed: tuple | None = None  # closed set of values, e.g. behaviors or labels
    vector: bool = False  # fixed_size_list<float32>[D] of any D, unit-length rows


@dataclass(frozen=True)
class ArtifactSchema:
    """Required columns of an artifact. Extra columns are allowed (context features, etc.)."""

    name: str
    columns: tuple[Column, ...]
    unique: tuple[str, ...] = ()  # columns that together form a unique key
    ts_column: str | None = None  # checked against the dataset's time range
    extra_nullable: bool = True

    def column(self, name: str) -> Column:
        return next(c for c in self.columns if c.name == name)

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])


# Static user attributes: name -> (arrow type, kind). "discrete" fields are completed with the
# group mode, "continuous" ones with the group mean (§4.3.2).
USER_ATTRIBUTES: dict[str, tuple[pa.DataType, str]] = {
    "gender": (pa.string(), "discrete"),
    "age_band": (pa.string(), "discrete"),
    "city_tier": (pa.int8(), "discrete"),
    "occupation": (pa.string(), "discrete"),
    "consumption_level": (pa.int8(), "discrete"),
    "age": (pa.float64(), "continuous"),
}

EVENTS = ArtifactSchema(
    "events",
    (
        Column("user_id", pa.int64()),
        Column("item_id", pa.int64()),
        Column("category_id", pa.int64()),
        Column("behavior", pa.string(), allowed=BEHAVIORS),
        Column("ts", pa.int64()),
        Column("price", pa.float64(), nullable=True),
    ),
    ts_column="ts",
)
USERS = ArtifactSchema(
    "users",
    (Column("user_id", pa.int64()),)
    + tuple(Column(n, t, nullable=True) for n, (t, _) in USER_ATTRIBUTES.items()),
    unique=("user_id",),
)
ITEMS = ArtifactSchema(
    "items",
    (
        Column("item_id", pa.int64()),
        Column("category_id", pa.int64()),
        Column("category_name", pa.string(), nullable=True),
        Column("l1_category", pa.string(), nullable=True),
        Column("price_tier", pa.float64(), nullable=True),
    ),
    unique=("item_id",),
)
QUERIES = ArtifactSchema(
    "queries",
    (Column("user_id", pa.int64()), Column("ts", pa.int64()), Column("query", pa.string())),
    ts_column="ts",
)
SAMPLES = ArtifactSchema(
    "samples",
    (
        Column("user_id", pa.int64()),
        Column("item_id", pa.int64()),
        Column("category_id", pa.int64()),
        Column("ts", pa.int64()),
        Column("label", pa.int8(), allowed=(0, 1)),
    ),
    unique=("user_id", "item_id"),
    ts_column="ts",
)
USER_ACTIVITY = ArtifactSchema(
    "user_activity",
    (
        Column("user_id", pa.int64()),
        Column("n_buy", pa.int64()),
        Column("n_click", pa.int64()),
        Column("attr_fill_rate", pa.float64()),
        Column("low_activity", pa.bool_()),
        Column("activity_level", pa.int8(), allowed=(1, 2, 3, 4, 5)),
    ),
    unique=("user_id",),
)
PROFILES = ArtifactSchema(
    "profiles",
    (Column("user_id", pa.int64()), Column("profile", pa.string()), Column("backend", pa.string()),
     Column("model", pa.string()), Column("prompt_sha256", pa.string())),
    unique=("user_id",),
)
EMBEDDINGS = ArtifactSchema(
    "embeddings",
    (Column("user_id", pa.int64()), Column("embedding", pa.float32(), vector=True)),
    unique=("user_id",),
)
PERSONAS = ArtifactSchema(
    "personas",
    (Column("user_id", pa.int64()), Column("persona_id", pa.int64()),
     Column("persona", pa.string())),
    unique=("user_id",),
)
# priors/group_sequences: ``as_of`` of the static (pre-snapshot) sequence, which every sample
# reads; tables written before ``as_of`` existed are read the same way
STATIC_AS_OF = int(np.iinfo(np.int64).min)

ARTIFACTS: dict[str, ArtifactSchema] = {
    s.name: s for s in (EVENTS, USERS, ITEMS, QUERIES, SAMPLES, USER_ACTIVITY, PERSONAS,
                        PROFILES, EMBEDDINGS)
}

_FLOATS = (pa.float16(), pa.float32(), pa.float64())


def _type_fix(col: Column, got: pa.DataType) -> str:
    if pa.types.is_floating(got) and pa.types.is_integer(col.type):
        return (f"cast '{col.name}' to {col.type}; if it holds NaN, drop or impute those rows "
                "first (integer columns cannot hold NaN)")
    return f"cast '{col.name}' to {col.type} (e.g. table.cast / pyarrow.compute.cast) before writing"


def validate_schema(schema: pa.Schema, artifact: ArtifactSchema | str) -> None:
    """Check that every required column exists with the declared type."""
    art = ARTIFACTS[artifact] if isinstance(artifact, str) else artifact
    names = set(schema.names)
    for col in art.columns:
        if col.name not in names:
            raise SchemaError(
                art.name, col.name, f"missing column (found columns: {sorted(names)})",
                f"add a '{col.name}' column of type {col.type}",
            )
        got = schema.field(col.name).type
        if col.vector:
            if not (pa.types.is_fixed_size_list(got) and got.value_type == pa.float32()):
                raise SchemaError(art.name, col.name,
                                  f"expected fixed_size_list<float32>[D], got {got}",
                                  "store vectors as pa.FixedSizeListArray of float32")
            continue
        if got != col.type:
            raise SchemaError(art.name, col.name, f"expected type {col.type}, got {got}",
                              _type_fix(col, got))


@dataclass
class Checks:
    """Value-level expectations that depend on the dataset, not on the artifact kind."""

    ts_range: tuple[int, int] | None = None  # inclusive [min, max] unix seconds
    known_ids: Mapping[str, np.ndarray] = field(default_factory=dict)  # column -> sorted ids


def validate_table(table: pa.Table, artifact: ArtifactSchema | str,
                   checks: Checks | None = None) -> pa.Table:
    """Validate types and values; return the table unchanged so calls can be chained."""
    art = ARTIFACTS[artifact] if isinstance(artifact, str) else artifact
    checks = checks or Checks()
    validate_schema(table.schema, art)
    for col in art.columns:
        arr = table.column(col.name)
        if not col.nullable and arr.null_count:
            raise SchemaError(art.name, col.name, f"{arr.null_count} null values",
                              f"drop or fill the rows with a null '{col.name}'")
        if col.vector and len(arr):
            flat = pc.list_flatten(arr).to_numpy().reshape(len(arr), -1)
            if np.isnan(flat).any():
                raise SchemaError(art.name, col.name, "NaN in vectors",
                                  "check the embedder's input (empty texts?)")
            norms = np.linalg.norm(flat, axis=1)
            if np.abs(norms - 1).max() > 1e-3:
                raise SchemaError(art.name, col.name,
                                  f"vectors must be L2-normalised (norms in "
                                  f"[{norms.min():.3f}, {norms.max():.3f}])",
                                  "divide each vector by its norm")
            continue
        if col.type in _FLOATS and len(arr):
            n_nan = pc.sum(pc.is_nan(arr)).as_py() or 0
            if n_nan:
                raise SchemaError(art.name, col.name, f"{n_nan} NaN values",
                                  "drop those rows or store missing values as null")
        if col.allowed is not None and len(arr):
            bad = pc.invert(pc.is_in(arr.drop_null(), value_set=pa.array(col.allowed, col.type)))
            n_bad = pc.sum(bad).as_py() or 0
            if n_bad:
                example = arr.drop_null().filter(bad)[0].as_py()
                raise SchemaError(art.name, col.name,
                                  f"{n_bad} values outside {list(col.allowed)} (e.g. {example!r})",
                                  f"map '{col.name}' onto {list(col.allowed)}")
    if art.unique and table.num_rows:
        key = table.select(list(art.unique))
        n_unique = key.group_by(list(art.unique)).aggregate([]).num_rows
        if n_unique != table.num_rows:
            counts = key.group_by(list(art.unique)).aggregate([(art.unique[0], "count")])
            dup = counts.filter(pc.greater(counts.column(f"{art.unique[0]}_count"), 1)).slice(0, 1)
            example = {k: dup.column(k)[0].as_py() for k in art.unique}
            raise SchemaError(art.name, ",".join(art.unique),
                              f"{table.num_rows - n_unique} duplicate keys (e.g. {example})",
                              "deduplicate on " + ", ".join(art.unique))
    if art.ts_column and checks.ts_range and table.num_rows:
        lo, hi = checks.ts_range
        ts = table.column(art.ts_column)
        mn, mx = pc.min(ts).as_py(), pc.max(ts).as_py()
        if mn < lo or mx > hi:
            raise SchemaError(art.name, art.ts_column,
                              f"timestamps out of range: [{mn}, {mx}] not within [{lo}, {hi}]",
                              "use unix seconds (not ms) and drop rows outside the dataset window")
    for column, ids in checks.known_ids.items():
        if column in table.column_names and table.num_rows:
            vals = table.column(column).to_numpy()
            pos = np.searchsorted(ids, vals)
            pos = np.minimum(pos, max(len(ids) - 1, 0))
            unknown = (ids[pos] != vals) if len(ids) else np.ones(len(vals), bool)
            if unknown.any():
                raise SchemaError(art.name, column,
                                  f"{int(unknown.sum())} unknown ids (e.g. {int(vals[unknown][0])})",
                                  f"every '{column}' must exist in its own artifact")
    return table


def conform(table: pa.Table, artifact: ArtifactSchema | str) -> pa.Table:
    """Put required columns first, in declared order, cast where the cast is lossless.

    Loaders call this so that, e.g., an int32 id column from a CSV becomes int64; a cast that
    would lose information (string -> int with non-numbers, float with NaN -> int) fails and is
    reported by :func:`validate_table` instead.
    """
    art = ARTIFACTS[artifact] if isinstance(artifact, str) else artifact
    validate_names = [c.name for c in art.columns if c.name not in table.column_names]
    if validate_names:
        validate_schema(table.schema, art)  # raises with a clear message
    cols, names = [], []
    for col in art.columns:
        arr = table.column(col.name)
        if arr.type != col.type:
            try:
                arr = arr.cast(col.type)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as err:
                raise SchemaError(art.name, col.name, f"cannot cast {arr.type} to {col.type}: {err}",
                                  _type_fix(col, arr.type)) from err
        cols.append(arr)
        names.append(col.name)
    for name in table.column_names:
        if name not in names:
            cols.append(table.column(name))
            names.append(name)
    return pa.table(cols, names=names)
