"""Translate sentences (or map any text pairs) with an attentional encoder-decoder.

    x_1..x_S = BPE(source)                  subword ids, tokenizer trained on the training split
    y_1..y_T ~ Seq2Seq(x)                   bidirectional LSTM encoder, LSTM decoder, Bahdanau scores
    output = detokenise(beam_search(x))     scored with sacreBLEU on detokenised text

Data: ``--data-dir`` with Multi30k-style files and ``--direction de-en`` (or en-de), or
``--source``/``--target`` line-aligned files, or ``--tsv`` pairs. Validation loss picks the
best epoch; BLEU is computed at the end on the test split (or validation when there is none),
beside the BLEU of copying the source unchanged (the baseline a model must beat). The same
recipe serves any paired text task (replies, summaries).

Target: Multi30k de->en BLEU >= 25 in about an hour on a 2-core CPU (measured runs: docs/results.md).

    rnnkit recipe translate --data-dir multi30k --direction de-en
    rnnkit translate runs/translate "Ein Hund läuft im Schnee." --beam 5
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnkit.models import Seq2Seq, Seq2SeqConfig
from rnnkit.recipes.captioning import corpus_bleu
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.text import bucket_batches, pad_batch
from rnnkit.recipes.translate import data as td
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure


@dataclass(frozen=True)
class TranslateConfig(RecipeConfig):
    """Data, vocabulary, model, decoding and training settings of the translate recipe."""

    data_dir: str | None = option(None, "folder with train.<lang>[.gz], val.<lang>, test.<lang> (Multi30k layout)")
    direction: str = option("de-en", "SRC-TGT language suffixes used with --data-dir")
    source: str | None = option(None, "training source file, line-aligned with --target")
    target: str | None = option(None, "training target file")
    tsv: str | None = option(None, "training pairs as source<TAB>target lines")
    max_pairs: int | None = option(None, "use at most this many training pairs (quick runs)")
    vocab_size: int = option(6000, "BPE vocabulary size of each side")  # Multi30k is small: 6k subwords cover it
    max_tokens: int = option(60, "sentences are cut to this many subwords")  # longer than almost every Multi30k caption
    embed_size: int = option(256, "subword embedding size (source and target)")  # standard small-NMT size
    hidden_size: int = option(256, "hidden units per encoder direction and of the decoder")  # CPU budget
    num_layers: int = option(1, "layers of encoder and decoder")  # one layer trains fastest per BLEU point here
    attention: str = option("additive", "additive (Bahdanau), dot, general (Luong) or none",
                            choices=["additive", "dot", "general", "none"])
    # small data overfits without it
    dropout: float = option(0.3, "dropout on embeddings, between layers and before the output")
    batch_size: int = option(64, "sentence pairs per batch (bucketed by length)")
    beam: int = option(5, "beam width for the final BLEU and for predict (1 = greedy)")
    eval_sentences: int | None = option(None, "score BLEU on at most this many test sentences")
    show: int = option(3, "attention heatmaps for this many test sentences")
    epochs: int = option(15, "passes over the training set (at most)")
    patience: int = option(2, "stop after this many epochs without a better validation loss")
    max_minutes: float | None = option(60.0, "stop after this much wall time (checked after each step)")
    out: str = option("runs/translate", "run directory: best.pt, last.pt, results.json, test-output.txt, heatmaps")


@dataclass
class TranslateData:
    """The source and target subword tokenizers, the sentence pairs of each split, and the shuffling generator."""

    source_tok: Any  # tokenizers.Tokenizer
    target_tok: Any
    splits: dict[str, td.Pairs]  # train, dev, test
    generator: torch.Generator  # draws the batch order of every epoch in turn (kept in last.pt for an exact resume)
    outputs: dict[str, list[str]] = field(default_factory=dict)  # the test translations, once evaluate made them


def load_pairs(config: TranslateConfig) -> dict[str, td.Pairs]:
    """Training pairs (and val/test when the source provides them) from exactly one kind of input."""
    given = [name for name, v in (("--data-dir", config.data_dir),
                                  ("--source/--target", config.source or config.target), ("--tsv", config.tsv)) if v]
    if len(given) != 1:
        raise ValueError(
            f"translate: give exactly one data source, got {given or 'none'}: --data-dir FOLDER --direction de-en, "
            "--source FILE --target FILE (line-aligned), or --tsv FILE."
        )
    if config.data_dir:
        src, _, tgt = config.direction.partition("-")
        if not src or not tgt:
            raise ValueError(f"translate: --direction must look like 'de-en', got {config.direction!r}.")
        return td.read_folder(config.data_dir, src, tgt)
    if config.tsv:
        return {"train": td.read_tsv(config.tsv)}
    if not (config.source and config.target):
        raise ValueError("translate: --source and --target go together; pass both line-aligned files.")
    return {"train": td.read_parallel(config.source, config.target)}


def source_batch(source_tok: Any, sentences: list[str], max_tokens: int) -> tuple[Tensor, Tensor]:
    """Source subword ids (B, S) and lengths (B,); an all-unknown line still has one token, <unk>."""
    return pad_batch([s or [td.SPECIALS.index(td.UNK)] for s in td.encode(source_tok, sentences, max_tokens)])


def make_batch(pairs: td.Pairs, source_tok: Any, target_tok: Any, max_tokens: int) -> dict[str, Tensor]:
    """inputs (B, S), lengths (B,), targets (B, T) ending in <eos>, target_lengths (B,)."""
    inputs, lengths = source_batch(source_tok, [s for s, _ in pairs], max_tokens)
    tgt = td.encode(target_tok, [t for _, t in pairs], max_tokens - 1)
    targets, target_lengths = pad_batch([t + [td.SPECIALS.index(td.EOS)] for t in tgt])
    return {"inputs": inputs, "lengths": lengths, "targets": targets, "target_lengths": target_lengths}


def build_seq2seq(config: TranslateConfig, source_vocab: int, target_vocab: int) -> Seq2Seq:
    """A bidirectional attentional encoder-decoder sized for ``config`` and the two subword vocabularies."""
    return Seq2Seq(Seq2SeqConfig(
        vocab_size=target_vocab, input_vocab_size=source_vocab, input_size=config.embed_size,
        embed_size=config.embed_size, hidden_size=config.hidden_size, num_layers=config.num_layers,
        bidirectional=True, dropout=config.dropout, attention=config.attention,
        bos_id=td.SPECIALS.index(td.BOS), eos_id=td.SPECIALS.index(td.EOS), max_length=config.max_tokens + 10,
    ))


@torch.no_grad()
def translate_sentences(model: Seq2Seq, source_tok: Any, target_tok: Any, sentences: list[str], beam: int = 5,
                        max_tokens: int = 60, batch_size: int = 50) -> list[str]:
    """Detokenised translations, by beam search (beam > 1) or greedy decoding, ``batch_size`` sentences at a time.

    A batch stops at twice its longest source plus 10 subwords, so a sentence's output can depend on
    its neighbours when it runs that long; ``translate_one`` decodes a sentence on its own.
    """
    model.eval()
    out: list[str] = []
    for i in range(0, len(sentences), batch_size):
        inputs, lengths = source_batch(source_tok, sentences[i : i + batch_size], max_tokens)
        out.extend(td.decode(target_tok, tokens) for tokens in decode_ids(model, inputs, lengths, beam))
    return out


def decode_ids(model: Seq2Seq, inputs: Tensor, lengths: Tensor, beam: int) -> list[list[int]]:
    """The output subword ids of each source in the batch: the best of a beam search (beam > 1), or greedy."""
    limit = min(model.config.max_length, 2 * int(lengths.max()) + 10)  # translations are rarely twice as long
    if beam > 1:
        return [hyps[0].tokens for hyps in model.beam_search(inputs, lengths, beam_width=beam, max_length=limit)]
    tokens, counts, _ = model.generate(inputs, lengths, max_length=limit)
    return [row[: int(n)].tolist() for row, n in zip(tokens, counts, strict=True)]


@torch.no_grad()
def translate_one(model: Seq2Seq, source_tok: Any, target_tok: Any, sentence: str, beam: int,
                  max_tokens: int) -> dict[str, Any]:
    """One sentence decoded on its own (as ``translate_sentences`` with a batch of one), with its attention:
    for every output subword, its weights over the source subwords (the decoder run on its own output)."""
    model.eval()
    inputs, lengths = source_batch(source_tok, [sentence], max_tokens)
    tokens = decode_ids(model, inputs, lengths, beam)[0]
    out: dict[str, Any] = {"source": sentence, "translation": td.decode(target_tok, tokens), "attention": None}
    if model.attention is not None and tokens:
        # (1, T, S)
        _, weights, _ = model.decode(model.encode(inputs, lengths), torch.tensor([[model.config.bos_id, *tokens[:-1]]]))
        assert weights is not None
        out["attention"] = {"source": [source_tok.id_to_token(i) for i in inputs[0].tolist()],
                            "target": [target_tok.id_to_token(i) for i in tokens],
                            "weights": [[round(float(w), 5) for w in row] for row in weights[0]]}
    return out


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Corpus BLEU (sacreBLEU's defaults) on detokenised text, one reference each."""
    return corpus_bleu(hypotheses, [[r] for r in references])


