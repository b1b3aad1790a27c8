"""Row-by-row digits: the pixel CSV reader, scikit-learn's file from the cached wheel, and smoke runs of both models."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes.digits import data as digits
from rnnkit.recipes.digits.recipe import DigitsConfig, DigitsRecipe

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"
QUICK = ["--epochs", "2", "--no-progress", "--threads", "1"]



def test_parse_pixels_square_images_and_errors():
    images, labels = digits.parse_pixels((FIXTURES / "digits4x4.csv").read_text(), "d.csv")
    assert images.shape == (12, 4, 4)
    assert labels[:2] == [1, 1]
    assert labels[-1] == 7
    assert images[0, :, 1].tolist() == [16.0] * 4  # a vertical bar: column 1 of every row
    with pytest.raises(ValueError, match=r"digits_bad.csv:2: 13 pixels, then the label; expected 16 pixels, then the "
                                         r"label, like the first image\."):
        digits.parse_pixels((FIXTURES / "digits_bad.csv").read_text(), "digits_bad.csv")
    with pytest.raises(ValueError, match=r"d.csv:1: the label \(last value\) must be a class number"):
        digits.parse_pixels("0,0,0,0,1.5\n", "d.csv")


def test_digits_reads_sklearn_file_from_the_cached_wheel(offline_cache: Path):
    csv = (FIXTURES / "digits4x4.csv").read_bytes()
    with zipfile.ZipFile(offline_cache / "pypi" / "scikit_learn-1.9.1-cp311-cp311-manylinux_x86_64.whl", "w") as z:
        z.writestr("sklearn/datasets/data/digits.csv.gz", gzip.compress(csv))
    images, labels, scale = digits.load_images("sklearn", None, None)
    assert images.shape == (12, 4, 4)
    assert scale == 16.0
    assert float(images.max()) == 1.0


def test_digits_recipe_smoke_rows_and_flat(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    data = str(FIXTURES / "digits4x4.csv")
    args = ["recipe", "digits", "--data", data, "--test-fraction", "0.25", "--dev-fraction", "0.25", *QUICK]
    for kind in ("rows", "flat"):
        assert main([*args, "--model", kind, "--out", str(tmp_path / kind)]) == 0
        summary = json.loads((tmp_path / kind / "results.json").read_text())
        other = "flat" if kind == "rows" else "rows"
        assert set(summary["test"]) == {"accuracy"}
        assert set(summary["baselines"]) == {other}
        assert summary["recipe"] == "digits"
        assert summary["epochs_run"] == 2
        assert (tmp_path / kind / "training.png").exists()
        capsys.readouterr()
        assert main(["predict", str(tmp_path / kind), data]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert len(lines) == 12
        assert lines[0].split()[0] in ("1", "7")
        assert "(true: 1)" in lines[0]


def test_an_empty_split_is_named_with_its_size_and_what_to_change(tmp_path: Path):
    one = tmp_path / "one.csv"
    one.write_text(",".join(["0"] * 16) + ",3\n")  # a single 4x4 image: nothing is left for dev and test
    with pytest.raises(ValueError, match=r"digits: the dev split is empty \(train 1, dev 0, test 0 of 1 examples\); "
                                         r"give more data or raise --dev-fraction\."):
        DigitsRecipe().prepare_data(DigitsConfig(data=str(one)))


@pytest.mark.parametrize(("setting", "message"), [
    ({"test_fraction": 0.0}, r"digits: --test-fraction must be between 0 and 1 \(exclusive\), got 0\.0\."),
    ({"test_fraction": 1.5}, r"digits: --test-fraction must be between 0 and 1 \(exclusive\), got 1\.5\."),
    ({"dev_fraction": 0.0}, r"digits: --dev-fraction must be between 0 and 1 \(exclusive\), got 0\.0\."),
    ({"scale": 0.0}, r"digits: --scale must be positive \(the pixels are divided by it\), got 0\.0; leave it out"),
])
def test_out_of_range_settings_are_refused_before_the_data_is_read(tmp_path: Path, setting: dict, message: str):
    with pytest.raises(ValueError, match=message):  # not "no file": the data is never looked at
        DigitsRecipe().prepare_data(DigitsConfig(data=str(tmp_path / "missing.csv"), **setting))


def test_predict_says_what_size_the_model_reads(tmp_path: Path):
    recipe, config = DigitsRecipe(), DigitsConfig(hidden_size=4)
    meta = {"classes": [0, 1], "image_size": [8, 8], "scale": 16.0}
    model = recipe.build_model(config, meta).eval()
    row = tmp_path / "row.csv"
    row.write_text(",".join(["1"] * 30) + "\n")  # 30 values: neither 64 pixels nor 64 and a label
    with pytest.raises(ValueError, match=r"row.csv:1: 30 pixels; expected 8x8 images, the size the model reads: 64 "
                                         r"pixel values per line, optionally then the label\."):
        recipe.predict(model, config, meta, [str(row)])
    row.write_text(",".join(["1"] * 64) + ",1\n")
    assert recipe.predict(model, config, meta, [str(row)])[0]["true"] == 1


def test_a_first_line_that_is_no_square_image_is_not_compared_with_itself():
    with pytest.raises(ValueError, match=r"d.csv:1: 29 pixels, then the label; expected a square image: H\*W pixels "
                                         r"\(e.g. 64 for 8x8\), then the label\.$"):
        digits.parse_pixels(",".join(["1"] * 30) + "\n", "d.csv")
