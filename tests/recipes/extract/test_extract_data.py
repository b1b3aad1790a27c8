"""The ACLSum reader on the hand-written fixture (two made-up papers in the real format) and on broken
copies of it: every error names the file, the line and the field; the sentence splitter for users' text."""

from __future__ import annotations

import json
import random
import zipfile
from pathlib import Path
from typing import Any

import pytest
from support import fetched

from rnnkit.recipes.extract import data
from rnnkit.recipes.extract.data import read_file, read_papers, split_sentences
from rnnkit.utils.reading import DataFormatError

FIXTURE = Path(__file__).parents[2] / "fixtures" / "recipes" / "aclsum" / "papers.jsonl"


def fixture_objects() -> list[dict[str, Any]]:
    return [json.loads(line) for line in FIXTURE.read_text().splitlines()]


def test_reads_the_fixture_in_document_order_with_labels_per_aspect():
    first, second = read_file(FIXTURE)
    assert (first.id, second.id) == ("X01-0001", "X01-0002")
    assert first.title == "Counting Ducks with Recurrent Networks"
    # abstract (3), introduction (3), conclusion (1), in that order
    assert first.sections == ["abstract"] * 3 + ["introduction"] * 3 + ["conclusion"]
    assert first.sentences[0] == "We count ducks in photos of rivers ."
    assert first.sentences[3] == "Ducks hide behind reeds , so counting them in river photos is slow ."
    assert first.sentences[-1].startswith("The running count")
    assert first.labels == {"challenge": [0, 0, 0, 1, 0, 0, 0], "approach": [0, 1, 0, 0, 0, 0, 0],
                            "outcome": [0, 0, 1, 0, 0, 0, 1]}
    assert second.labels["approach"] == [0, 1, 0, 1, 0, 0]  # not the heuristic_highlights, which differ
    assert second.summaries["outcome"] == "Tasters preferred the recommended tea in 7 of 10 trials."


def broken(change: Any) -> bytes:
    """The fixture with ``change`` applied to the second paper (line 2)."""
    objects = fixture_objects()
    change(objects[1])
    return "\n".join(json.dumps(o) for o in objects).encode()


@pytest.mark.parametrize(("change", "says"), [
    (lambda p: p.pop("highlights"), "paper X01-0002: the line has no highlights"),
    (lambda p: p["summary"].pop("outcome"), "paper X01-0002: summary has no outcome"),
    (lambda p: p["summary"].update(challenge="  "), "summary.challenge is '  '"),
    (lambda p: p["sentences"].update(introduction="People rarely know."),
     "sentences.introduction is not a list of strings"),
    (lambda p: p["sentences"]["conclusion"].append(""), "sentences.conclusion[2] is empty"),
    (lambda p: p["highlights"]["approach"]["introduction"].append(0),
     "highlights.approach.introduction has 3 labels for 2 sentences"),
    (lambda p: p["highlights"]["outcome"]["abstract"].__setitem__(0, 2),
     "highlights.outcome.abstract holds 2; expected labels 0 or 1"),
    (lambda p: p["highlights"]["outcome"].pop("conclusion"), "highlights.outcome has no conclusion"),
    (lambda p: p.update(id="X01-0001"), "paper X01-0001 appears again (first on line 1)"),
    (lambda p: p.update(id=7), "id is 7"),
])
def test_a_broken_paper_is_named_with_its_file_line_and_field(change: Any, says: str):
    with pytest.raises(DataFormatError) as e:
        read_papers(broken(change), "train.jsonl")
    assert str(e.value).startswith("train.jsonl:2: ")
    assert says in str(e.value)
    assert e.value.line == 2


