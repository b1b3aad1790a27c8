"""Summarise manual pages: a pointer-generator with coverage writes the NAME line from the DESCRIPTION.

    x = words of DESCRIPTION (first max_source_tokens)     source, one shared word vocabulary
    y ~ PointerGenerator(x)                                 rnnkit.models.pointer: Seq2Seq + copying + coverage
    ROUGE-1/2/L (rouge-score) of y against the NAME summary on the held-out pages

    rnnkit recipe summarize                      # Debian's manpages + manpages-dev, via apt-get download
    rnnkit summarize runs/summarize /usr/share/man/man1/ls.1.gz

In the same run: the lead baseline (the first k words of DESCRIPTION, k chosen on validation)
and the same model without copying (``--no-copy``, trained after the main model in
``runs/summarize/no-copy``; ``--no-compare`` skips it). Target: ROUGE-L at least 5 points above
lead, and copying above no copying. Figures measured: docs/results.md.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models.pointer import PointerGenerator, PointerGeneratorConfig
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.rouge import rouge
from rnnkit.recipes.runner import run_dir, run_recipe
from rnnkit.recipes.summarize import data as sd
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, bucket_batches, pad_batch, tokenize
from rnnkit.utils.config import option

SPECIALS = (PAD, UNK, BOS, EOS)  # ids 0..3


@dataclass(frozen=True)
class SummarizeConfig(RecipeConfig):
    """Data, vocabulary, model, decoding and training settings of the man-page summariser."""

    # tests use a tiny folder
    pages: str | None = option(None, "a folder of your own man pages (roff, .gz or not) instead of Debian's")
    # the summary is nearly always in the first paragraph; the median page has 190
    max_source_tokens: int = option(100, "DESCRIPTION is cut to this many words")
    max_summary_tokens: int = option(16, "longest summary decoded (and trained on)")  # NAME summaries average 5.6 words
    vocab_size: int = option(5000, "words in the shared vocabulary, most frequent first (the rest are <unk>, copyable)")
    # a word seen once cannot be learnt as a word
    min_freq: int = option(2, "a word needs this many training occurrences to enter the vocabulary")
    embed_size: int = option(128, "word embedding size (encoder and decoder)")
    hidden_size: int = option(128, "hidden units per encoder direction and of the decoder")  # CPU budget
    dropout: float = option(0.3, "dropout on embeddings and before the output")  # 900 training pages overfit fast
    copy: bool = option(True, "pointer-generator copying (--no-copy: the plain attentional model)")
    coverage: bool = option(True, "coverage in the attention and the coverage loss")
    coverage_weight: float = option(1.0, "weight of the coverage loss")  # See et al.
    beam: int = option(4, "beam width for the test summaries and `rnnkit summarize` (1 = greedy)")  # See et al.'s width
    compare: bool = option(True, "also train the model without copying (in OUT/no-copy), as a baseline of the same run")
    max_lead: int = option(30, "the lead baseline tries k = 1..max_lead words on validation")
    batch_size: int = option(16, "pages per batch (bucketed by length)")
    epochs: int = option(40, "passes over the training pages (at most)")
    # ROUGE on 110 pages is noisy
    patience: int = option(6, "stop after this many epochs without a better validation ROUGE-L")
    # per model: an epoch took about 7 s of one core here, so 40 fit on a quiet machine; on a busy one the cap binds
    max_minutes: float | None = option(7.0, "stop each model after this much wall time")
    out: str = option("runs/summarize", "run directory: best.pt, results.json, test-summaries.tsv, no-copy/")


@dataclass
class Example:
    """A page as ids: the source in the vocabulary and in the extended vocabulary, the target, the source's own
    words."""

    source: list[int]  # vocabulary ids, unknown words as <unk>
    source_ext: list[int]  # extended ids: the k-th distinct unknown word of this source is V + k
    target: list[int]  # extended ids (copy) or vocabulary ids (no copy), ending in <eos>
    oovs: list[str]  # the unknown words of the source, in order of their extended ids


@dataclass
class SummarizeData:
    """The pages of each split, the vocabulary, the examples, the shuffling generator, the decoded test summaries."""

    splits: dict[str, list[sd.Pair]]
    vocab: TokenVocab
    examples: dict[str, list[Example]]
    generator: torch.Generator
    outputs: dict[str, list[str]] = field(default_factory=dict)


# ---- text to ids and back -----------------------------------------------------------------------


def source_words(text: str, max_tokens: int) -> list[str]:
    """The words of a source text the model reads (lower-cased words and punctuation, the first ``max_tokens``)."""
    return tokenize(text)[:max_tokens] or [UNK]


def make_example(source: list[str], summary: list[str] | None, vocab: TokenVocab, copy: bool) -> Example:
    """Ids of one page; a target word outside the vocabulary is an extended id if the source has it (and we copy), else
    <unk>."""
    V, unk = len(vocab), vocab.unk_id
    oovs: list[str] = []
    ext = []
    for word in source:
        if word in vocab:
            ext.append(vocab.stoi[word])
        else:
            if word not in oovs:
                oovs.append(word)
            ext.append(V + oovs.index(word))
    target: list[int] = []
    for word in summary or []:
        if word in vocab:
            target.append(vocab.stoi[word])
        else:
            target.append(V + oovs.index(word) if copy and word in oovs else unk)
    return Example(vocab.encode(source), ext, [*target, vocab.stoi[EOS]], oovs)


def make_batch(examples: Sequence[Example], copy: bool) -> dict[str, Tensor]:
    """inputs, source_ext, lengths, targets, target_lengths of a batch."""
    inputs, lengths = pad_batch([e.source for e in examples])
    source_ext, _ = pad_batch([e.source_ext if copy else e.source for e in examples])
    targets, target_lengths = pad_batch([e.target for e in examples])
    return {"inputs": inputs, "source_ext": source_ext, "lengths": lengths, "targets": targets,
            "target_lengths": target_lengths}


def words_of(tokens: Sequence[int], oovs: Sequence[str], vocab: TokenVocab) -> list[str]:
    """The words of decoded ids up to <eos>; an extended id is its source word; <unk> is left out."""
    words = []
    for i in tokens:
        if i == vocab.stoi[EOS]:
            break
        word = vocab.itos[i] if i < len(vocab) else oovs[i - len(vocab)]
        if word not in SPECIALS:
            words.append(word)
    return words


@torch.no_grad()
def summarise_examples(model: PointerGenerator, examples: Sequence[Example], vocab: TokenVocab, beam: int,
                       max_tokens: int, batch_size: int = 32) -> list[list[str]]:
    """The summary words of each example by beam search (beam 1: greedy), ``batch_size`` at a time."""
    model.eval()
    copy = model.pg_config.copy
    out: list[list[str]] = []
    for i in range(0, len(examples), batch_size):
        chunk = examples[i : i + batch_size]
        batch = make_batch(chunk, copy)
        if beam == 1:
            tokens, _ = model.greedy(batch["inputs"], batch["lengths"], max_tokens + 1, batch["source_ext"])
            rows = tokens.tolist()
        else:
            hyps = model.beam_search(batch["inputs"], batch["lengths"], beam_width=beam, max_length=max_tokens + 1,
                                     source_ext=batch["source_ext"])
            rows = [h[0].tokens for h in hyps]
        out.extend(words_of(row, e.oovs, vocab) for row, e in zip(rows, chunk, strict=True))
    return out


def lead(description: str, k: int) -> str:
    """The lead baseline: the first ``k`` words of DESCRIPTION."""
    return " ".join(description.split()[:k])


def best_lead(pairs: Sequence[sd.Pair], max_k: int) -> int:
    """The k of 1..max_k whose lead has the highest mean ROUGE-L on ``pairs`` (the smallest on a tie)."""
    refs = [p.summary for p in pairs]
    scores = {k: rouge(refs, [lead(p.description, k) for p in pairs])["rougeL"] for k in range(1, max_k + 1)}
    return max(scores, key=lambda k: (scores[k], -k))


# ---- recipe -------------------------------------------------------------------------------------


class SummarizeRecipe(Recipe[SummarizeConfig, SummarizeData]):
    """Summarise manual pages: a pointer-generator with coverage writes the NAME line from DESCRIPTION; ROUGE against
    lead."""

    name = "summarize"
    config_class = SummarizeConfig
    monitor = "rougeL"
    inputs = "man pages (roff, .gz ok) or plain-text files, or text"

    def prepare_data(self, config: SummarizeConfig) -> SummarizeData:
        """Read the pages, split them (seeded), build the vocabulary from the training split."""
        corpus = sd.load_folder(config.pages) if config.pages else sd.load_debian()
        print(f"summarize: {len(corpus.pairs)} pages with NAME and DESCRIPTION; {len(corpus.pointers)} pointers (.so) "
              f"dropped; {len(corpus.skipped)} skipped"
              + "".join(f"\n  skipped {why}" for why in list(corpus.skipped.values())[:5]))
        splits = sd.split(corpus.pairs, config.seed)
        train_words = [source_words(p.description, config.max_source_tokens) + tokenize(p.summary)
                       for p in splits["train"]]
        vocab = TokenVocab.build(train_words, min_freq=config.min_freq, max_size=config.vocab_size, specials=SPECIALS)
        examples = {name: self.examples(config, vocab, pairs) for name, pairs in splits.items()}
        print(f"summarize: {', '.join(f'{len(v)} {k}' for k, v in splits.items())} pages; vocabulary {len(vocab)} "
              "words")
        return SummarizeData(splits, vocab, examples, torch.Generator().manual_seed(config.seed))

    @staticmethod
    def examples(config: SummarizeConfig, vocab: TokenVocab, pairs: Sequence[sd.Pair]) -> list[Example]:
        """The pages as ids: DESCRIPTION cut to max_source_tokens, the summary to max_summary_tokens."""
        return [make_example(source_words(p.description, config.max_source_tokens),
                             tokenize(p.summary)[: config.max_summary_tokens], vocab, config.copy) for p in pairs]

    def describe(self, data: SummarizeData) -> Meta:
        return {"vocab": data.vocab.to_dict(), "pages": {k: len(v) for k, v in data.splits.items()}}

    def build_model(self, config: SummarizeConfig, meta: Meta) -> nn.Module:
        V = len(meta["vocab"]["itos"])
        return PointerGenerator(PointerGeneratorConfig(
            vocab_size=V, input_vocab_size=V, input_size=config.embed_size, embed_size=config.embed_size,
            hidden_size=config.hidden_size, dropout=config.dropout, attention="additive", bos_id=SPECIALS.index(BOS),
            eos_id=SPECIALS.index(EOS), unk_id=SPECIALS.index(UNK), max_length=config.max_summary_tokens + 1,
            copy=config.copy, coverage=config.coverage, coverage_weight=config.coverage_weight,
        ))

    def generators(self, data: SummarizeData) -> list[torch.Generator]:
        return [data.generator]

    def batches(self, config: SummarizeConfig, data: SummarizeData, epoch: int) -> Iterator[dict[str, Tensor]]:
        train = data.examples["train"]
        for idx in bucket_batches([len(e.source) for e in train], config.batch_size, generator=data.generator):
            yield make_batch([train[i] for i in idx], config.copy)

    def evaluate(self, model: nn.Module, config: SummarizeConfig, data: SummarizeData, split: str) -> dict[str, float]:
        """ROUGE-1/2/L (x100) of the summaries: greedy on validation (each epoch), beam search on test."""
        assert isinstance(model, PointerGenerator)
        beam = config.beam if split == "test" else 1
        words = summarise_examples(model, data.examples[split], data.vocab, beam, config.max_summary_tokens)
        summaries = [" ".join(w) for w in words]
        data.outputs[split] = summaries
        return rouge([p.summary for p in data.splits[split]], summaries)

    def baselines(self, config: SummarizeConfig, data: SummarizeData) -> dict[str, dict[str, float]]:
        """Lead-k (k chosen on validation) and, with --compare, the same model trained without copying."""
        k = best_lead(data.splits["dev"], config.max_lead)
        test = data.splits["test"]
        out = {"lead": {"k": float(k), **rouge([p.summary for p in test], [lead(p.description, k) for p in test])}}
        if config.copy and config.compare:
            other = dataclasses.replace(config, copy=False, compare=False, out=str(run_dir(self, config) / "no-copy"))
            summary = run_recipe(self, other)
            out["no_copy"] = {**summary["test"], "train_seconds": summary["train_seconds"]}
        return out

    def report(self, model: nn.Module, config: SummarizeConfig, data: SummarizeData, out: Path) -> list[Path]:
        """test-summaries.tsv: page, reference, the model's summary; three printed."""
        test = data.splits["test"]
        made = data.outputs.get("test", [])
        lines = ["page\treference\tsummary", *(f"{p.page}\t{p.summary}\t{s}" for p, s in zip(test, made, strict=False))]
        (out / "test-summaries.tsv").write_text("\n".join(lines) + "\n")
        for p, s in list(zip(test, made, strict=False))[:3]:
            print(f"  {p.page}: {s}\n     (NAME: {p.summary})")
        return []

    # ---- use ------------------------------------------------------------------------------------

    def summarize(self, model: nn.Module, config: SummarizeConfig, meta: Meta, text: str) -> dict[str, Any]:
        """The summary of ``text`` (plain text: a DESCRIPTION, a paragraph), with the words it copied from outside
        the vocabulary."""
        assert isinstance(model, PointerGenerator)
        vocab = TokenVocab.from_dict(meta["vocab"])
        example = make_example(source_words(text, config.max_source_tokens), None, vocab, config.copy)
        words = summarise_examples(model, [example], vocab, config.beam, config.max_summary_tokens)[0]
        return {"summary": " ".join(words), "copied": [w for w in words if w in example.oovs]}

    def predict(self, model: nn.Module, config: SummarizeConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        """Summarise each input: a file (man page or plain text) if one is there by that name, else the text itself."""
        results = []
        for item in inputs:
            text = sd.read_document(item) if Path(item).is_file() else item
            results.append({"input": item, **self.summarize(model, config, meta, text)})
        return results

    def show(self, result: dict[str, Any]) -> str:
        return f"{result['input']}: {result['summary']}" if "input" in result else str(result["summary"])
