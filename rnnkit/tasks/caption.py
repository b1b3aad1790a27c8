"""Caption synthetic digit scenes (one-to-many): a small CNN reads the image, an RNN writes the sentence.

Data: rnnkit.tasks.caption_scenes, two real handwritten digits (MNIST by default) on a
32x32 canvas with a caption generated from exactly what was placed ("a large seven to the
left of a small two"). It is a synthetic scene task built from real images, not a
natural-image benchmark. Training scenes are composed afresh each epoch from jittered
training digits; validation and held-out scenes use two other sets of digit images.

    r_1..r_16 = CNN(image)               a 4x4 grid of region vectors, (B, 16, C)
    u = W flatten(r)                      the whole image as one vector, (B, F)
    caption ~ OneToMany(u)                the show-and-tell layout (attention="none"), or
    caption ~ Seq2Seq(r_1..r_16)          an RNN over the regions and attention on them (attention="additive", ...)

Measured on held-out scenes (new handwriting): BLEU (sacreBLEU, both true phrasings as
references) and the share of captions whose objects, sizes and relation are all true.
Target: >= 90% of captions state the right objects and relation; see docs/results.md for
what the defaults reach and how long they take on one CPU thread.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.models import OneToMany, OneToManyConfig, Seq2Seq, Seq2SeqConfig
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, pad_batch
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.tasks.caption_scenes import (
    CANVAS,
    SOURCES,
    DigitSource,
    Scene,
    caption_facts,
    compose,
    load_source,
    split_sources,
)
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args

ATTENTIONS = ("none", "additive", "dot", "general")


@dataclass(frozen=True)
class CaptionConfig:
    """Scene data, image encoder and caption decoder settings."""

    digits: str = field(default="mnist5k", metadata={"help": "source digits: mnist5k (5,000 MNIST images) or sklearn (1,797 8x8 digits)", "choices": list(SOURCES)})  # more handwriting generalises better
    augment: bool = field(default=True, metadata={"help": "compose fresh training scenes each epoch from jittered digits (position, scale, stroke weight)"})  # the gap was new handwriting, not the language
    num_train: int = field(default=8000, metadata={"help": "training scenes per epoch, composed from the training digit images"})  # enough to see every digit pair often
    num_dev: int = field(default=500, metadata={"help": "validation scenes from development digit images (neither training nor test)"})  # picks the best epoch on new handwriting
    num_test: int = field(default=500, metadata={"help": "held-out scenes from unseen digit images"})  # +-1.3% on a 90% fact accuracy
    channels: int = field(default=96, metadata={"help": "channels of the CNN's last layers (the region vector size)"})  # conv blocks of 24, 48, 96, 96
    feature_size: int = field(default=128, metadata={"help": "size of the image vector that conditions the decoder"})  # attention=none only
    embed_size: int = field(default=32, metadata={"help": "word embedding size"})  # 25 words need little
    hidden_size: int = field(default=128, metadata={"help": "LSTM hidden units of the decoder"})  # holds two objects and a relation
    attention: str = field(default="none", metadata={"help": "none (one image vector) or attention over the 16 regions", "choices": list(ATTENTIONS)})  # none: the classic one-to-many
    beam: int = field(default=1, metadata={"help": "beam width when evaluating (1 = greedy)"})  # greedy is enough for short captions
    batch_size: int = field(default=64, metadata={"help": "scenes per batch"})  # a CPU-friendly batch
    scene_seed: int = field(default=0, metadata={"help": "seed for composing scenes"})  # the same scenes on every run
    out_dir: str = field(default="runs/caption", metadata={"help": "directory for checkpoints, results and captioned images"})  # best.pt, last.pt


# the digits are learned last and settle while the cosine rate is small, so the schedule
# sets the length (patience 0: no early stop); the best validation epoch is still kept
TRAIN_DEFAULTS = TrainConfig(epochs=24, lr=3e-3, patience=0, max_minutes=20.0)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the recipe's flags (CaptionConfig, then the shared TrainConfig) to ``parser``."""
    add_dataclass_flags(parser, CaptionConfig)
    add_dataclass_flags(parser, TrainConfig)


# ---- model -----------------------------------------------------------------------------------


