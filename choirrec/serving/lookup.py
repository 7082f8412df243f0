"""Feature lookup for online scoring: an interface, and the embedded Arrow implementation.

The scorer only talks to :class:`FeatureLookup`; an external online store (Redis, a feature
service) implements the same five members and plugs in without touching the scorer.
:class:`RunDirLookup` is the default: the run directory's users, purchase histories, groups
and priors held in memory once per replica (a :class:`FeatureStore` plus per-group rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from choirrec.config import PriorsConfig
from choirrec.features.loader import load_feature_store
from choirrec.features.store import FeatureStore
from choirrec.features.vocab import DISCRETE, attribute_codes, lookup
from choirrec.priors import (
    group_attribute_row,
    group_sequence_row,
    latest_snapshot,
    sequences_as_of,
)
from choirrec.run_dir import RunDir
from choirrec.schema import USER_ATTRIBUTES


@dataclass
class GroupRow:
    """A group's features in model-index space."""

    codes: np.ndarray  # (M,) int64, -1 = unknown level
    attrs: np.ndarray  # (A,) attribute codes (0 = missing)
    seq_items: np.ndarray  # (Lg,) item indices (0 = padding)
    seq_cats: np.ndarray


class FeatureLookup(Protocol):
    n_levels: int

    def is_known(self, user_id: int) -> bool: ...

    def batch(self, user_id: int, item_ids: np.ndarray, category_ids: np.ndarray,
              ts: int) -> dict[str, np.ndarray]: ...

    def attribute_codes(self, attrs: dict[str, object]) -> np.ndarray: ...

    def group_for_codes(self, codes: np.ndarray) -> GroupRow: ...

    def population_group(self) -> GroupRow: ...


class RunDirLookup:
    """The embedded lookup: everything from one run directory, in memory."""

    def __init__(self, run: RunDir, hist_len: int = 20, with_priors: bool = True,
                 store: FeatureStore | None = None, with_negatives: bool = False):
        self.store = store or load_feature_store(run, hist_len, with_priors=with_priors,
                                                 with_negatives=with_negatives)
        self.n_levels = self.store.group_codes.shape[1]
        self.with_priors = with_priors and run.manifest("priors") is not None
        lg = self.store.group_seq_len
        self._groups: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, int]] = {}
        self.min_group_size = 1
        if self.with_priors:
            self.min_group_size = int(run.manifest("priors").get("min_group_size", 1))
            self._index_groups(run, lg)
        self._population = self._population_row(run, lg)

    # -- building ---------------------------------------------------------------------
    def _seq(self, items: list[int], cats: list[int], lg: int) -> tuple[np.ndarray, np.ndarray]:
        it = np.zeros(lg, np.int64)
        ct = np.zeros(lg, np.int64)
        i = lookup(self.store.item_vocab, np.asarray(items[-lg:], dtype=np.int64))
        c = lookup(self.store.cat_vocab, np.asarray(cats[-lg:], dtype=np.int64))
        it[: i.size], ct[: c.size] = i, c
        return it, ct

    def _index_groups(self, run: RunDir, lg: int) -> None:
        ga = run.read_table("priors", "group_attributes")
        gs = latest_snapshot(run.read_table("priors", "group_sequences"))
        codes, _ = attribute_codes(ga, self.store.attr_vocabs)
        seqs = {k: (i, c) for k, i, c in zip(gs.column("group_key").to_pylist(),
                                             gs.column("item_ids").to_pylist(),
                                             gs.column("category_ids").to_pylist(), strict=True)}
        for r, (key, n) in enumerate(zip(ga.column("group_key").to_pylist(),
                                         ga.column("n_members").to_pylist(), strict=True)):
            items, cats = seqs.get(key, ([], []))
            si, sc = self._seq(items, cats, lg)
            self._groups[key] = (codes[r], si, sc, int(n))

    def _population_row(self, run: RunDir, lg: int) -> GroupRow:
        """The population prior: attribute modes and the most bought items of everyone."""
        users = run.read_table("data", "users")
        t = users.append_column("group_key", pa.array(["population"] * users.num_rows)) \
                 .append_column("level", pa.array(np.zeros(users.num_rows, np.int8)))
        attrs, _ = attribute_codes(group_attribute_row(t), self.store.attr_vocabs)
        buys = run.dataset("data", "events").to_table(
            columns=["item_id", "category_id", "ts"],
            filter=(pc.field("behavior") == "buy") & (pc.field("ts") < sequences_as_of(run)))
        items: list[int] = []
        cats: list[int] = []
        if buys.num_rows:
            b = buys.append_column("group_key", pa.array(["population"] * buys.num_rows)) \
                    .append_column("level", pa.array(np.zeros(buys.num_rows, np.int8)))
            row = group_sequence_row(b, PriorsConfig(sequence_length=lg))
            items, cats = row.column("item_ids")[0].as_py(), row.column("category_ids")[0].as_py()
        si, sc = self._seq(items, cats, lg)
        return GroupRow(np.full(self.n_levels, -1, np.int64), attrs[0], si, sc)

    # -- the interface ----------------------------------------------------------------
    def is_known(self, user_id: int) -> bool:
        return bool(lookup(self.store.user_vocab, np.array([user_id]))[0] > 0)

    def batch(self, user_id: int, item_ids: np.ndarray, category_ids: np.ndarray,
              ts: int) -> dict[str, np.ndarray]:
        n = len(item_ids)
        return self.store.batch(np.full(n, user_id, np.int64), np.asarray(item_ids, np.int64),
                                np.asarray(category_ids, np.int64), np.full(n, ts, np.int64))

    def attribute_codes(self, attrs: dict[str, object]) -> np.ndarray:
        row = {a: [attrs.get(a)] for a in DISCRETE}
        table = pa.table({a: pa.array(v, USER_ATTRIBUTES[a][0]) for a, v in row.items()})
        return attribute_codes(table, self.store.attr_vocabs)[0][0]

    def group_for_codes(self, codes: np.ndarray) -> GroupRow:
        """The finest prefix group with at least ``min_group_size`` members (the same backoff
        as training); the population prior if even level 1 is unknown."""
        codes = np.asarray(codes, np.int64)
        for level in range(len(codes), 0, -1):
            g = self._groups.get("-".join(map(str, codes[:level].tolist())))
            if g is not None and (g[3] >= self.min_group_size or level == 1):
                return GroupRow(codes, g[0], g[1], g[2])
        return self.population_group()

    def population_group(self) -> GroupRow:
        return self._population
