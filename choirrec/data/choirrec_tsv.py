"""Plaintext user logs in the ChoirRec reference format (``users.tsv`` + ``exposure_samples.tsv``).

users.tsv: user_id, age, gender, city, click_seq, purchase_seq, search_seq, where a sequence
cell holds ';'-separated entries of ','-separated fields:
click ``YYYY-MM-DD HH:MM,item name,L1 category,leaf category``, purchase the same plus a
price-power value in [0, 1], search ``YYYY-MM-DD HH:MM,query text``.
exposure_samples.tsv: user_id, item_name, l1_category, leaf_category, label — no timestamps.

Training samples come from the logs (each clicked item, label = bought afterwards); the
exposures are the evaluation samples, split into valid/test by a hash of the user id (they have
no time). The reference data leaks labels: some positive exposures also sit in the user's own
purchase log. We remove those (user, item) pairs from the history and count them.
The data is tiny (a format fixture), so this loader runs in one process.
"""

from __future__ import annotations

import csv
import datetime as dt
import io

import numpy as np
import pyarrow as pa

from choirrec.config import DataConfig
from choirrec.data.cvr_samples import TimeSplit, cvr_samples, per_user_stats
from choirrec.data.source import SourceOutput
from choirrec.data.user_blocks import attribute_fill_rate
from choirrec.hashing import mix64
from choirrec.run_dir import StageWriter, resolve
from choirrec.schema import (
    EVENTS,
    ITEMS,
    QUERIES,
    SAMPLES,
    SPLITS,
    USERS,
    Checks,
    SchemaError,
    conform,
)

USER_COLUMNS = ["user_id", "age", "gender", "city", "click_seq", "purchase_seq", "search_seq"]
EXPOSURE_COLUMNS = ["user_id", "item_name", "l1_category", "leaf_category", "label"]
# Chinese city tiers (the common 1 / new-1 / 2 ... classification); unknown cities stay null.
CITY_TIER = {
    "Beijing": 1, "Shanghai": 1, "Guangzhou": 1, "Shenzhen": 1,
    "Chengdu": 2, "Hangzhou": 2, "Chongqing": 2, "Wuhan": 2, "Xian": 2, "Suzhou": 2,
    "Tianjin": 2, "Nanjing": 2, "Changsha": 2, "Qingdao": 2,
    "Dalian": 3, "Xiamen": 3, "Kunming": 3, "Harbin": 3,
}
AGE_BANDS = ((0, None), (18, "18-24"), (25, "25-29"), (30, "30-34"), (35, "35-39"),
             (40, "40-49"), (50, "50-59"), (60, "60+"))


def _read_tsv(fs, path: str, expected: list[str], name: str) -> list[dict]:
    with fs.open_input_stream(path) as f:
        text = f.read().decode("utf-8")
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    missing = [c for c in expected if c not in (reader.fieldnames or [])]
    if missing:
        raise SchemaError(name, missing[0], f"missing column (header: {reader.fieldnames})",
                          f"the header must be: {chr(9).join(expected)}")
    return list(reader)


def _ts(text: str, where: str) -> int:
    try:
        d = dt.datetime.strptime(text.strip(), "%Y-%m-%d %H:%M")
    except ValueError as err:
        raise SchemaError("users.tsv", where, f"bad timestamp {text!r}",
                          "use 'YYYY-MM-DD HH:MM'") from err
    return int(d.replace(tzinfo=dt.timezone.utc).timestamp())


def _entries(cell: str, n_fields: int, column: str, line: int) -> list[list[str]]:
    out = []
    for entry in filter(None, (e.strip() for e in (cell or "").split(";"))):
        fields = entry.split(",", n_fields - 1) if column == "search_seq" else entry.split(",")
        if len(fields) != n_fields:
            raise SchemaError("users.tsv", column,
                              f"line {line}: entry {entry!r} has {len(fields)} fields, "
                              f"expected {n_fields}", "separate entries with ';' and fields with ','")
        out.append([f.strip() for f in fields])
    return out


def _int(text: str, column: str, line: int, name: str) -> int:
    try:
        return int(text)
    except (TypeError, ValueError) as err:
        raise SchemaError(name, column, f"line {line}: {text!r} is not an integer",
                          f"'{column}' must hold integers") from err


