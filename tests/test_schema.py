import numpy as np
import pyarrow as pa
import pytest

from choirrec.schema import Checks, SchemaError, conform, validate_table


def events(**over):
    cols = {
        "user_id": pa.array([1, 1, 2], pa.int64()),
        "item_id": pa.array([10, 11, 10], pa.int64()),
        "category_id": pa.array([5, 5, 5], pa.int64()),
        "behavior": pa.array(["pv", "buy", "pv"]),
        "ts": pa.array([100, 200, 300], pa.int64()),
        "price": pa.array([1.0, None, 2.5], pa.float64()),
    }
    cols.update(over)
    return pa.table({k: v for k, v in cols.items() if v is not None})


def test_valid_table_passes_and_extra_columns_are_allowed():
    t = events(extra=pa.array(["a", "b", "c"]))
    assert validate_table(t, "events", Checks(ts_range=(0, 1000))) is t


@pytest.mark.parametrize("over,column,text", [
    ({"ts": None}, "ts", "missing column"),
    ({"ts": pa.array(["1", "2", "3"])}, "ts", "expected type int64, got string"),
    ({"behavior": pa.array(["pv", "click", "pv"])}, "behavior", "outside"),
    ({"user_id": pa.array([1, None, 2], pa.int64())}, "user_id", "1 null values"),
    ({"price": pa.array([1.0, float("nan"), 2.0])}, "price", "1 NaN values"),
])
def test_errors_name_artifact_column_and_fix(over, column, text):
    with pytest.raises(SchemaError) as e:
        validate_table(events(**over), "events")
    msg = str(e.value)
    assert e.value.artifact == "events" and e.value.column == column
    assert text in msg and "Fix:" in msg and f"column '{column}'" in msg


def test_nan_labels_as_floats_are_rejected_with_a_cast_hint():
    t = pa.table({"user_id": pa.array([1, 2], pa.int64()), "item_id": pa.array([1, 2], pa.int64()),
                  "category_id": pa.array([1, 1], pa.int64()), "ts": pa.array([1, 2], pa.int64()),
                  "label": pa.array([1.0, float("nan")])})
    with pytest.raises(SchemaError, match="label.*expected type int8, got double.*NaN"):
        validate_table(t, "samples")
    with pytest.raises(SchemaError, match="cannot cast"):
        conform(t, "samples")


def test_duplicate_ids_and_out_of_range_timestamps():
    users = pa.table({"user_id": pa.array([1, 2, 2], pa.int64())})
    users = users.append_column("gender", pa.array([None, "f", "m"]))
    with pytest.raises(SchemaError, match="missing column"):
        validate_table(users, "users")
    with pytest.raises(SchemaError, match=r"duplicate keys \(e.g. \{'user_id': 2\}\)"):
        validate_table(conform(users.append_column("age_band", pa.nulls(3, pa.string()))
                               .append_column("city_tier", pa.nulls(3, pa.int8()))
                               .append_column("occupation", pa.nulls(3, pa.string()))
                               .append_column("consumption_level", pa.nulls(3, pa.int8()))
                               .append_column("age", pa.nulls(3, pa.float64())), "users"), "users")
    with pytest.raises(SchemaError, match="out of range.*unix seconds"):
        validate_table(events(ts=pa.array([100, 200, 1_600_000_000_000], pa.int64())), "events",
                       Checks(ts_range=(0, 2_000_000_000)))


def test_unknown_ids_are_reported():
    with pytest.raises(SchemaError, match="unknown ids.*e.g. 2"):
        validate_table(events(), "events", Checks(known_ids={"user_id": np.array([1, 3])}))


def test_conform_casts_losslessly_and_orders_columns():
    t = pa.table({"price": pa.array([1.0, 2.0, 3.0]), "ts": pa.array([1, 2, 3], pa.int32()),
                  "behavior": ["pv", "pv", "buy"], "category_id": pa.array([1, 1, 1], pa.int32()),
                  "item_id": pa.array([1, 2, 3], pa.int32()), "user_id": [7, 7, 8], "ctx": [0, 1, 2]})
    c = conform(t, "events")
    assert c.column_names[:6] == ["user_id", "item_id", "category_id", "behavior", "ts", "price"]
    assert c.schema.field("ts").type == pa.int64() and c.column_names[-1] == "ctx"
    validate_table(c, "events")