class ConvEncoder(nn.Module):
    """Three conv-batchnorm-ReLU-pool blocks and one more conv: (B, 1, 32, 32) -> regions (B, 16, C), a 4x4 grid in raster order.

    Batch norm is there because the only training signal is the caption loss far downstream;
    without it the encoder took many epochs to start telling digits apart. The last conv
    (no pooling) widens each region's view from 22 to 38 pixels, so every region vector sees
    a whole digit wherever it sits; with three blocks the digit had to be assembled by the
    position-specific projection, and large digits were misread as often as small ones.
    """

    def __init__(self, channels: int = 96) -> None:
        super().__init__()
        c = channels
        self.net = nn.Sequential(
            nn.Conv2d(1, c // 4, 3, padding=1), nn.BatchNorm2d(c // 4), nn.ReLU(), nn.MaxPool2d(2),  # (B, C/4, 16, 16)
            nn.Conv2d(c // 4, c // 2, 3, padding=1), nn.BatchNorm2d(c // 2), nn.ReLU(), nn.MaxPool2d(2),  # (B, C/2, 8, 8)
            nn.Conv2d(c // 2, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),  # (B, C, 4, 4)
            nn.Conv2d(c, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(),  # (B, C, 4, 4), receptive field 38 px
        )

    def forward(self, images: Tensor) -> Tensor:
        maps = self.net(images.unsqueeze(1))  # (B, C, 4, 4)
        return maps.flatten(2).transpose(1, 2)  # (B, 16, C)


class Captioner(nn.Module):
    """CNN encoder + recurrent decoder, with the ``forward(images, targets, lengths) -> (logits, loss)`` contract."""

    def __init__(self, config: CaptionConfig, vocab_size: int, bos_id: int, eos_id: int, max_length: int = 16) -> None:
        super().__init__()
        if config.attention not in ATTENTIONS:
            raise ValueError(f"Captioner: attention must be one of {ATTENTIONS}, got {config.attention!r}.")
        self.config = config
        self.encoder = ConvEncoder(config.channels)
        self.decoder: OneToMany | Seq2Seq
        if config.attention == "none":
            self.project = nn.Linear(16 * config.channels, config.feature_size)
            self.decoder = OneToMany(OneToManyConfig(
                vocab_size=vocab_size, input_size=config.feature_size, embed_size=config.embed_size,
                hidden_size=config.hidden_size, bos_id=bos_id, eos_id=eos_id, max_length=max_length))
        else:
            self.decoder = Seq2Seq(Seq2SeqConfig(
                vocab_size=vocab_size, input_size=config.channels, embed_size=config.embed_size,
                hidden_size=config.hidden_size, attention=config.attention, bos_id=bos_id, eos_id=eos_id,
                max_length=max_length))

    def _condition(self, images: Tensor) -> Tensor:
        if images.dim() != 3 or images.shape[1:] != (CANVAS, CANVAS) or not images.is_floating_point():
            raise ValueError(f"Captioner: expected float images (B, {CANVAS}, {CANVAS}), got {tuple(images.shape)} {images.dtype}.")
        regions = self.encoder(images)  # (B, 16, C)
        if isinstance(self.decoder, OneToMany):
            return torch.relu(self.project(regions.flatten(1)))  # (B, F)
        return regions

    def forward(self, images: Tensor, targets: Tensor | None = None, lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        u = self._condition(images)
        if isinstance(self.decoder, OneToMany):
            return self.decoder(u, targets, lengths=lengths)
        return self.decoder(u, targets, target_lengths=lengths)

    @torch.no_grad()
    def caption(self, images: Tensor, beam: int = 1) -> list[list[int]]:
        """Token ids of one caption per image (without the end token): greedy, or beam search if beam > 1."""
        self.eval()
        u = self._condition(images)
        eos = self.decoder.config.eos_id
        if beam > 1:
            best = self.decoder.beam_search(u, beam_width=beam)
            return [[t for t in hyps[0].tokens if t != eos] for hyps in best]
        if isinstance(self.decoder, OneToMany):
            tokens, lengths = self.decoder.generate(u, greedy=True)
        else:
            tokens, lengths, _ = self.decoder.generate(u, greedy=True)
        return [[t for t in row[: int(n)].tolist() if t != eos] for row, n in zip(tokens, lengths, strict=True)]


# ---- data ------------------------------------------------------------------------------------


@dataclass
class CaptionData:
    """The caption vocabulary, the digit images scenes are composed from, and the scenes of each split."""
    vocab: TokenVocab
    source: DigitSource
    train_pool: np.ndarray  # indices of the source images training scenes are composed from
    train: list[Scene]  # the first epoch's training scenes (later epochs compose fresh ones when augmenting)
    dev: list[Scene]  # validation scenes from development images
    test: list[Scene]  # held-out scenes from test images


def prepare_data(config: CaptionConfig) -> CaptionData:
    """Split the source digit images three ways, then compose training, validation and held-out scenes."""
    source = load_source(config.digits)
    train_pool, dev_pool, test_pool = split_sources(source.labels)
    train = compose(source, train_pool, config.num_train, config.scene_seed, augment=config.augment)
    dev = compose(source, dev_pool, config.num_dev, config.scene_seed + 2)
    test = compose(source, test_pool, config.num_test, config.scene_seed + 1)
    vocab = TokenVocab.build([canonical(s).split() for s in train], specials=(PAD, BOS, EOS, UNK))  # pad 0, bos 1, eos 2
    return CaptionData(vocab, source, train_pool, train, dev, test)


def canonical(scene: Scene) -> str:
    """The phrasing trained on: left/top item first.

    With a random phrasing the first digit named could be either one, and the decoder
    learned the grammar long before the digits.
    """
    return scene.captions()[0]


def batch(scenes: list[Scene], captions: list[str] | None, vocab: TokenVocab) -> tuple[Tensor, ...]:
    """Images (B, 32, 32), and with captions also targets (B, T) ending in eos, lengths (B,)."""
    images = torch.from_numpy(np.stack([s.image for s in scenes]))  # (B, 32, 32)
    if captions is None:
        return (images,)
    eos = vocab.stoi[EOS]
    targets, lengths = pad_batch([vocab.encode(c.split()) + [eos] for c in captions], vocab.pad_id)
    return images, targets, lengths


# ---- evaluation ------------------------------------------------------------------------------


def describe(model: Captioner, scenes: list[Scene], vocab: TokenVocab, beam: int = 1, batch_size: int = 128) -> list[str]:
    """A caption for each scene: greedy with ``beam=1``, else beam search of that width."""
    out: list[str] = []
    for i in range(0, len(scenes), batch_size):
        (images,) = batch(scenes[i : i + batch_size], None, vocab)
        out.extend(" ".join(vocab.decode(ids)) for ids in model.caption(images, beam))
    return out


def evaluate(model: Captioner, scenes: list[Scene], vocab: TokenVocab, beam: int = 1) -> dict[str, float]:
    """Fact accuracy (objects, sizes and relation all true), object and relation accuracy, and BLEU."""
    hyps = describe(model, scenes, vocab, beam)
    facts = [caption_facts(h) for h in hyps]
    exact = np.mean([f == s.fact() for f, s in zip(facts, scenes, strict=True)])
    digits = np.mean([f is not None and {f[0].digit, f[2].digit} == {s.first.digit, s.second.digit}
                      for f, s in zip(facts, scenes, strict=True)])
    relation = np.mean([f is not None and (f[0].digit, f[1], f[2].digit) == (s.first.digit, s.fact()[1], s.second.digit)
                        for f, s in zip(facts, scenes, strict=True)])
    metrics = {"fact_accuracy": float(exact), "digits_right": float(digits), "digits_and_relation_right": float(relation),
               "parsed": float(np.mean([f is not None for f in facts]))}
    try:
        import sacrebleu
    except ModuleNotFoundError:
        return metrics
    refs = [list(r) for r in zip(*(s.captions() for s in scenes), strict=True)]  # two reference streams
    metrics["bleu"] = float(sacrebleu.corpus_bleu(hyps, refs).score)
    return metrics


def render(scenes: list[Scene], captions: list[str], path: Path, columns: int = 4) -> Path:
    """A grid of scenes with their generated captions (a check mark when the fact is true)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(scenes) + columns - 1) // columns
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.0 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, scene, text in zip(axes.flat, scenes, captions, strict=False):
        ax.imshow(scene.image, cmap="gray_r", vmin=0, vmax=1)
        ok = caption_facts(text) == scene.fact()
        words = text.split()
        cut = len(words) // 2
        ax.set_title(f"{' '.join(words[:cut])}\n{' '.join(words[cut:])} {'(true)' if ok else '(WRONG)'}", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)
    plt.close(fig)
    return path


# ---- recipe ----------------------------------------------------------------------------------


def build_model(config: CaptionConfig, vocab: TokenVocab) -> Captioner:
    """A Captioner sized for ``config`` and ``vocab``, with the vocabulary's bos and eos ids."""
    return Captioner(config, len(vocab), vocab.stoi[BOS], vocab.stoi[EOS])


def cosine_lr(lr: float, epoch: int, epochs: int) -> float:
    """The rate for ``epoch`` (1-based): lr * (1 + cos(pi * (epoch - 1) / epochs)) / 2, from lr down towards 0."""
    return lr * 0.5 * (1.0 + math.cos(math.pi * (epoch - 1) / max(epochs, 1)))


def train(model: Captioner, data: CaptionData, config: CaptionConfig, train_config: TrainConfig,
          out_dir: Path | None) -> Any:
    """Fit on training scenes (fresh ones each epoch when augmenting); validation scenes use development images.

    The learning rate follows a cosine over the epochs: the last epochs, at a small rate,
    are where the digit reading of new handwriting settles.
    """
    generator = torch.Generator().manual_seed(train_config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)

    def batches(epoch: int) -> list[tuple[Tensor, ...]]:
        for group in optimizer.param_groups:
            group["lr"] = cosine_lr(train_config.lr, epoch, train_config.epochs)
        scenes = data.train
        if config.augment and epoch > 1:
            scenes = compose(data.source, data.train_pool, config.num_train, config.scene_seed + 1000 * epoch, augment=True)
        order = torch.randperm(len(scenes), generator=generator).tolist()
        chunks = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        return [batch([scenes[i] for i in c], [canonical(scenes[i]) for i in c], data.vocab) for c in chunks]

    def checkpoint(m: nn.Module, info: dict[str, Any]) -> dict[str, Any]:
        return {"task": "caption", "config": asdict(config), "vocab": data.vocab.to_dict(), "model": m.state_dict(), **info}

    return fit(model, batches, train_config, evaluate=lambda m: evaluate(m, data.dev, data.vocab),  # type: ignore[arg-type]
               monitor="fact_accuracy", checkpoint=checkpoint if out_dir else None, out_dir=out_dir, optimizer=optimizer)


def run(args: argparse.Namespace) -> int:
    """``rnnkit recipe caption``: prepare the scenes, train, report the test metrics and write example captions; returns the exit code."""
    config = dataclass_from_args(CaptionConfig, args)
    train_config = dataclass_from_args(TrainConfig, args, **{k: v for k, v in asdict(TRAIN_DEFAULTS).items()
                                                              if getattr(args, k, None) is None})
    print(f"caption: {config}\n{train_config}")
    torch.manual_seed(train_config.seed)
    data = prepare_data(config)
    model = build_model(config, data.vocab)
    out = Path(config.out_dir)
    result = train(model, data, config, train_config, out)
    start = time.perf_counter()
    metrics = evaluate(model, data.test, data.vocab, config.beam)
    shown = data.test[:8]
    image = render(shown, describe(model, shown, data.vocab, config.beam), out / "captions.png")
    summary = {"config": asdict(config), "train_config": asdict(train_config), "test": metrics,
               "train_seconds": result.seconds, "epochs": result.epochs_run, "stopped": result.stopped_because,
               "eval_seconds": time.perf_counter() - start}
    (out / "results.json").write_text(json.dumps(summary, indent=2))
    print(f"held-out scenes ({len(data.test)}): " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()))
    print(f"trained {result.seconds:.0f}s ({result.epochs_run} epochs, {result.stopped_because}); "
          f"captioned examples in {image}")
    return 0


def load(checkpoint: dict[str, Any]) -> tuple[Captioner, TokenVocab, CaptionConfig]:
    """The model (weights loaded), vocabulary and config stored in a caption checkpoint."""
    config = CaptionConfig(**checkpoint["config"])
    vocab = TokenVocab.from_dict(checkpoint["vocab"])
    model = build_model(config, vocab)
    model.load_state_dict(checkpoint["model"])
    return model.eval(), vocab, config


def predict(checkpoint: dict[str, Any], inputs: list[str], args: argparse.Namespace) -> int:
    """Caption image files (.npy arrays or .png images of 32x32, dark-on-light or light-on-dark)."""
    model, vocab, config = load(checkpoint)
    if not inputs:
        raise ValueError("caption: pass one or more image files (.npy or .png, 32x32).")
    for name in inputs:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"caption: no image file {path}.")
        array = np.load(path) if path.suffix == ".npy" else _read_png(path)
        if array.shape != (CANVAS, CANVAS):
            raise ValueError(f"caption: {path} is {array.shape}; the model reads {CANVAS}x{CANVAS} grey images.")
        image = array.astype(np.float32)
        image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
        if image.mean() > 0.5:
            image = 1.0 - image  # the model was trained on light digits on a dark canvas
        ids = model.caption(torch.from_numpy(image)[None], config.beam)[0]
        print(f"{path}: {' '.join(vocab.decode(ids))}")
    return 0


def _read_png(path: Path) -> np.ndarray:
    import matplotlib.image

    array = matplotlib.image.imread(str(path))
    return array[..., :3].mean(axis=2) if array.ndim == 3 else array


def generate(checkpoint: dict[str, Any], args: argparse.Namespace) -> int:
    """Compose ``--num`` new scenes from held-out digit images, caption them, save a captioned grid."""
    model, vocab, config = load(checkpoint)
    source = load_source(config.digits)
    _, _, test_pool = split_sources(source.labels)
    scenes = compose(source, test_pool, args.num, 10_000 + args.seed)
    captions = describe(model, scenes, vocab, config.beam)
    for s, c in zip(scenes, captions, strict=True):
        print(f"{c}   (placed: {s.captions()[0]})")
    out = Path(args.out or config.out_dir)
    print(f"saved {render(scenes, captions, out / f'generated-{args.seed}.png')}")
    return 0
