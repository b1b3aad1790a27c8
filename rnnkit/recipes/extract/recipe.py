"""Extractive summaries of ACL papers (many-to-many over sentences): which sentences state the
challenge, the approach and the outcome.

Data: ACLSum (Takeshita, Green, Reinig, Eckert and Ponzetto, NAACL 2024), 250 papers from the
ACL Anthology (100/50/100 train/validation/test, the authors' split) from the PyPI package
``aclsum`` 0.1.2 (MIT). Each paper has its abstract, introduction and conclusion split into
sentences (39 on average), a one-sentence human summary (about 22 words) per aspect, and
every sentence marked 0/1 as highlighted for each aspect (4-7 per paper).

Model: a SummaRuNNer-style hierarchical tagger (``model.py``): word-level BiGRU per sentence,
sentence-level BiGRU over the paper, one sigmoid per sentence per aspect, trained on the
human highlights (``--labels oracle``: on the greedy oracle's sentences instead, as
SummaRuNNer was). A summary of aspect a is the k_a top-scoring sentences in document order;
k_a (1 to ``max_k``) is the one with the best ROUGE-2 on validation, chosen after every epoch
and saved with the weights.

Measured in the same run on test: ROUGE-1/2/L F1 of the model's sentences against the human
summary, per aspect, beside lead-3 (the first three sentences), lead-k (k tuned on validation
like the model's) and the greedy oracle (the best a sentence picker could hope for). 100
training papers are very few for a neural summariser: expect it above lead, far below the oracle.

Expected (test ROUGE-2 per aspect challenge/approach/outcome; one run with the defaults,
docs/results.md): model 11.1/17.0/13.7, lead-3 9.2/11.4/4.2, lead-k 10.9/12.2/6.9, oracle
24.8/31.2/28.7. About 8 minutes of training (23 epochs, stopped by patience) at load 15-18.

    rnnkit recipe extract
    rnnkit summarize runs/extract paper.txt        # or: rnnkit predict runs/extract paper.txt
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.extract.baselines import greedy_oracle, lead
from rnnkit.recipes.extract.data import ASPECTS, Paper, load_dir, load_packaged, split_sentences
from rnnkit.recipes.extract.model import SentenceTagger, TaggerConfig
from rnnkit.recipes.rouge import KINDS, rouge, tokens
from rnnkit.recipes.text import TokenVocab, pad_batch, tokenize
from rnnkit.utils.config import option
from rnnkit.utils.reading import decode_utf8


@dataclass(frozen=True)
class ExtractConfig(RecipeConfig):
    """Extractive summarisation of ACLSum papers: data, model and training settings."""

    data: str | None = option(None,
                              "a directory with train.jsonl, val.jsonl, test.jsonl in ACLSum's format (default: the "
                              "aclsum package)")
    labels: str = option("highlights",
                         "what the tagger learns: the human highlights, or the greedy ROUGE oracle's sentences",
                         choices=["highlights", "oracle"])
    # ~5,500 words of 100 papers; the rest are <unk>
    min_freq: int = option(2, "keep words seen at least this often in training")
    # 99% of ACLSum's sentences are shorter
    max_words: int = option(60, "words read per sentence (longer sentences are cut)")
    max_k: int = option(5, "the most sentences a summary may take (k per aspect is chosen on validation)")
    embed_size: int = option(100, "word embedding size")
    word_hidden: int = option(64, "hidden units per direction, word level")
    sent_hidden: int = option(64, "hidden units per direction, sentence level")
    cell: str = option("gru", "rnn, lstm or gru", choices=["rnn", "lstm", "gru"])
    dropout: float = option(0.3, "dropout on word embeddings and sentence states")
    batch_size: int = option(4, "papers per batch")  # 25 steps an epoch
    epochs: int = option(40, "passes over the 100 training papers (at most)")
    lr: float = option(1e-3, "Adam learning rate")
    # 50 validation papers: a noisy monitor
    patience: int = option(8, "stop after this many epochs without a better validation ROUGE-2")
    max_minutes: float | None = option(12.0, "stop after this much training time")
    # at load 9, 5 steps took 2.8 s on one thread and 60 s on two
    threads: int | None = option(1, "CPU threads for torch (1: fastest on a busy machine)")
    out: str = option("runs/extract", "run directory: best.pt, last.pt, results.json")


@dataclass
class Encoded:
    """A paper as the model takes it: word ids per sentence, and 0/1 targets (S, A) to learn."""

    words: list[list[int]]
    targets: Tensor  # (S, A)


@dataclass
class Extract:
    """The papers of each split, their encodings, and the vocabulary."""

    papers: dict[str, list[Paper]]
    encoded: dict[str, list[Encoded]]
    vocab: TokenVocab


def encode_sentences(sentences: Sequence[str], vocab: TokenVocab, max_words: int) -> list[list[int]]:
    """Word ids of each sentence, at most ``max_words``; a sentence with no words becomes one <unk>."""
    return [vocab.encode(tokenize(s)[:max_words]) or [vocab.unk_id] for s in sentences]


def oracle_labels(paper: Paper) -> dict[str, list[int]]:
    """0/1 per sentence per aspect: 1 on the sentences the greedy oracle picks for that aspect's summary."""
    toks = [tokens(s) for s in paper.sentences]
    out = {}
    for aspect in ASPECTS:
        chosen = set(greedy_oracle(toks, tokens(paper.summaries[aspect])))
        out[aspect] = [int(i in chosen) for i in range(len(toks))]
    return out


