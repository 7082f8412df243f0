"""Taobao UserBehavior and ChoirRec-TSV parsing: tolerated blemishes, clear errors."""

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from choirrec.config import DataConfig
from choirrec.data.prepare import prepare_data
from choirrec.data.taobao_userbehavior import check_malformed, read_events
from choirrec.run_dir import RunDir
from choirrec.schema import SchemaError
from tests.conftest import CHOIRREC_REF, require

GOOD = "1,10,5,pv,1511544070\n1,10,5,buy,1511544170\n2,11,6,pv,1511600000\n"


def _read(tmp_path, text):
    p = tmp_path / "UserBehavior.csv"
    p.write_text(text)
    batches, counts = read_events(pafs.LocalFileSystem(), str(p))
    return pa.concat_tables(list(batches)), counts


def test_truncated_last_line_and_out_of_window_rows_are_counted(tmp_path):
    t, counts = _read(tmp_path, GOOD + "3,12,7,pv,100\n3,12,7,pv")
    assert t.num_rows == 3 and t.column("user_id").to_pylist() == [1, 1, 2]
    assert {k: counts[k] for k in ("malformed_lines", "out_of_window", "rows", "lines")} == \
        {"malformed_lines": 1, "out_of_window": 1, "rows": 3, "lines": 4}
    assert counts["malformed_line_numbers"] == [5]
    assert t.schema.field("price").type == pa.float64()
    check_malformed("f", counts, 0.0)  # the truncated last line alone never fails
    assert counts["truncated_last_line"]


def test_malformed_lines_mid_file_fail_above_the_share_naming_lines(tmp_path):
    text = GOOD + "2,11,6\n" + GOOD + "4,5\n" + GOOD + "3,12,7,pv"  # lines 4, 8 and the last
    _, counts = _read(tmp_path, text)
    assert counts["malformed_line_numbers"] == [4, 8, 12]
    with pytest.raises(SchemaError, match=r"2 of 12 lines .*lines 4, 8\).*--max-malformed"):
        check_malformed("f", counts, 0.1)
    check_malformed("f", counts, 0.2)  # 2 of 12 is within a 20% tolerance
    assert counts["truncated_last_line"]


@pytest.mark.parametrize("line,column", [
    ("x1,10,5,pv,1511544070\n", "user_id"),
    ("1,10,5,pv,soon\n", "ts"),
])
def test_bad_values_name_the_column(tmp_path, line, column):
    with pytest.raises(SchemaError) as e:
        _read(tmp_path, GOOD + line)
    assert e.value.column == column and "Fix:" in str(e.value)


def test_unknown_behaviour_is_an_error(tmp_path):
    with pytest.raises(SchemaError, match="unknown behaviour 'click'"):
        _read(tmp_path, GOOD + "1,10,5,click,1511544070\n")


def test_missing_input_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="needs --input"):
        prepare_data(DataConfig(dataset="taobao_userbehavior"), RunDir(str(tmp_path / "r")))
    with pytest.raises(FileNotFoundError, match="not found.*Fix"):
        prepare_data(DataConfig(dataset="taobao_userbehavior", input=str(tmp_path / "none")),
                     RunDir(str(tmp_path / "r")))
    with pytest.raises(ValueError, match="unknown dataset 'movielens'"):
        prepare_data(DataConfig(dataset="movielens"), RunDir(str(tmp_path / "r")))
    assert not (tmp_path / "r" / "data").exists()


def test_choirrec_reference_removes_label_leakage(tmp_path):
    require(CHOIRREC_REF)
    run = RunDir(str(tmp_path / "run"))
    summary = prepare_data(DataConfig(dataset="choirrec_tsv", input=str(CHOIRREC_REF)), run)
    assert summary["notes"]["leaked_positive_exposures"] == 17  # PROVENANCE.md
    events = run.read_table("data", "events").to_pandas()
    items = run.read_table("data", "items").to_pandas().set_index("item_id")
    test = pa.concat_tables([run.read_table("data", "samples", s) for s in ("valid", "test")])
    pos = test.filter(pa.compute.equal(test.column("label"), 1)).to_pandas()
    buys = events[events.behavior == "buy"]
    bought = {(u, items.item_name[i]) for u, i in zip(buys.user_id, buys.item_id, strict=True)}
    assert len(pos) > 0
    assert not any((u, items.item_name[i]) in bought
                   for u, i in zip(pos.user_id, pos.item_id, strict=True))
    assert summary["samples"]["valid"]["rows"] + summary["samples"]["test"]["rows"] == 395
    users = run.read_table("data", "users").to_pandas()
    assert users.city_tier.notna().all() and set(users.gender.dropna()) == {"female", "male"}
    assert items.category_name.notna().all() and items.l1_category.notna().all()


def test_choirrec_tsv_bad_files(tmp_path):
    (tmp_path / "users.tsv").write_text("user_id\tage\tgender\n1\t20\tmale\n")
    (tmp_path / "exposure_samples.tsv").write_text(
        "user_id\titem_name\tl1_category\tleaf_category\tlabel\n")
    w = RunDir(str(tmp_path / "r"))
    with pytest.raises(SchemaError, match="users.tsv', column 'city': missing column"):
        prepare_data(DataConfig(dataset="choirrec_tsv", input=str(tmp_path)), w)
    (tmp_path / "users.tsv").write_text(
        "user_id\tage\tgender\tcity\tclick_seq\tpurchase_seq\tsearch_seq\n"
        "1\t20\tmale\tBeijing\t2026-05-01 10:00,Pen,Books\t\t\n")
    with pytest.raises(SchemaError, match="click_seq.*has 3 fields, expected 4"):
        prepare_data(DataConfig(dataset="choirrec_tsv", input=str(tmp_path)), w)
    assert w.manifest("data") is None
