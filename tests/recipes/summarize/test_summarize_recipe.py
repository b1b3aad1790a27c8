"""The summarize recipe end to end on a tiny copy task, the lead baseline and ROUGE on hand cases, and
`rnnkit summarize` on the trained run (and on runs and files it must refuse)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from rnnkit.cli import main
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.rouge import rouge
from rnnkit.recipes.summarize import data as sd
from rnnkit.recipes.summarize.recipe import best_lead, lead, make_example
from rnnkit.recipes.text import TokenVocab

FIXTURES = Path(__file__).parents[2] / "fixtures" / "summarize"
SPAM_RUN = Path(__file__).parents[2] / "fixtures" / "checkpoints" / "spam-2026-11.pt"
VERBS = ["start", "stop", "check", "list", "print", "clear"]
OBJECTS = ["engine", "queue", "cache", "log"]


def made_up_name(rng: random.Random) -> str:
    return "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(3))


def copy_task(folder: Path, count: int = 60) -> list[tuple[str, str]]:
    """Pages whose summary holds the page's own made-up name, seen nowhere else: only copying can write it."""
    rng, names = random.Random(7), set()
    pages: list[tuple[str, str]] = []
    while len(pages) < count:
        name = made_up_name(rng)
        if name in names:
            continue
        names.add(name)
        verb, obj = rng.choice(VERBS), rng.choice(OBJECTS)
        summary = f"{verb} the {name} {obj}"
        (folder / f"{name}.1").write_text(
            f'.TH {name.upper()} 1 2026-12-01 "rnnkit tests"\n.SH NAME\n{name} \\- {summary}\n.SH DESCRIPTION\n'
            f".B {name}\nwill {verb} the {obj} of this machine.\n.PP\nIt prints nothing.\n")
        pages.append((name, summary))
    return pages


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("summarize")
    (root / "pages").mkdir()
    copy_task(root / "pages")
    out = root / "run"
    args = ["recipe", "summarize", "--pages", str(root / "pages"), "--out", str(out), "--min-freq", "3",
            "--embed-size", "16", "--hidden-size", "32", "--dropout", "0", "--batch-size", "8", "--epochs", "12",
            "--patience", "0", "--lr", "0.01", "--max-lead", "6", "--beam", "2", "--no-progress", "--threads", "1"]
    assert main(args) == 0
    return out


def test_copying_writes_the_word_only_copying_can_and_beats_the_model_without_it(trained: Path):
    summary = json.loads((trained / "results.json").read_text())
    copy, no_copy, lead_k = summary["test"], summary["baselines"]["no_copy"], summary["baselines"]["lead"]
    assert copy["rougeL"] > 95.0  # the 6 test pages: "verb the NAME object", every word right
    # without copying the name can only be <unk> (left out): at best 3 of 4 words, ROUGE-L F1 = 2 * 1 * 3/4 / (7/4)
    assert no_copy["rougeL"] <= 100 * 6 / 7 + 1e-9
    assert copy["rougeL"] > no_copy["rougeL"] + 5
    # k = 5, "NAME will VERB the OBJECT": LCS "VERB the OBJECT" with "VERB the NAME OBJECT", F1 = 2 (3/5)(3/4) / (27/20)
    # = 2/3
    assert lead_k["k"] == 5.0
    assert lead_k["rougeL"] == pytest.approx(100 * 2 / 3)
    assert (trained / "no-copy" / "best.pt").is_file()
    rows = (trained / "test-summaries.tsv").read_text().splitlines()
    assert rows[0] == "page\treference\tsummary"
    assert len(rows) == 7


