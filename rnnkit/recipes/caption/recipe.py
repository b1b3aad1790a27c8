"""Caption synthetic digit scenes (one-to-many): a small CNN reads the image, an RNN writes the sentence.

Data (scenes.py): two real handwritten digits (MNIST by default) on a 32x32 canvas, captioned
from exactly what was placed ("a large seven to the left of a small two"): a synthetic scene
task built from real images, not a natural-image benchmark.

    r_1..r_16 = CNN(image)               a 4x4 grid of region vectors, (B, 16, C)
    u = W flatten(r)                      the whole image as one vector, (B, F)
    caption ~ OneToMany(u)                the show-and-tell layout (attention="none"), or
    caption ~ Seq2Seq(r_1..r_16)          an RNN over the regions and attention on them (attention="additive", ...)

Measured on held-out scenes (new handwriting): BLEU (sacreBLEU, both true phrasings as
references) and the share of captions whose objects, sizes and relation are all true.
Target: >= 90% of captions state the right objects and relation; see docs/results.md for
what the defaults reach and how long they take on one CPU thread.

    rnnkit recipe caption --threads 1
    rnnkit predict runs/caption scene.png      # 32x32 grey images (.png or .npy)
    rnnkit generate runs/caption --num 8       # new scenes from held-out digits, captioned
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.models import OneToMany, OneToManyConfig, Seq2Seq, Seq2SeqConfig
from rnnkit.recipes.caption.scenes import CANVAS, Scene, caption_facts, compose
from rnnkit.recipes.captioning import caption_ids, corpus_bleu
from rnnkit.recipes.contract import GenerateOptions, Meta, Recipe, RecipeConfig
from rnnkit.recipes.handwriting import SOURCES, DigitSource, load_source, split_sources
from rnnkit.recipes.runner import run_dir
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, pad_batch
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure

ATTENTIONS = ("none", "additive", "dot", "general")


@dataclass(frozen=True)
class CaptionConfig(RecipeConfig):
    """Scene data, image encoder, caption decoder and training settings."""

    digits: str = option("mnist5k", "source digits: mnist5k (5,000 MNIST images) or sklearn (1,797 8x8 digits)",
                         choices=list(SOURCES))
    augment: bool = option(True, "compose fresh training scenes each epoch from jittered digits (position, scale, "
                                 "stroke weight)")
    num_train: int = option(8000, "training scenes per epoch, composed from the training digit images")
    num_dev: int = option(500, "validation scenes from development digit images (neither training nor test)")
    num_test: int = option(500, "held-out scenes from unseen digit images")  # +-1.3% on a 90% fact accuracy
    channels: int = option(96, "channels of the CNN's last layers (the region vector size)")
    feature_size: int = option(128, "size of the image vector that conditions the decoder")  # attention=none only
    embed_size: int = option(32, "word embedding size")  # 25 words need little
    hidden_size: int = option(128, "LSTM hidden units of the decoder")  # holds two objects and a relation
    attention: str = option("none", "none (one image vector) or attention over the 16 regions",
                            choices=list(ATTENTIONS))
    beam: int = option(1, "beam width for the held-out scenes and predict (1 = greedy; validation is always greedy)")
    batch_size: int = option(64, "scenes per batch")
    scene_seed: int = option(0, "seed for composing scenes")
    # the digits are learned last, settling while the cosine rate is small: the schedule sets the length
    epochs: int = option(24, "passes over freshly composed training scenes (all run: patience is 0)")
    lr: float = option(3e-3, "AdamW learning rate at the first epoch")
    patience: int = option(0, "stop after this many epochs without a better validation fact accuracy (0 = never)")
    max_minutes: float | None = option(20.0, "stop after this much wall time (checked after each step)")
    schedule: str = option("cosine", "learning rate per epoch: cosine (from lr down towards 0) or constant",
                           choices=["constant", "cosine"])
    out: str = option("runs/caption", "run directory: best.pt, last.pt, results.json, captions.png")


class ConvEncoder(nn.Module):
    """Three conv-batchnorm-ReLU-pool blocks and one more conv: (B, 1, 32, 32) -> regions (B, 16, C), a 4x4 grid in
    raster order. Batch norm, as the only training signal is the caption loss far downstream; the last conv (no
    pooling) widens each region's view from 22 to 38 pixels, so every region vector sees a whole digit."""

    def __init__(self, channels: int = 96) -> None:
        super().__init__()
        c, c2, c4 = channels, channels // 2, channels // 4
        self.net = nn.Sequential(
            nn.Conv2d(1, c4, 3, padding=1), nn.BatchNorm2d(c4), nn.ReLU(), nn.MaxPool2d(2),  # (B, C/4, 16, 16)
            nn.Conv2d(c4, c2, 3, padding=1), nn.BatchNorm2d(c2), nn.ReLU(), nn.MaxPool2d(2),  # (B, C/2, 8, 8)
            nn.Conv2d(c2, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU(), nn.MaxPool2d(2),  # (B, C, 4, 4)
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
        self.encoder = ConvEncoder(config.channels)
        self.decoder: OneToMany | Seq2Seq
        words: dict[str, Any] = {"vocab_size": vocab_size, "embed_size": config.embed_size, "bos_id": bos_id,
                                 "hidden_size": config.hidden_size, "eos_id": eos_id, "max_length": max_length}
        if config.attention == "none":
            self.project = nn.Linear(16 * config.channels, config.feature_size)
            self.decoder = OneToMany(OneToManyConfig(input_size=config.feature_size, **words))
        else:
            self.decoder = Seq2Seq(Seq2SeqConfig(input_size=config.channels, attention=config.attention, **words))

    def _condition(self, images: Tensor) -> Tensor:
        if images.dim() != 3 or images.shape[1:] != (CANVAS, CANVAS) or not images.is_floating_point():
            raise ValueError(f"Captioner: expected float images (B, {CANVAS}, {CANVAS}), got {tuple(images.shape)} "
                             f"{images.dtype}.")
        regions = self.encoder(images)  # (B, 16, C)
        if isinstance(self.decoder, OneToMany):
            return torch.relu(self.project(regions.flatten(1)))  # (B, F)
        return regions

    def forward(self, images: Tensor, targets: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor | None]:
        u = self._condition(images)
        if isinstance(self.decoder, OneToMany):
            return self.decoder(u, targets, lengths=lengths)
        return self.decoder(u, targets, target_lengths=lengths)

    @torch.no_grad()
    def caption(self, images: Tensor, beam: int = 1) -> list[list[int]]:
        """Token ids of one caption per image (without the end token): greedy, or beam search if beam > 1."""
        self.eval()
        return caption_ids(self.decoder, self._condition(images), beam)


@dataclass
class CaptionData:
    """The caption vocabulary, the digit images scenes are composed from, and the scenes of each split."""

    vocab: TokenVocab
    source: DigitSource
    train_pool: np.ndarray  # indices of the source images training scenes are composed from
    train: list[Scene]  # the first epoch's training scenes (later epochs compose fresh ones when augmenting)
    dev: list[Scene]
    test: list[Scene]
    shuffle: torch.Generator  # orders the training scenes, running on across epochs


def canonical(scene: Scene) -> str:
    """The phrasing trained on: left/top item first (with a random phrasing, the decoder learned the grammar long
    before the digits)."""
    return scene.captions()[0]


def batch(scenes: list[Scene], captions: list[str] | None, vocab: TokenVocab) -> tuple[Tensor, ...]:
    """Images (B, 32, 32), and with captions also targets (B, T) ending in eos, lengths (B,)."""
    images = torch.from_numpy(np.stack([s.image for s in scenes]))  # (B, 32, 32)
    if captions is None:
        return (images,)
    eos = vocab.stoi[EOS]
    targets, lengths = pad_batch([vocab.encode(c.split()) + [eos] for c in captions], vocab.pad_id)
    return images, targets, lengths


def describe_scenes(model: Captioner, scenes: list[Scene], vocab: TokenVocab, beam: int = 1,
                    batch_size: int = 128) -> list[str]:
    """A caption for each scene: greedy with ``beam=1``, else beam search of that width."""
    out: list[str] = []
    for i in range(0, len(scenes), batch_size):
        (images,) = batch(scenes[i : i + batch_size], None, vocab)
        out.extend(" ".join(vocab.decode(ids)) for ids in model.caption(images, beam))
    return out


def caption_metrics(hyps: list[str], scenes: list[Scene]) -> dict[str, float]:
    """Fact accuracy (objects, sizes and relation all true), object and relation accuracy, parse rate and BLEU."""
    facts = [caption_facts(h) for h in hyps]
    pairs = list(zip(facts, scenes, strict=True))
    exact = np.mean([f == s.fact() for f, s in pairs])
    digits = np.mean([f is not None and {f[0].digit, f[2].digit} == {s.first.digit, s.second.digit} for f, s in pairs])
    relation = np.mean([f is not None and (f[0].digit, f[1], f[2].digit) == (s.first.digit, s.fact()[1], s.second.digit)
                        for f, s in pairs])
    metrics = {"fact_accuracy": float(exact), "digits_right": float(digits),
               "digits_and_relation_right": float(relation), "parsed": float(np.mean([f is not None for f in facts]))}
    if importlib.util.find_spec("sacrebleu") is not None:
        metrics["bleu"] = corpus_bleu(hyps, [s.captions() for s in scenes])  # both phrasings are references
    return metrics


def render(scenes: list[Scene], captions: list[str], path: Path, columns: int = 4) -> Path:
    """A grid of scenes with their generated captions (marked true or WRONG against the scene)."""
    rows = (len(scenes) + columns - 1) // columns
    with figure(path, size=(3.2 * columns, 3.0 * rows), dpi=70, nrows=rows, ncols=columns, squeeze=False) as (_, axes):
        for ax in axes.flat:
            ax.axis("off")
        for ax, scene, text in zip(axes.flat, scenes, captions, strict=False):
            ax.imshow(scene.image, cmap="gray_r", vmin=0, vmax=1)
            ok = caption_facts(text) == scene.fact()
            words = text.split()
            cut = len(words) // 2
            ax.set_title(f"{' '.join(words[:cut])}\n{' '.join(words[cut:])} {'(true)' if ok else '(WRONG)'}",
                         fontsize=8)
    return path


def read_image(path: Path) -> np.ndarray:
    """A 32x32 grey image from .npy or .png, scaled to [0, 1] as light digits on a dark canvas (as trained)."""
    if not path.exists():
        raise FileNotFoundError(f"predict caption: no image file {path}.")
    if path.suffix == ".npy":
        array = np.load(path, allow_pickle=False)
    else:
        import matplotlib.image

        array = matplotlib.image.imread(str(path))
        array = array[..., :3].mean(axis=2) if array.ndim == 3 else array
    if array.shape != (CANVAS, CANVAS):
        raise ValueError(f"predict caption: {path} is {array.shape}; the model reads {CANVAS}x{CANVAS} grey images.")
    image = array.astype(np.float32)
    image = (image - image.min()) / max(float(image.max() - image.min()), 1e-6)
    return 1.0 - image if image.mean() > 0.5 else image  # dark digits on a light ground: invert


class CaptionRecipe(Recipe[CaptionConfig, CaptionData]):
    """Caption synthetic digit scenes: a CNN reads the image, an LSTM writes the sentence."""

    name = "caption"
    config_class = CaptionConfig
    monitor = "fact_accuracy"
    inputs = "32x32 grey images of two digits (.png or .npy), light or dark background"

    def prepare_data(self, config: CaptionConfig) -> CaptionData:
        """Split the source digit images three ways, then compose training, validation and held-out scenes."""
        source = load_source(config.digits)
        train_pool, dev_pool, test_pool = split_sources(source.labels)
        train = compose(source, train_pool, config.num_train, config.scene_seed, augment=config.augment)
        dev = compose(source, dev_pool, config.num_dev, config.scene_seed + 2)
        test = compose(source, test_pool, config.num_test, config.scene_seed + 1)
        vocab = TokenVocab.build([canonical(s).split() for s in train], specials=(PAD, BOS, EOS, UNK))
        return CaptionData(vocab, source, train_pool, train, dev, test, torch.Generator().manual_seed(config.seed))

    def describe(self, data: CaptionData) -> Meta:
        return {"vocab": data.vocab.to_dict()}

    def build_model(self, config: CaptionConfig, meta: Meta) -> Captioner:
        vocab = TokenVocab.from_dict(meta["vocab"])
        return Captioner(config, len(vocab), vocab.stoi[BOS], vocab.stoi[EOS])

    def generators(self, data: CaptionData) -> list[torch.Generator]:
        return [data.shuffle]

    def batches(self, config: CaptionConfig, data: CaptionData, epoch: int) -> list[tuple[Tensor, ...]]:
        """The first epoch's scenes, then (augmenting) freshly composed ones, in an order drawn from
        ``data.shuffle``."""
        scenes = data.train
        if config.augment and epoch > 1:
            scenes = compose(data.source, data.train_pool, config.num_train, config.scene_seed + 1000 * epoch,
                             augment=True)
        order = torch.randperm(len(scenes), generator=data.shuffle).tolist()
        chunks = [order[i : i + config.batch_size] for i in range(0, len(order), config.batch_size)]
        return [batch([scenes[i] for i in c], [canonical(scenes[i]) for i in c], data.vocab) for c in chunks]

    def evaluate(self, model: nn.Module, config: CaptionConfig, data: CaptionData, split: str) -> dict[str, float]:
        """Validation captions are greedy (fast, once an epoch); held-out ones use ``config.beam``."""
        scenes = data.dev if split == "dev" else data.test
        beam = 1 if split == "dev" else config.beam
        return caption_metrics(describe_scenes(self.model_as(model, Captioner), scenes, data.vocab, beam), scenes)

    def report(self, model: nn.Module, config: CaptionConfig, data: CaptionData, out: Path) -> list[Path]:
        shown = data.test[:8]
        return [render(shown, describe_scenes(self.model_as(model, Captioner), shown, data.vocab, config.beam),
                       out / "captions.png")]

    def predict(self, model: nn.Module, config: CaptionConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        vocab, captioner = TokenVocab.from_dict(meta["vocab"]), self.model_as(model, Captioner)
        results = []
        for name in inputs:
            ids = captioner.caption(torch.from_numpy(read_image(Path(name)))[None], config.beam)[0]
            results.append({"input": name, "caption": " ".join(vocab.decode(ids))})
        return results

    def show(self, result: dict[str, Any]) -> str:
        if "placed" in result:
            return f"{result['caption']}   (placed: {result['placed']})"
        return f"{result['input']}: {result['caption']}"

    def generate(self, model: nn.Module, config: CaptionConfig, meta: Meta,
                 options: GenerateOptions) -> list[dict[str, Any]]:
        """Compose ``options.num`` new scenes from held-out digit images, caption them, save a captioned grid."""
        vocab = TokenVocab.from_dict(meta["vocab"])
        source = load_source(config.digits)
        _, _, test_pool = split_sources(source.labels)
        scenes = compose(source, test_pool, options.num, 10_000 + options.seed)
        captions = describe_scenes(self.model_as(model, Captioner), scenes, vocab, config.beam)
        picture = render(scenes, captions, Path(options.out or run_dir(self, config)) / f"generated-{options.seed}.png")
        return [{"caption": c, "placed": s.captions()[0], "files": [str(picture)]}
                for s, c in zip(scenes, captions, strict=True)]

    def upgrade(self, checkpoint: dict[str, Any]) -> dict[str, Any]:
        """A checkpoint of the pre-contract recipe: its CaptionConfig (with out_dir), the vocabulary beside it."""
        return self.upgraded(checkpoint, {"vocab": checkpoint["vocab"]})
