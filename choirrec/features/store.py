"""The feature store: everything a model needs per user, in flat numpy arrays.

Built once from the run directory (users, user_activity, events, priors) and shared read-only
(e.g. through the Ray object store, zero-copy) by every training worker, so samples stream
through as ids and are joined to features batch by batch — no per-epoch materialised copy.

* ids are re-indexed to 1..n (0 = padding / unknown: an unseen item or user embeds to zero);
* discrete attributes are indexed per field (0 = missing); ``complete_attributes`` values from
  the user's group are used where the user's own are missing (§4.3.2);
* a sample's purchase history is the user's last ``hist_len`` purchases strictly before the
  sample's timestamp (vectorised with one searchsorted over (user, ts) keys);
* group features come from the user's effective group (prefix backoff, :mod:`choirrec.priors`);
  the group sequence is the group's latest snapshot with ``as_of`` at or before the sample's
  timestamp (point-in-time, like the purchase history: never the sample's own purchase);
* activity features (log1p purchases, log1p clicks, attribute fill rate — the reliability
  network's and POSO's input) are counted strictly before each sample, like the history:
  the data stage's counts run to the validation day, so they include the training window's
  later purchases — the labels (a user with 0 there never has a training positive);
  ``activity_static`` / ``n_buy_static`` keep those counts for bundles trained on them;
* optional negative feedback (:class:`ClickHistory`, for the Cold-Transformer baseline): the
  user's last ``hist_len`` first-clicks strictly before the sample whose item had not been
  bought *before the sample's time* ("clicked, not bought as of t" — never a later purchase).
  Only when built with ``clicks``; then the batch also has ``neg_items`` / ``neg_cats``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from choirrec.features.events import (
    ClickHistory,
    click_history,
    count_before,
    event_index,
    window_before,
)
from choirrec.features.vocab import DISCRETE, attribute_codes, item_price_buckets, lookup
from choirrec.schema import STATIC_AS_OF


@dataclass
class FeatureStore:
    user_vocab: np.ndarray  # sorted raw user ids
    item_vocab: np.ndarray
    cat_vocab: np.ndarray
    attr_vocabs: dict[str, np.ndarray]
    user_attrs: np.ndarray  # (U + 1, A), row 0 = unknown user
    activity: np.ndarray  # (U + 1, F) float32
    n_buy: np.ndarray  # (U + 1,)
    low_activity: np.ndarray  # (U + 1,) bool, the data stage's low-activity flag
    group_codes: np.ndarray  # (U + 1, M), -1 unknown
    group_attrs: np.ndarray  # (U + 1, A)
    user_group_row: np.ndarray  # (U + 1,) row of the user's effective group; 0 = none
    group_seq_as_of: np.ndarray  # (S,) sorted snapshot times of the group sequences
    group_seq_items: np.ndarray  # (S + 1, G + 1, Lg); snapshot 0 / group row 0 are empty
    group_seq_cats: np.ndarray
    hist_keys: np.ndarray  # sorted (user index << 32 | ts offset) of purchases
    hist_items: np.ndarray  # aligned with hist_keys
    hist_cats: np.ndarray
    hist_user_start: np.ndarray  # (U + 2,) offsets into hist arrays per user index
    ts_base: int
    hist_len: int
    clicks: ClickHistory | None = None  # negative feedback (Cold-Transformer), optional
    item_price_bucket: np.ndarray | None = None  # (I + 1,) see item_price_buckets
    # clicks (pv) as sorted (user index << 32 | ts - click_ts_base) keys, for point-in-time
    # click counts; None: the store was built without them (counts read 0)
    click_keys: np.ndarray | None = None
    click_user_start: np.ndarray | None = None
    click_ts_base: int = 0

    def activity_as_of(self, u: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """((B, 3) activity features, (B,) purchase count), counted strictly before ``ts``."""
        n_buy = count_before(self.hist_keys, self.hist_user_start, u, ts, self.ts_base)
        n_click = np.zeros_like(n_buy) if self.click_keys is None else count_before(
            self.click_keys, self.click_user_start, u, ts, self.click_ts_base)
        feats = np.stack([np.log1p(n_buy), np.log1p(n_click), self.activity[u, 2]], 1)
        return feats.astype(np.float32), n_buy.astype(np.float32)

    @property
    def n_price_buckets(self) -> int:
        return 0 if self.item_price_bucket is None else int(self.item_price_bucket.max())

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(int(v.size) for v in self.attr_vocabs.values())

    @property
    def group_seq_len(self) -> int:
        return int(self.group_seq_items.shape[-1])

    def group_sequence(self, u: np.ndarray, ts: np.ndarray) -> dict[str, np.ndarray]:
        """Each (user index, ts)'s group sequence: the latest snapshot with as_of <= ts."""
        snap = np.searchsorted(self.group_seq_as_of, ts, side="right")
        row = self.user_group_row[u]
        return {"group_seq_items": self.group_seq_items[snap, row],
                "group_seq_cats": self.group_seq_cats[snap, row]}

    def batch(self, user_id: np.ndarray, item_id: np.ndarray, category_id: np.ndarray,
              ts: np.ndarray, label: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Model inputs for a batch of samples (raw ids in, indices out)."""
        u = lookup(self.user_vocab, np.asarray(user_id))
        ts = np.asarray(ts, dtype=np.int64)
        # purchases strictly before the sample
        pos, valid = window_before(self.hist_keys, self.hist_user_start, u, ts, self.ts_base,
                                   self.hist_len)
        hi = np.where(valid, self.hist_items[pos] if self.hist_items.size else 0, 0)
        hc = np.where(valid, self.hist_cats[pos] if self.hist_cats.size else 0, 0)
        out = {
            "user_id": u, "item_id": lookup(self.item_vocab, np.asarray(item_id)),
            "category_id": lookup(self.cat_vocab, np.asarray(category_id)),
            "user_attrs": self.user_attrs[u], "hist_items": hi, "hist_cats": hc,
            "group_codes": self.group_codes[u], "group_attrs": self.group_attrs[u],
            **self.group_sequence(u, ts),
            "activity_static": self.activity[u],
            "n_buy_static": self.n_buy[u].astype(np.float32),
        }
        out["activity"], out["n_buy"] = self.activity_as_of(u, ts)
        if self.clicks is not None:
            out["neg_items"], out["neg_cats"] = self.clicks.negatives(u, ts, self.hist_len)
        if label is not None:
            out["label"] = np.asarray(label, dtype=np.float32)
        return out


def _group_sequence_tables(group_sequences: pa.Table, keys: np.ndarray, ivocab: np.ndarray,
                           cvocab: np.ndarray, length: int
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(user -> group row, as_of (S,), items / cats (S + 1, G + 1, Lg)) for the groups that
    users' ``keys`` name. A table without ``as_of`` (priors built before snapshots) is one
    snapshot that applies to every sample."""
    gs = group_sequences
    used = sorted(set(keys.tolist()))
    row_of = {k: r for r, k in enumerate(used, start=1)}
    user_row = np.r_[0, [row_of[k] for k in keys]].astype(np.int64)
    as_of_col = gs.column("as_of").to_numpy() if "as_of" in gs.column_names \
        else np.full(gs.num_rows, STATIC_AS_OF, np.int64)
    as_of = np.unique(as_of_col)
    items = np.zeros((as_of.size + 1, len(used) + 1, length), np.int64)
    cats = np.zeros_like(items)
    snap = np.searchsorted(as_of, as_of_col) + 1
    for j, (k, it, ct) in enumerate(zip(gs.column("group_key").to_pylist(),
                                        gs.column("item_ids").to_pylist(),
                                        gs.column("category_ids").to_pylist(), strict=True)):
        r = row_of.get(k)
        if r is None:
            continue
        i = lookup(ivocab, np.asarray(it[-length:], dtype=np.int64))
        c = lookup(cvocab, np.asarray(ct[-length:], dtype=np.int64))
        items[snap[j], r, : i.size], cats[snap[j], r, : c.size] = i, c
    return user_row, as_of, items, cats


def build_feature_store(users: pa.Table, activity: pa.Table, items: pa.Table, buys: pa.Table,
                        user_groups: pa.Table | None, group_attributes: pa.Table | None,
                        group_sequences: pa.Table | None, hist_len: int = 20,
                        group_seq_len: int = 30, n_levels: int = 3,
                        clicks: pa.Table | None = None,
                        click_times: pa.Table | None = None) -> FeatureStore:
    """Assemble the store. ``buys`` = all purchases (user_id, item_id, category_id, ts); the
    per-sample time cut happens in :meth:`FeatureStore.batch`. ``clicks`` (the same columns,
    the log's ``pv`` events) adds the negative-feedback history (:class:`ClickHistory`);
    ``click_times`` (user_id, ts of ``pv`` events; ``clicks`` serves if given) the
    point-in-time click counts of the activity features."""
    users = users.sort_by("user_id")
    uvocab = users.column("user_id").to_numpy()
    n = uvocab.size
    ivocab = np.unique(items.column("item_id").to_numpy())
    cvocab = np.unique(items.column("category_id").to_numpy())
    own, vocabs = attribute_codes(users)
    act = activity.take(pa.compute.index_in(pa.array(uvocab), activity.column("user_id")))
    n_buy = np.r_[0, act.column("n_buy").to_numpy()]
    low = np.r_[False, act.column("low_activity").to_numpy(zero_copy_only=False)].astype(bool)
    feats = np.stack([np.log1p(act.column("n_buy").to_numpy()),
                      np.log1p(act.column("n_click").to_numpy()),
                      act.column("attr_fill_rate").to_numpy()], 1).astype(np.float32)
    a = len(DISCRETE)
    gcodes = np.full((n + 1, n_levels), -1, np.int64)
    gattrs = np.zeros((n + 1, a), np.int64)
    user_row = np.zeros(n + 1, np.int64)
    as_of = np.zeros(0, np.int64)
    gsi = np.zeros((1, 1, group_seq_len), np.int64)
    gsc = np.zeros_like(gsi)
    user_attrs = np.zeros((n + 1, a), np.int64)
    user_attrs[1:] = own
    if user_groups is not None:
        ug = user_groups.take(pa.compute.index_in(pa.array(uvocab), user_groups.column("user_id")))
        for m in range(n_levels):
            gcodes[1:, m] = ug.column(f"g{m + 1}").to_numpy(zero_copy_only=False)
        keys = np.array(ug.column("group_key").to_pylist(), dtype=object)
        if group_attributes is not None:
            ga = group_attributes
            codes, _ = attribute_codes(ga, vocabs)
            idx = {k: i for i, k in enumerate(ga.column("group_key").to_pylist())}
            rows = np.array([idx.get(k, -1) for k in keys])
            ok = rows >= 0
            gattrs[1:][ok] = codes[rows[ok]]
            # attribute completion: the group's value where the user's own is missing
            user_attrs[1:] = np.where(own == 0, gattrs[1:], own)
        if group_sequences is not None:
            user_row, as_of, gsi, gsc = _group_sequence_tables(
                group_sequences, keys, ivocab, cvocab, group_seq_len)
    hk, starts, ts_base, brows = event_index(lookup(uvocab, buys.column("user_id").to_numpy()),
                                             buys.column("ts").to_numpy(), n)
    hi = lookup(ivocab, buys.column("item_id").to_numpy()[brows])
    hc = lookup(cvocab, buys.column("category_id").to_numpy()[brows])
    ct = click_times if click_times is not None else clicks
    ck, cs, cbase = (None, None, 0) if ct is None else event_index(
        lookup(uvocab, ct.column("user_id").to_numpy()), ct.column("ts").to_numpy(), n)[:3]
    return FeatureStore(uvocab, ivocab, cvocab, vocabs, user_attrs,
                        np.vstack([np.zeros((1, 3), np.float32), feats]), n_buy, low, gcodes, gattrs,
                        user_row, as_of, gsi, gsc, hk, hi, hc, starts, ts_base, hist_len,
                        None if clicks is None else click_history(clicks, buys, uvocab, ivocab,
                                                                  cvocab),
                        item_price_buckets(items, ivocab), ck, cs, cbase)