def test_rnnkit_summarize_prints_the_summary_of_a_page_and_of_text(trained: Path, tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]):
    page = tmp_path / "nomolu.1"
    page.write_text('.TH NOMOLU 1\n.SH NAME\nnomolu \\- whatever\n.SH DESCRIPTION\n.B nomolu\nwill stop the queue of '
                    'this machine.\n')
    capsys.readouterr()
    assert main(["summarize", str(trained), str(page)]) == 0
    assert capsys.readouterr().out.strip() == f"{page}: stop the nomolu queue"  # a name the vocabulary has never held
    text = tmp_path / "note.txt"
    text.write_text("Kirapo will check the cache of this machine.\n")
    assert main(["summarize", str(trained), str(text), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result == {"input": str(text), "summary": "check the kirapo cache", "copied": ["kirapo"]}
    run = load_run(trained, all_recipes())
    predicted = run.recipe.predict(run.model, run.config, run.meta,
                                   [str(page), "Bavexi will list the log of this machine."])
    assert [p["summary"] for p in predicted] == ["stop the nomolu queue", "list the bavexi log"]


def test_rnnkit_summarize_refuses_what_it_cannot_summarise(trained: Path, capsys: pytest.CaptureFixture[str]):
    nameless = FIXTURES / "nameless.7"
    capsys.readouterr()
    assert main(["summarize", str(trained), str(nameless)]) == 2
    assert capsys.readouterr().err.startswith(f"rnnkit summarize: error: {nameless}:1: no NAME section; expected a man "
                                              "page")
    assert main(["summarize", str(SPAM_RUN), str(FIXTURES / "lantern.txt")]) == 2
    err = capsys.readouterr().err
    assert "is a 'spam' run, which does not summarise; give a run of `rnnkit recipe summarize`" in err


def test_lead_baseline_on_a_known_case():
    assert lead("ls lists   the\nfiles of a directory", 3) == "ls lists the"
    pairs = [sd.Pair("a", "cat prints files to the screen", "prints files"),
             sd.Pair("b", "tac prints files in reverse", "prints files in reverse")]
    # ROUGE-L F1 = 2PR / (P + R) with LCS-based P and R, per page, then the mean:
    # k=3 ("cat prints files", "tac prints files"): a 2*(2/3)*1/(5/3) = .8, b 2*(2/3)*(1/2)/(7/6) = 4/7; mean .686
    # k=4: a 2/3, b 3/4; mean .708.  k=5: a 2*(2/5)/(7/5) = 4/7, b all of it, 2*(4/5)/(9/5) = 8/9; mean .730
    # k=6: a 1/2, b 8/9 (it has only 5 words); mean .694.  So k = 5.
    scores = {k: rouge([p.summary for p in pairs], [lead(p.description, k) for p in pairs])["rougeL"]
              for k in range(1, 7)}
    assert scores[3] == pytest.approx(100 * (0.8 + 4 / 7) / 2)
    assert scores[5] == pytest.approx(100 * (4 / 7 + 8 / 9) / 2)
    assert best_lead(pairs, 6) == max(scores, key=lambda k: (scores[k], -k)) == 5


def test_rouge_wiring_on_a_hand_case():
    # reference "the cat sat on the mat", prediction "the cat on the mat": unigrams 5/5 and 5/6, bigrams
    # (the cat, on the, the mat) 3/4 and 3/5, LCS 5: ROUGE-L = ROUGE-1
    scores = rouge(["the cat sat on the mat"], ["the cat on the mat"])
    assert scores["rouge1"] == pytest.approx(100 * 2 * 1 * (5 / 6) / (1 + 5 / 6))
    assert scores["rouge2"] == pytest.approx(100 * 2 * (3 / 4) * (3 / 5) / (3 / 4 + 3 / 5))
    assert scores["rougeL"] == pytest.approx(scores["rouge1"])


def test_extended_ids_of_an_example():
    vocab = TokenVocab(["<pad>", "<unk>", "<bos>", "<eos>", "the", "queue"])
    ex = make_example(["zuma", "stops", "the", "queue", "zuma"], ["stop", "zuma", "queue"], vocab, copy=True)
    assert ex.source == [1, 1, 4, 5, 1]
    assert ex.source_ext == [6, 7, 4, 5, 6]  # zuma is V + 0, stops V + 1
    assert ex.oovs == ["zuma", "stops"]
    assert ex.target == [1, 6, 5, 3]  # "stop" is in neither: <unk>; zuma copied; then <eos>
    plain = make_example(["zuma", "stops", "the", "queue", "zuma"], ["stop", "zuma", "queue"], vocab, copy=False)
    assert plain.target == [1, 1, 5, 3]


def test_rnnkit_summarize_runs_the_extractive_recipe_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    papers = Path(__file__).parents[2] / "fixtures" / "recipes" / "aclsum" / "papers.jsonl"
    for split in ("train", "val", "test"):
        (tmp_path / f"{split}.jsonl").write_bytes(papers.read_bytes())
    out = tmp_path / "run"
    assert main(["recipe", "extract", "--data", str(tmp_path), "--out", str(out), "--min-freq", "1", "--embed-size",
                 "8", "--word-hidden", "8", "--sent-hidden", "8", "--max-steps", "1", "--epochs", "1", "--no-progress",
                 "--threads", "1"]) == 0
    capsys.readouterr()
    assert main(["summarize", str(out), str(FIXTURES / "lantern.txt")]) == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"== {FIXTURES / 'lantern.txt'}\n")  # the extract recipe's own display of its result
    assert "sentences chosen, marked" in shown
    assert "The lantern keeps a small flame alive through the night." in shown


def test_the_man_page_model_is_scored_on_aclsum_papers(trained: Path):
    from rnnkit.recipes.extract.data import ASPECTS, read_file
    from rnnkit.recipes.summarize.aclsum import abstract, score_papers

    papers = read_file(Path(__file__).parents[2] / "fixtures" / "recipes" / "aclsum" / "papers.jsonl")
    scores = score_papers(trained, papers, 3)
    assert scores["papers"] == 2
    for aspect in ASPECTS:  # lead: the first three words of each abstract against that aspect's summary
        assert scores["lead"][aspect] == rouge([p.summaries[aspect] for p in papers],
                                               [" ".join(abstract(p).split()[:3]) for p in papers])
        assert set(scores["model"][aspect]) == {"rouge1", "rouge2", "rougeL"}
    with pytest.raises(ValueError, match="is a 'spam' run; give a run of `rnnkit recipe summarize`"):
        score_papers(SPAM_RUN, papers, 3)