def heatmap(model: Seq2Seq, data: TranslateData, sentence: str, path: Path, max_tokens: int = 60) -> Path:
    """Plot the attention weights of the greedy translation of one sentence (target rows, source columns)."""
    model.eval()
    src = td.encode(data.source_tok, [sentence], max_tokens)[0]
    inputs, lengths = pad_batch([src])
    tokens, n, weights = model.generate(inputs, lengths, max_length=2 * len(src) + 10)
    if weights is None:
        raise ValueError("translate: a model without attention has no attention map; train with --attention additive.")
    out = tokens[0, : int(n[0])].tolist()
    with figure(path, size=(0.45 * len(src) + 2, 0.4 * len(out) + 1.5), dpi=70) as (_, ax):
        ax.imshow(weights[0, : len(out), : len(src)].numpy(), cmap="viridis", aspect="auto")
        ax.set_xticks(range(len(src)), [data.source_tok.id_to_token(i) for i in src], rotation=60, ha="right",
                      fontsize=8)
        ax.set_yticks(range(len(out)), [data.target_tok.id_to_token(i) for i in out], fontsize=8)
        ax.set_title(td.decode(data.target_tok, out), fontsize=8)
    return path


class TranslateRecipe(Recipe[TranslateConfig, TranslateData]):
    """Translate sentences (or map any text pairs) with an attentional encoder-decoder; BLEU against copying the
    source."""

    name = "translate"
    config_class = TranslateConfig
    monitor = "loss"
    mode = "min"
    inputs = "sentences in the source language, or one file with a sentence per line"

    def prepare_data(self, config: TranslateConfig) -> TranslateData:
        """Read the pairs, hold out validation/test from training when missing, train both tokenizers."""
        splits = load_pairs(config)
        train = splits["train"][: config.max_pairs]
        if "val" not in splits:
            n = max(1, len(train) // 20)  # 5% of training, taken from the end
            if len(train) - n < 1:
                raise ValueError(f"translate: {len(train)} pair(s) are too few to hold out a validation set.")
            train, splits["val"] = train[:-n], train[-n:]
        test = splits.get("test", splits["val"])
        source_tok = td.train_tokenizer([s for s, _ in train], config.vocab_size)
        target_tok = td.train_tokenizer([t for _, t in train], config.vocab_size)
        print(f"{len(train)} training, {len(splits['val'])} validation, {len(test)} test pairs; "
              f"vocabularies {source_tok.get_vocab_size()} / {target_tok.get_vocab_size()}")
        return TranslateData(source_tok, target_tok, {"train": train, "dev": splits["val"], "test": test},
                             torch.Generator().manual_seed(config.seed))

    def describe(self, data: TranslateData) -> Meta:
        return {"source_tokenizer": data.source_tok.to_str(), "target_tokenizer": data.target_tok.to_str()}

    def build_model(self, config: TranslateConfig, meta: Meta) -> nn.Module:
        source, target = tokenizers(meta)
        return build_seq2seq(config, source.get_vocab_size(), target.get_vocab_size())

    def generators(self, data: TranslateData) -> list[torch.Generator]:
        return [data.generator]

    def batches(self, config: TranslateConfig, data: TranslateData, epoch: int) -> Iterator[dict[str, Tensor]]:
        train = data.splits["train"]
        for idx in bucket_batches([len(s) for s, _ in train], config.batch_size, generator=data.generator):
            yield make_batch([train[i] for i in idx], data.source_tok, data.target_tok, config.max_tokens)

    def evaluate(self, model: nn.Module, config: TranslateConfig, data: TranslateData, split: str) -> dict[str, float]:
        """Loss per target subword; on the test split also BLEU (per epoch it would cost more than the epoch)."""
        model = self.model_as(model, Seq2Seq)
        pairs = data.splits[split]
        total, count = 0.0, 0
        for idx in bucket_batches([len(s) for s, _ in pairs], 128, shuffle=False):
            batch = make_batch([pairs[i] for i in idx], data.source_tok, data.target_tok, config.max_tokens)
            _, loss = model(**batch)
            assert loss is not None
            n = int(batch["target_lengths"].sum())
            total, count = total + float(loss) * n, count + n
        metrics = {"loss": total / max(count, 1)}  # per target subword
        if split == "test":
            test = pairs[: config.eval_sentences]
            data.outputs["test"] = hyps = translate_sentences(model, data.source_tok, data.target_tok,
                                                              [s for s, _ in test], config.beam, config.max_tokens)
            metrics["bleu"] = bleu(hyps, [t for _, t in test])
        return metrics

    def baselines(self, config: TranslateConfig, data: TranslateData) -> dict[str, dict[str, float]]:
        """Copying the source sentence unchanged: what a model scores that has learnt nothing but shared words."""
        test = data.splits["test"][: config.eval_sentences]
        return {"copy the source": {"bleu": bleu([s for s, _ in test], [t for _, t in test])}}

    def report(self, model: nn.Module, config: TranslateConfig, data: TranslateData, out: Path) -> list[Path]:
        """test-output.txt (one translation per test sentence), three examples printed, attention heatmaps."""
        model = self.model_as(model, Seq2Seq)
        test = data.splits["test"][: config.eval_sentences]
        hyps = data.outputs.get("test") or translate_sentences(
            model, data.source_tok, data.target_tok, [s for s, _ in test], config.beam, config.max_tokens)
        (out / "test-output.txt").write_text("\n".join(hyps) + "\n")
        for (s, t), h in list(zip(test, hyps, strict=True))[:3]:
            print(f"  {s}\n  -> {h}\n     ({t})")
        if config.attention == "none":
            return []
        return [heatmap(model, data, s, out / f"attention-{i}.png", config.max_tokens)
                for i, (s, _) in enumerate(test[: config.show])]

    def translate(self, model: nn.Module, config: TranslateConfig, meta: Meta, sentences: Sequence[str],
                  beam: int) -> list[dict[str, Any]]:
        """Each sentence translated on its own (``rnnkit translate RUN "..." --beam N``), with its attention."""
        model = self.model_as(model, Seq2Seq)
        if beam < 1:
            raise ValueError(f"translate: --beam must be >= 1, got {beam}.")
        source, target = tokenizers(meta)
        return [translate_one(model, source, target, s, beam, config.max_tokens) for s in sentences]

    def predict(self, model: nn.Module, config: TranslateConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        """Translate the sentences given, or every line of a file given as the only input (beam: the config's)."""
        sentences = list(inputs)
        if len(sentences) == 1 and Path(sentences[0]).is_file():
            sentences = [line for line in td.read_lines(sentences[0]) if line.strip()]
        if not sentences:
            raise ValueError("translate: nothing to translate; pass sentences or a file with one per line.")
        return self.translate(model, config, meta, sentences, config.beam)

    def show(self, result: dict[str, Any]) -> str:
        return str(result["translation"])

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: the tokenizers stood beside the config."""
        return self.upgraded(checkpoint, {k: checkpoint[k] for k in ("source_tokenizer", "target_tokenizer")})


def tokenizers(meta: Meta) -> tuple[Any, Any]:
    """The (source, target) tokenizers stored in a checkpoint's meta."""
    return td.tokenizer_from_str(meta["source_tokenizer"]), td.tokenizer_from_str(meta["target_tokenizer"])
