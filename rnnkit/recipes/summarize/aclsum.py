"""The man-page summariser read on ACLSum (a transfer test: it never saw a paper in training).

Each ACLSum paper's abstract is the source (the model reads its first ``max_source_tokens`` words, as it
read DESCRIPTION); its one output is scored with ROUGE against each of the paper's three human summaries
(challenge, approach, outcome), beside the lead baseline with the k chosen on man pages::

    python -m rnnkit.recipes.summarize.aclsum runs/summarize            # ACLSum's 100 test papers

The model writes NAME lines ("create a directory"), not one-sentence paper summaries, so low scores are
the expected honest answer; the extractive recipe (``rnnkit recipe extract``) is the one built for ACLSum.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, cast

from rnnkit.models.pointer import PointerGenerator
from rnnkit.recipes import all_recipes, load_run
from rnnkit.recipes.extract.data import ASPECTS, Paper, load_packaged
from rnnkit.recipes.rouge import rouge
from rnnkit.recipes.summarize.recipe import SummarizeConfig, lead, make_example, source_words, summarise_examples
from rnnkit.recipes.text import TokenVocab


def abstract(paper: Paper) -> str:
    """A paper's abstract: its sentences marked as the abstract section, joined."""
    return " ".join(s for s, section in zip(paper.sentences, paper.sections, strict=True) if section == "abstract")


def score_papers(run_path: str | Path, papers: list[Paper], lead_k: int) -> dict[str, Any]:
    """ROUGE-1/2/L of the run's summary of each paper's abstract, and of its first ``lead_k`` words, per aspect."""
    run = load_run(run_path, all_recipes())
    if run.recipe.name != "summarize" or not isinstance(run.model, PointerGenerator):
        raise ValueError(f"{run_path} is a {run.recipe.name!r} run; give a run of `rnnkit recipe summarize`.")
    config, vocab = cast(SummarizeConfig, run.config), TokenVocab.from_dict(run.meta["vocab"])
    docs = [abstract(p) for p in papers]
    examples = [make_example(source_words(d, config.max_source_tokens), None, vocab, config.copy) for d in docs]
    made = [" ".join(w) for w in summarise_examples(run.model, examples, vocab, config.beam, config.max_summary_tokens)]
    leads = [lead(d, lead_k) for d in docs]
    return {"papers": len(papers), "lead_k": lead_k,
            "examples": [{"id": p.id, "summary": s} for p, s in zip(papers, made, strict=True)][:5],
            "model": {a: rouge([p.summaries[a] for p in papers], made) for a in ASPECTS},
            "lead": {a: rouge([p.summaries[a] for p in papers], leads) for a in ASPECTS}}


def main(argv: list[str]) -> int:
    """``python -m rnnkit.recipes.summarize.aclsum [RUN]``: print the scores on ACLSum's test papers as JSON."""
    run_path = argv[0] if argv else "runs/summarize"
    results = json.loads((Path(run_path) / "results.json").read_text())
    k = int(results["baselines"]["lead"]["k"]) if "lead" in results.get("baselines", {}) else 20
    print(json.dumps(score_papers(run_path, load_packaged()["test"], k), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