class _Catalog:
    """Item and category ids assigned in order of first appearance (the logs have names only)."""

    def __init__(self) -> None:
        self.cats: dict[tuple[str, str], int] = {}
        self.items: dict[tuple[str, str], int] = {}
        self.item_cat: dict[int, int] = {}
        self.name_of: dict[int, str] = {}
        self.price_power: dict[int, list[float]] = {}

    def item_id(self, name: str, l1: str, leaf: str) -> int:
        cid = self.cats.setdefault((l1, leaf), len(self.cats) + 1)
        iid = self.items.setdefault((name, leaf), len(self.items) + 1)
        self.item_cat[iid] = cid
        self.name_of[iid] = name
        return iid

    def items_table(self) -> pa.Table:
        inv_items = {v: k for k, v in self.items.items()}
        inv_cats = {v: k for k, v in self.cats.items()}
        ids = sorted(inv_items)
        pp = self.price_power
        return conform(pa.table({
            "item_id": pa.array(ids, pa.int64()),
            "category_id": pa.array([self.item_cat[i] for i in ids], pa.int64()),
            "category_name": [inv_cats[self.item_cat[i]][1] for i in ids],
            "l1_category": [inv_cats[self.item_cat[i]][0] for i in ids],
            "price_tier": pa.array([float(np.mean(pp[i])) if i in pp else None for i in ids],
                                   pa.float64()),
            "item_name": [inv_items[i][0] for i in ids]}), ITEMS)


def _user_row(uid: int, r: dict) -> dict:
    """users.tsv's age / gender / city -> our attribute columns (unknown values stay null)."""
    age = float(r["age"]) if (r["age"] or "").strip().isdigit() else None
    band = None if age is None else [b for lo, b in AGE_BANDS if age >= lo][-1]
    gender = (r["gender"] or "").strip().lower()
    return {"user_id": uid, "gender": gender if gender in ("female", "male") else None,
            "age_band": band, "city_tier": CITY_TIER.get((r["city"] or "").strip()),
            "occupation": None, "consumption_level": None, "age": age,
            "city": (r["city"] or "").strip() or None}


def _parse_users(users: list[dict], catalog: _Catalog
                 ) -> tuple[list[tuple], list[tuple], list[dict]]:
    """(events (user, item, behaviour, ts), queries (user, ts, text), user rows)."""
    ev, queries, user_rows = [], [], []
    for line, r in enumerate(users, start=2):
        uid = _int(r["user_id"], "user_id", line, "users.tsv")
        for t, name, l1, leaf in _entries(r["click_seq"], 4, "click_seq", line):
            ev.append((uid, catalog.item_id(name, l1, leaf), "pv", _ts(t, "click_seq")))
        for t, name, l1, leaf, pp in _entries(r["purchase_seq"], 5, "purchase_seq", line):
            iid = catalog.item_id(name, l1, leaf)
            ev.append((uid, iid, "buy", _ts(t, "purchase_seq")))
            catalog.price_power.setdefault(iid, []).append(float(pp))
        for t, q in _entries(r["search_seq"], 2, "search_seq", line):
            queries.append((uid, _ts(t, "search_seq"), q[:200]))
        user_rows.append(_user_row(uid, r))
    return ev, queries, user_rows


def _parse_exposures(exposures: list[dict], catalog: _Catalog) -> list[tuple[int, int, int]]:
    """(user, item, label) per exposure row; labels must be 0 or 1."""
    rows = []
    for line, r in enumerate(exposures, start=2):
        label = _int(r["label"], "label", line, "exposure_samples.tsv")
        if label not in (0, 1):
            raise SchemaError("exposure_samples.tsv", "label", f"line {line}: label {label}",
                              "labels must be 0 or 1")
        iid = catalog.item_id(r["item_name"].strip(), r["l1_category"].strip(),
                              r["leaf_category"].strip())
        rows.append((_int(r["user_id"], "user_id", line, "exposure_samples.tsv"), iid, label))
    return rows


def _drop_leaked(ev: list[tuple], exp_rows: list[tuple], name_of: dict[int, str]
                 ) -> tuple[list[tuple], set[tuple[int, str]]]:
    """The reference data leaks labels: positive exposures that also sit in the user's own
    purchase log. Drop the pair's purchases *and* clicks (the click->buy pair would otherwise
    become a positive training sample of the very pair we evaluate on). Matched on the item
    *name*: one leaked product differs only in its leaf category."""
    positives = {(u, name_of[i]) for u, i, y in exp_rows if y == 1}
    leaked = positives & {(e[0], name_of[e[1]]) for e in ev if e[2] == "buy"}
    return [e for e in ev if (e[0], name_of[e[1]]) not in leaked], leaked


def _events_table(ev: list[tuple], item_cat: dict[int, int]) -> pa.Table:
    return conform(pa.table({
        "user_id": pa.array([e[0] for e in ev], pa.int64()),
        "item_id": pa.array([e[1] for e in ev], pa.int64()),
        "category_id": pa.array([item_cat[e[1]] for e in ev], pa.int64()),
        "behavior": pa.array([e[2] for e in ev], pa.string()),
        "ts": pa.array([e[3] for e in ev], pa.int64()),
        "price": pa.nulls(len(ev), pa.float64()),
    }), EVENTS).sort_by([("user_id", "ascending"), ("ts", "ascending")])