def collate(docs: Sequence[Sequence[Sequence[int]]], targets: Sequence[Tensor] | None = None) -> dict[str, Tensor]:
    """A batch for ``SentenceTagger``: all sentences of ``docs`` padded into one (N, T) block, with their counts."""
    flat = [s for doc in docs for s in doc]
    words, lengths = pad_batch(flat)  # (N, T), (N,)
    batch = {"words": words, "word_lengths": lengths, "sentence_counts": torch.tensor([len(d) for d in docs])}
    if targets is not None:
        padded = torch.zeros(len(docs), max(len(d) for d in docs), targets[0].size(1))  # (B, S, A)
        for b, t in enumerate(targets):
            padded[b, : t.size(0)] = t
        batch["targets"] = padded
    return batch


@torch.no_grad()
def probabilities(model: SentenceTagger, docs: Sequence[Sequence[Sequence[int]]], batch_size: int = 8) -> list[Tensor]:
    """P(sentence j belongs to aspect a's summary) for every document: one (S, A) tensor each."""
    out = []
    for start in range(0, len(docs), batch_size):
        chunk = docs[start : start + batch_size]
        logits, _ = model(**collate(chunk))  # (B, S, A)
        out += [torch.sigmoid(logits[b, : len(doc)]) for b, doc in enumerate(chunk)]
    return out


def top_k(scores: Tensor, k: int) -> list[int]:
    """The ``k`` highest-scoring sentence indices, in document order (ties: the earlier sentence)."""
    order = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    return sorted(order[:k])


def ranked(scores: Sequence[Tensor]) -> Callable[[int, int], list[int]]:
    """choose(n, k): the top k sentences of document n by ``scores[n]`` (S,), for ``best_k``."""
    return lambda n, k: top_k(scores[n], k)


def selection_rouge(papers: Sequence[Paper], chosen: Sequence[Sequence[int]], aspect: str) -> dict[str, float]:
    """ROUGE-1/2/L F1 of each paper's chosen sentences, joined, against its summary of ``aspect``."""
    predictions = [" ".join(p.sentences[i] for i in c) for p, c in zip(papers, chosen, strict=True)]
    return rouge([p.summaries[aspect] for p in papers], predictions)


def best_k(papers: Sequence[Paper], choose: Callable[[int, int], list[int]], aspect: str, max_k: int) -> int:
    """The k in 1..max_k whose selections ``choose(paper_index, k)`` have the best ROUGE-2 (ties: the smaller k)."""
    scores = {k: selection_rouge(papers, [choose(n, k) for n in range(len(papers))], aspect)["rouge2"]
              for k in range(1, max_k + 1)}
    return max(scores, key=lambda k: (scores[k], -k))


