"""Row-by-row digits: the pixel CSV reader, scikit-learn's file from the cached wheel, and smoke runs of both models."""

from __future__ import annotations

import gzip
import json
import zipfile
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes.digits import data as digits

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes"
QUICK = ["--epochs", "2", "--no-progress", "--threads", "1"]



def test_parse_pixels_square_images_and_errors():
    images, labels = digits.parse_pixels((FIXTURES / "digits4x4.csv").read_text(), "d.csv")
    assert images.shape == (12, 4, 4)
    assert labels[:2] == [1, 1]
    assert labels[-1] == 7
    assert images[0, :, 1].tolist() == [16.0] * 4  # a vertical bar: column 1 of every row
    with pytest.raises(ValueError, match=r"digits_bad.csv:2: 13 pixels; expected a square image"):
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