def _queries_table(queries: list[tuple]) -> pa.Table:
    return conform(pa.table({
        "user_id": pa.array([q[0] for q in queries], pa.int64()),
        "ts": pa.array([q[1] for q in queries], pa.int64()),
        "query": pa.array([q[2] for q in queries], pa.string())}), QUERIES)


def _eval_samples(exp_rows: list[tuple], item_cat: dict[int, int], t_eval: int
                  ) -> tuple[pa.Table, pa.Table]:
    """(valid, test) samples from the exposures: (user, item) deduplicated keeping the max
    label, split by a hash of the user id (exposures have no time)."""
    exp = pa.table({"user_id": pa.array([e[0] for e in exp_rows], pa.int64()),
                    "item_id": pa.array([e[1] for e in exp_rows], pa.int64()),
                    "label": pa.array([e[2] for e in exp_rows], pa.int8())})
    exp = exp.group_by(["user_id", "item_id"]).aggregate([("label", "max")])
    exp = exp.rename_columns(["user_id", "item_id", "label"])
    exp_cat = [item_cat[i] for i in exp.column("item_id").to_pylist()]
    exp = conform(pa.table({
        "user_id": exp.column("user_id"), "item_id": exp.column("item_id"),
        "category_id": pa.array(exp_cat, pa.int64()),
        "ts": pa.array(np.full(exp.num_rows, t_eval), pa.int64()),
        "label": exp.column("label")}), SAMPLES)
    in_valid = (mix64(exp.column("user_id").to_numpy()) % np.uint64(2)) == 0
    return exp.filter(pa.array(in_valid)), exp.filter(pa.array(~in_valid))


def write_choirrec_tsv(data: DataConfig, writer: StageWriter) -> SourceOutput:
    if not data.input:
        raise ValueError("dataset 'choirrec_tsv' needs --input: the directory holding users.tsv "
                         "and exposure_samples.tsv, e.g. ../shared/data/choirrec_reference")
    if data.holdout_days:
        raise ValueError("data.holdout_days needs timestamped samples; choirrec_tsv exposures "
                         "have none (their valid/test split is by user) — use holdout_days: 0")
    fs, root = resolve(data.input)
    users = _read_tsv(fs, f"{root}/users.tsv", USER_COLUMNS, "users.tsv")
    exposures = _read_tsv(fs, f"{root}/exposure_samples.tsv", EXPOSURE_COLUMNS,
                          "exposure_samples.tsv")
    if not users:
        raise ValueError(f"{root}/users.tsv has no user rows")

    catalog = _Catalog()
    ev, queries, user_rows = _parse_users(users, catalog)
    exp_rows = _parse_exposures(exposures, catalog)
    n_before = len(ev)
    ev, leaked = _drop_leaked(ev, exp_rows, catalog.name_of)
    if not ev:
        raise ValueError(f"{root}/users.tsv: no click or purchase entries in any user's logs")

    users_t = conform(pa.Table.from_pylist(user_rows), USERS)
    known = np.sort(users_t.column("user_id").to_numpy())
    events = _events_table(ev, catalog.item_cat)
    all_ts = [e[3] for e in ev] + [q[1] for q in queries]
    t_eval = max(all_ts) + 1  # exposures happen after the logs end
    split = TimeSplit(t_eval, t_eval, t_eval + 1)
    rng_ts = (min(all_ts), t_eval)
    valid, test = _eval_samples(exp_rows, catalog.item_cat, t_eval)
    splits = {"train": cvr_samples(events), "valid": valid, "test": test}

    checks = Checks(ts_range=rng_ts, known_ids={"user_id": known})
    writer.write_table(users_t, "users", USERS)
    writer.write_table(events, "events", EVENTS, checks)
    writer.write_table(_queries_table(queries), "queries", QUERIES, checks)
    writer.write_table(catalog.items_table(), "items", ITEMS)
    for name in SPLITS:
        writer.write_table(splits[name], f"samples/{name}", SAMPLES, checks)

    all_samples = pa.concat_tables([splits[n] for n in SPLITS])
    sample_split = np.concatenate([np.full(splits[n].num_rows, i) for i, n in enumerate(SPLITS)])
    stats = per_user_stats(events, all_samples, split, known, sample_split)
    stats = stats.append_column("attr_fill_rate", pa.array(attribute_fill_rate(users_t)))
    return SourceOutput(stats, split, rng_ts, len(queries), notes={
        "leaked_positive_exposures": sum(
            1 for u, i, y in exp_rows if y == 1 and (u, catalog.name_of[i]) in leaked),
        "leaked_history_events_removed": n_before - len(ev),
        "eval_split": "exposures split into valid/test by a hash of user_id (no timestamps)"})