def test_invalid_json_and_empty_files_are_refused():
    lines = FIXTURE.read_bytes().splitlines()
    with pytest.raises(DataFormatError, match=r"^val\.jsonl:3: this line is not valid JSON \(Expecting"):
        read_papers(b"\n".join([lines[0], b"", lines[1][:-5]]), "val.jsonl")  # a blank line is skipped, not an error
    with pytest.raises(DataFormatError, match=r"^empty\.jsonl:1: the file holds no papers"):
        read_papers(b"\n\n", "empty.jsonl")
    with pytest.raises(DataFormatError, match=r"^list\.jsonl:1: the line is a JSON list"):
        read_papers(b"[1, 2]", "list.jsonl")
    with pytest.raises(FileNotFoundError, match="no file nowhere.jsonl"):
        read_file("nowhere.jsonl")


def test_unfetchable_package_names_itself_and_the_command(offline_cache: Path):
    with pytest.raises(FileNotFoundError) as e:
        data.load_packaged()
    assert "aclsum==0.1.2" in str(e.value)
    assert "pip download --no-deps aclsum==0.1.2" in str(e.value)


def test_the_splits_are_read_from_the_wheel_and_counted(offline_cache: Path, monkeypatch: pytest.MonkeyPatch):
    wheel = offline_cache / "pypi" / "aclsum-0.1.2-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:  # the fixture, where the real wheel keeps its files
        for name in ("train", "val", "test"):
            z.writestr(f"aclsum/dataset/{name}.jsonl", FIXTURE.read_bytes())
    with pytest.raises(ValueError, match=r"train\.jsonl holds 2 papers, not ACLSum's 100"):
        data.load_packaged()
    monkeypatch.setattr(data, "COUNTS", {"train": 2, "dev": 2, "test": 2})
    splits = data.load_packaged()
    assert [p.id for p in splits["dev"]] == ["X01-0001", "X01-0002"]


def test_plain_text_is_split_into_sentences():
    text = ("We count ducks (Smith et al. 2017) in photos.  It works!\nDoes it\nreally? Yes, e.g. Table 2 shows it.\n\n"
            "A new paragraph without a full stop")
    assert split_sentences(text) == ["We count ducks (Smith et al. 2017) in photos.", "It works!", "Does it really?",
                                     "Yes, e.g. Table 2 shows it.", "A new paragraph without a full stop"]
    assert split_sentences(" \n\n ") == []


def slots(container: Any) -> list[Any]:
    """The keys of a dict or the indices of a list."""
    return list(container) if isinstance(container, dict) else list(range(len(container)))


def test_corrupted_copies_are_read_or_refused_by_line_never_crash():
    """400 seeded corruptions of the fixture (cut short, a byte changed, a value swapped for another JSON value):
    each is read or raises a DataFormatError naming the file and a line; no other exception gets out."""
    raw = FIXTURE.read_bytes()
    rng = random.Random(0)
    values: list[Any] = [None, 1, -1, 2.5, float("nan"), True, "", "x", [], {}, [0, 1], [[0]], {"abstract": []}]
    refused = 0
    for case in range(400):
        if case % 3 == 0:
            bad = raw[: rng.randrange(len(raw))]
        elif case % 3 == 1:
            at = rng.randrange(len(raw))
            bad = raw[:at] + bytes([rng.randrange(256)]) + raw[at + 1 :]
        else:
            objects = fixture_objects()
            target: Any = objects[rng.randrange(2)]
            for _ in range(rng.randint(0, 3)):  # walk down to a random non-empty container ...
                inner = [k for k in slots(target) if isinstance(target[k], dict | list) and target[k]]
                if not inner:
                    break
                target = target[rng.choice(inner)]
            target[rng.choice(slots(target))] = rng.choice(values)  # ... and replace one of its values
            bad = "\n".join(json.dumps(o) for o in objects).encode()
        try:
            read_papers(bad, "corrupt.jsonl")
        except DataFormatError as e:
            refused += 1
            assert str(e).startswith("corrupt.jsonl:")
            assert e.line in (1, 2, 3)
    assert refused > 200  # most corruptions break the file, and each was named


@pytest.mark.slow
def test_the_real_aclsum_has_its_published_counts():
    splits = fetched(data.load_packaged, "ACLSum")
    assert {s: len(p) for s, p in splits.items()} == {"train": 100, "dev": 50, "test": 100}
    assert sum(len(p.sentences) for p in splits["train"]) == 3868