def flatten(per_aspect: dict[str, dict[str, float]]) -> dict[str, float]:
    """{aspect: {rouge1: ..}} -> {aspect_rouge1: .., ..., rouge1: mean over aspects, ...}."""
    out = {f"{a}_{kind}": v for a, scores in per_aspect.items() for kind, v in scores.items()}
    for kind in KINDS:
        out[kind] = sum(per_aspect[a][kind] for a in per_aspect) / len(per_aspect)
    return out


class ExtractRecipe(Recipe[ExtractConfig, Extract]):
    """Extractive summaries of ACL papers: pick the sentences stating challenge, approach and outcome."""

    name = "extract"
    config_class = ExtractConfig
    monitor = "rouge2"
    inputs = ("plain-text files, one document each (a paper's abstract, introduction and conclusion); each gets a "
              "summary per aspect")

    def prepare_data(self, config: ExtractConfig) -> Extract:
        for name in ("max_k", "max_words", "min_freq", "batch_size"):
            if getattr(config, name) < 1:
                raise ValueError(f"extract: {name} must be at least 1, got {getattr(config, name)}.")
        if config.data is None:
            print("extract: reading ACLSum from the PyPI package aclsum 0.1.2")
        papers = load_packaged() if config.data is None else load_dir(config.data)
        vocab = TokenVocab.build((tokenize(s) for p in papers["train"] for s in p.sentences), min_freq=config.min_freq)
        encoded = {}
        for split, part in papers.items():
            labels = [oracle_labels(p) if config.labels == "oracle" and split == "train" else p.labels for p in part]
            encoded[split] = [Encoded(encode_sentences(p.sentences, vocab, config.max_words),
                                      torch.tensor([lab[a] for a in ASPECTS], dtype=torch.float32).T)  # (S, A)
                              for p, lab in zip(part, labels, strict=True)]
            sentences = sum(len(p.sentences) for p in part)
            print(f"extract: {split}: {len(part)} papers, {sentences} sentences, "
                  + ", ".join(f"{a} {sum(sum(lab[a]) for lab in labels) / len(part):.1f}" for a in ASPECTS)
                  + f" {config.labels if split == 'train' else 'highlights'} per paper")
        print(f"extract: {len(vocab)} words seen at least {config.min_freq} times in training")
        return Extract(papers, encoded, vocab)

    def describe(self, data: Extract) -> Meta:
        return {"vocab": data.vocab.to_dict(), "aspects": list(ASPECTS)}

    def build_model(self, config: ExtractConfig, meta: Meta) -> nn.Module:
        return SentenceTagger(TaggerConfig(
            vocab_size=len(meta["vocab"]["itos"]), num_aspects=len(meta["aspects"]), embed_size=config.embed_size,
            word_hidden=config.word_hidden, sent_hidden=config.sent_hidden, cell=config.cell, dropout=config.dropout))

    def batches(self, config: ExtractConfig, data: Extract, epoch: int) -> Iterator[dict[str, Tensor]]:
        train = data.encoded["train"]
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch)).tolist()
        for start in range(0, len(order), config.batch_size):
            docs = [train[i] for i in order[start : start + config.batch_size]]
            yield collate([d.words for d in docs], [d.targets for d in docs])

    def evaluate(self, model: nn.Module, config: ExtractConfig, data: Extract, split: str) -> dict[str, float]:
        """ROUGE per aspect of the top k_a sentences; on dev, choose each k_a first (kept in the model's buffer k)."""
        model = cast(SentenceTagger, model)
        papers = data.papers[split]
        probs = probabilities(model, [e.words for e in data.encoded[split]])
        per_aspect = {}
        for a, aspect in enumerate(ASPECTS):
            if split == "dev":
                model.k[a] = best_k(papers, ranked([p[:, a] for p in probs]), aspect, config.max_k)
            per_aspect[aspect] = selection_rouge(papers, [top_k(p[:, a], int(model.k[a])) for p in probs], aspect)
        return {**flatten(per_aspect), **{f"{aspect}_k": float(model.k[a]) for a, aspect in enumerate(ASPECTS)}}

    def baselines(self, config: ExtractConfig, data: Extract) -> dict[str, dict[str, float]]:
        """lead-3, lead-k (k per aspect with the best validation ROUGE-2) and the greedy oracle, on test."""
        test, dev = data.papers["test"], data.papers["dev"]
        lead3 = {a: selection_rouge(test, [lead(len(p.sentences), 3) for p in test], a) for a in ASPECTS}
        ks = {a: best_k(dev, lambda n, k: lead(len(dev[n].sentences), k), a, config.max_k) for a in ASPECTS}
        lead_k = {a: selection_rouge(test, [lead(len(p.sentences), ks[a]) for p in test], a) for a in ASPECTS}
        print("extract: the greedy oracle on the test papers")
        oracle, sizes = {}, {}
        for aspect in ASPECTS:
            chosen = [greedy_oracle([tokens(s) for s in p.sentences], tokens(p.summaries[aspect])) for p in test]
            oracle[aspect] = selection_rouge(test, chosen, aspect)
            sizes[f"{aspect}_sentences"] = sum(map(len, chosen)) / len(chosen)
        return {"lead3": flatten(lead3),
                "lead_k": {**flatten(lead_k), **{f"{a}_k": float(k) for a, k in ks.items()}},
                "oracle": {**flatten(oracle), **sizes}}

    # ---- using a trained model ----------------------------------------------------------------

    def summarize(self, model: nn.Module, config: ExtractConfig, meta: Meta, text: str) -> dict[str, Any]:
        """The summary of one document per aspect: its k_a most likely sentences, in document order.

        Returns ``{"summary": text, "aspects": {aspect: text}, "sentences": [...], "chosen": {aspect: [indices]}}``.
        """
        model = cast(SentenceTagger, model)
        sentences = split_sentences(text)
        if not sentences:
            raise ValueError("extract: the document has no sentences to choose from; give it some text.")
        vocab = TokenVocab.from_dict(meta["vocab"])
        with torch.no_grad():
            probs = probabilities(model.eval(), [encode_sentences(sentences, vocab, config.max_words)])[0]  # (S, A)
        chosen = {aspect: top_k(probs[:, a], int(model.k[a])) for a, aspect in enumerate(meta["aspects"])}
        aspects = {aspect: " ".join(sentences[i] for i in idx) for aspect, idx in chosen.items()}
        return {"summary": "\n".join(f"{aspect}: {s}" for aspect, s in aspects.items()), "aspects": aspects,
                "sentences": sentences, "chosen": chosen,
                "probabilities": [[round(float(p), 4) for p in row] for row in probs]}

    def predict(self, model: nn.Module, config: ExtractConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        results = []
        for item in inputs:
            if not Path(item).is_file():
                raise FileNotFoundError(f"predict extract: no file {item}; pass plain-text files, one document each.")
            text = decode_utf8(Path(item).read_bytes(), item)
            results.append({"input": item, **self.summarize(model, config, meta, text)})
        return results

    def show(self, result: dict[str, Any]) -> str:
        """The summary per aspect, then the document with each chosen sentence marked by its aspects' initials."""
        if "chosen" not in result:
            return super().show(result)
        head = [f"== {result['input']}"] if "input" in result else []
        marks = {aspect: aspect[0].upper() for aspect in result["chosen"]}
        lines = [f"{aspect}: {text}" for aspect, text in result["aspects"].items()]
        lines.append("sentences chosen, marked " + ", ".join(f"{m} {a}" for a, m in marks.items()) + ":")
        for i, sentence in enumerate(result["sentences"]):
            tag = "".join(marks[a] if i in idx else "." for a, idx in result["chosen"].items())
            lines.append(f"  [{tag}] {i + 1:3d}  {sentence}")
        return "\n".join(head + lines)
