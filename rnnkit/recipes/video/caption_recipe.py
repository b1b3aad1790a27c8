"""Caption synthetic digit clips ("a sequence of frames in, a sequence of words out").

Data (clips.py): 64x64 clips of 16-24 frames, one or two real MNIST digits each doing two or
three actions in turn (moves, grows, shrinks, rotates, bounces, stays), named as synthetic;
validation and held-out clips show handwriting no training clip has. Each clip's sentences
are composed from its script (sentences.py): the canonical one is trained on, all of them
(five by default) are BLEU references.

    frame CNN  : answers on an 8x8 grid where each digit's centre is, which digit, what it is
                 doing and how large it is (slots.py); a frame's vector is ten digit slots read
                 off that grid. Trained first on these targets, read off the clip scripts, then
                 kept fixed; its vectors are computed once per clip (as S2VT used a fixed
                 ImageNet CNN). With --pretrain-epochs 0 it learns from the words alone.
    encoder    : a BiLSTM over the clip's two likeliest digits' slots, frame by frame
    decoder    : an LSTM with soft attention over the frames (rnnkit.models.Seq2Seq), greedy (--beam for beam search)

Measured on held-out clips: the share of captions whose every fact is right (the digits, and
each digit's actions in order), and BLEU-4 against all references. Target: >= 85% fully
right; the defaults reach 90.4% (97% of one-digit clips, 83% of two-digit ones; 91.3% of the
validation clips), BLEU 97.3, in 27 minutes of one core (the 12,000 training clips read from
the cache; docs/results.md): met.

    rnnkit recipe video-caption --threads 1
    rnnkit recipe video-caption --threads 1 --frame-encoder runs/video-caption --dropout 0 --out runs/other
                                                            # captioner settings on that run's frame CNN
    rnnkit caption-video runs/video-caption clip.npy       # (T, 64, 64) frames, .npy or .gif
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.models.attention import KINDS
from rnnkit.recipes.captioning import corpus_bleu
from rnnkit.recipes.contract import Meta, Recipe, RecipeConfig
from rnnkit.recipes.handwriting import SOURCES
from rnnkit.recipes.text import BOS, EOS, PAD, UNK, TokenVocab, pad_batch
from rnnkit.recipes.training import TrainConfig, fit
from rnnkit.recipes.video.captioner import FRAME, VideoCaptioner, frame_vectors
from rnnkit.recipes.video.clips import ACTIONS, CANVAS, ClipSet, Script, clip_dataset, read_clip
from rnnkit.recipes.video.sentences import caption_facts, phrasings, script_facts, sentence, words
from rnnkit.recipes.video.slots import FEATURES, SlotEncoder, SlotTagger, grid_targets, present_digits, slot_actions
from rnnkit.utils.checkpoint import check_kind, load_checkpoint, load_weights
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure


@dataclass(frozen=True)
class VideoCaptionConfig(RecipeConfig):
    """Clips, frame CNN, encoder-decoder and training settings."""

    # MNIST: real 28x28 handwriting
    digits: str = option("mnist5k", "source handwriting: mnist5k (5,000 MNIST images) or sklearn (1,797 8x8 digits)",
                         choices=list(SOURCES))
    # 207 s to build on a quiet core, then read from the cache; with 3,000 (about 2,500 of the 3,500 training images
    # shown) both the frame CNN and the captioner learnt their clips by heart: 64.4% fully right against 81.0%
    num_train: int = option(12000, "training clips (built once, cached)")
    # picks the best epoch
    num_dev: int = option(300,
                          "validation clips, from development handwriting (0: none; the epoch with the lowest training "
                          "loss is kept)")
    num_test: int = option(500, "held-out clips, from unseen handwriting")  # +-1.6% on an 85% score
    # the same clips on every run
    clip_seed: int = option(0, "seed of the clip scripts and the handwriting drawn for them")
    references: int = option(5, "true phrasings per clip used as BLEU references")  # canonical, in time, and variants
    # 24, not 16: at 16 the CNN named the digits of only 80.7% of its own training frames (79.1% of validation
    # frames), short of capacity more than of handwriting; at 24 it names them in 79.2% of the validation frames its
    # training watches (16: 76.0%), and 91.3% of the validation captions are fully right (86.0%); about twice the time
    channels: int = option(24, "channels of the frame CNN's second block (its last three have twice as many)")
    # 375 steps of 64 frames each, about 40 s on one core at --channels 24; then fixed and cached
    pretrain_epochs: int = option(20,
                                  "epochs training the frame CNN on per-frame labels before captioning (0: it learns "
                                  "from the captions alone, end to end, much slower)")
    # its epochs set the cosine's length; this caps a busy machine (the 24-channel CNN's 20 epochs took 23.5 minutes
    # of wall time in a lane paused by other jobs, about 14 on a free core)
    pretrain_minutes: float = option(30.0, "stop the frame CNN's training after this much wall time")
    # neighbouring frames say much the same: 2 of each of 12,000 clips, as many steps as 8 of 3,000, more handwriting
    pretrain_frames: int = option(2, "frames drawn from each training clip per pretraining epoch")
    # lets captioner settings be tried without training the CNN again (its 14 minutes are most of a run)
    frame_encoder: str | None = option(None,
                                       "reuse the fixed frame CNN of an earlier video-caption run (its directory or "
                                       ".pt file) instead of pretraining one; --channels must match it")
    embed_size: int = option(32, "word embedding size")  # 30 words
    # holds two digits' stories
    hidden_size: int = option(128, "LSTM hidden units (encoder per direction, and decoder)")
    # the captioner learnt 3,000 clips by heart (training loss 0.006); with 12,000 it still overfits
    dropout: float = option(0.2, "dropout on the frame vectors, the word embeddings and before the output layer")
    # Bahdanau's, as Yao et al.
    attention: str = option("additive", "attention scores over the frames", choices=list(KINDS))
    # greedy: ranked by plain log-probability, beam 3 prefers shorter captions and leaves segments out (validation
    # clips: 87.7% fully right against greedy's 91.3%, 19 wrong captions with too few actions against 8; with
    # --channels 16, 79.3% against 86.0%); normalised by length (logp / |y| ** 0.6 or 1) it ties with greedy
    beam: int = option(1, "beam width for held-out clips and caption-video (1 = greedy, as validation decodes)")
    batch_size: int = option(32, "clips per batch")
    # cheap on cached frame vectors: 20 passes over 12,000 clips took 513 s in a lane (best validation at epoch 19)
    epochs: int = option(20, "passes over the training clips (all run unless max_minutes stops them: patience is 0)")
    lr: float = option(3e-3, "AdamW learning rate at the first epoch")
    patience: int = option(0, "stop after this many epochs without a better validation score (0 = never)")
    schedule: str = option("cosine", "learning rate per epoch: cosine (from lr down towards 0) or constant",
                           choices=["constant", "cosine"])
    max_minutes: float | None = option(16.0,
                                       "stop captioning training after this much wall time (the frame CNN's "
                                       "pretraining is not counted)")
    out: str = option("runs/video-caption", "run directory: best.pt, last.pt, results.json, attention.png")


# ---- data ------------------------------------------------------------------------------------


@dataclass
class Split:
    """One split's clips, what the captioner reads of them, and their true sentences."""

    clips: ClipSet
    inputs: Tensor | None  # (N, T, F) cached frame vectors, or None: read the frames (end-to-end training)
    references: list[list[str]]  # true phrasings of each clip, the canonical first


@dataclass
class VideoCaptionData:
    """The word vocabulary, the splits, and the frame CNN trained for them (if pretrained)."""

    vocab: TokenVocab
    train: Split
    dev: Split
    test: Split
    frame_encoder: dict[str, Tensor] | None  # the fixed frame CNN's weights, or None when it trains with the captioner
    shuffle: torch.Generator  # orders the training clips, running on across epochs


def clip_frames(clips: ClipSet, index: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Frames (B, T, 64, 64) float in [0, 1], cut to the longest of them, and lengths (B,)."""
    lengths = torch.from_numpy(clips.lengths[list(index)])
    T = int(lengths.max())
    return torch.from_numpy(clips.clips[list(index), :T]).float() / 255.0, lengths


def tagger_batches(clips: ClipSet, per_clip: int, batch_size: int,
                   generator: torch.Generator) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """Frame-CNN training batches: ``per_clip`` random frames of each clip in context (N, 3, 64, 64), and their grid
    targets (``slots.grid_targets``): classes (N, 64), actions (N, 64), sizes (N, 64).

    The frames are drawn up front; each batch is built when it is asked for (an epoch's frames would not fit in memory).
    """
    picks = [(i, int(t)) for i in range(len(clips))
             for t in torch.randint(0, int(clips.lengths[i]), (per_clip,), generator=generator)]
    order = torch.randperm(len(picks), generator=generator).tolist()
    for k in range(0, len(order), batch_size):
        chosen = [picks[j] for j in order[k : k + batch_size]]
        context = []
        for i, t in chosen:
            n = int(clips.lengths[i])
            f = clips.clips[i, max(t - 1, 0) : min(t + 2, n)].astype(np.float32) / 255.0  # the frame and its neighbours
            if 0 < t < n - 1:
                before, now, after = f[0], f[1], f[2]
            else:
                before, now, after = (f[0], f[0], f[1]) if t == 0 else (f[0], f[1], f[1])
            context.append(np.stack([now, now - before, after - now]))  # as frame_context: zero change at the ends
        classes, actions, sizes = zip(*(grid_targets(clips.scripts[i], t) for i, t in chosen), strict=True)
        yield (torch.from_numpy(np.stack(context)), torch.from_numpy(np.stack(classes)),
               torch.from_numpy(np.stack(actions)), torch.from_numpy(np.stack(sizes)))


def frame_truth(script: Script) -> tuple[np.ndarray, np.ndarray]:
    """(T, 10) bool: which digits are in each frame (all of the clip's, in every frame); (T, 10) int64: the ACTIONS
    index of each present digit's action (-1 where absent)."""
    present = np.zeros((script.frames, 10), dtype=bool)
    actions = np.full((script.frames, 10), -1, dtype=np.int64)
    for actor in script.actors:
        present[:, actor.digit] = True
        actions[:, actor.digit] = [ACTIONS.index(a) for a in actor.actions()]
    return present, actions


def tagger_accuracy(encoder: SlotEncoder, clips: ClipSet, most: int | None = None,
                    batch_size: int = 16) -> dict[str, float]:
    """Over every frame of the first ``most`` clips: the share whose digits the encoder's slots name exactly
    (``frame_digits``), and the share of the digits in a frame whose slot gives their action (``frame_actions``,
    whether or not it named the digit)."""
    digits = actions = frames = present = 0
    count = len(clips) if most is None else min(most, len(clips))
    encoder.eval()
    with torch.no_grad():
        for k in range(0, count, batch_size):
            index = list(range(k, min(k + batch_size, count)))
            batch, lengths = clip_frames(clips, index)
            slots = frame_vectors(encoder, batch, lengths).view(*batch.shape[:2], 10, -1)  # (B, T, 10, SLOT)
            for b, i in enumerate(index):
                n = int(lengths[b])
                here, doing = (torch.from_numpy(x) for x in frame_truth(clips.scripts[i]))  # (T_i, 10) each
                digits += int((present_digits(slots[b, :n]) == here).all(dim=1).sum())
                actions += int(slot_actions(slots[b, :n])[here].eq(doing[here]).sum())
                frames, present = frames + n, present + int(here.sum())
    return {"frame_digits": digits / max(frames, 1), "frame_actions": actions / max(present, 1)}


def pretrain_frame_encoder(config: VideoCaptionConfig, train: ClipSet, dev: ClipSet) -> SlotEncoder:
    """Train the frame CNN on the scripts' grid targets with the shared loop (``fit``), keep its best epoch on dev
    frames."""
    torch.manual_seed(config.seed)
    encoder = SlotEncoder(config.channels)
    tagger = SlotTagger(encoder)
    generator = torch.Generator().manual_seed(config.seed + 1)
    settings = TrainConfig(epochs=config.pretrain_epochs, lr=config.lr, patience=0, threads=config.threads,
                           seed=config.seed, progress=config.progress, log_every=0, schedule="cosine",
                           max_minutes=config.pretrain_minutes)
    start = time.perf_counter()
    result = fit(tagger, lambda epoch: tagger_batches(train, config.pretrain_frames, 64, generator), settings,
                 evaluate=(lambda m: tagger_accuracy(encoder, dev, most=100)) if len(dev) else None,
                 monitor="frame_digits")
    print(f"video-caption: frame CNN trained on the scripts' grid targets in {time.perf_counter() - start:.0f}s; best "
          f"{'validation share of frames with their digits named' if len(dev) else 'training loss'} "
          f"{result.best_metric:.4f} (epoch {result.best_epoch})")
    return recalibrate(encoder, tagger_batches(train, 2, 64, generator))


def reuse_frame_encoder(path: str, channels: int) -> SlotEncoder:
    """The fixed frame CNN saved in an earlier video-caption run (a run directory or .pt file), as it was trained."""
    checkpoint = load_checkpoint(path)
    check_kind(checkpoint, path, ("video-caption",))
    weights = checkpoint["meta"].get("frame_encoder")
    if weights is None:
        raise ValueError(f"video-caption: {path} holds no fixed frame CNN (that run trained it end to end, "
                         "--pretrain-epochs 0); pass a run trained with --pretrain-epochs > 0.")
    saved = checkpoint["config"].get("channels")
    if saved != channels:
        raise ValueError(f"video-caption: the frame CNN in {path} has --channels {saved}, this run {channels}; "
                         f"pass --channels {saved}.")
    encoder = SlotEncoder(channels)
    load_weights(encoder, weights, path, "video-caption frame CNN", "rnnkit recipe video-caption")
    print(f"video-caption: frame CNN read from {path} (not trained again)")
    return encoder.eval()


def recalibrate(encoder: SlotEncoder, batches: Iterator[tuple[Tensor, ...]], most: int = 40) -> SlotEncoder:
    """The batch-norm statistics of the final weights, averaged over up to ``most`` batches ("precise BN", Wu &
    Johnson, 2021).

    The running averages kept in training mix in the statistics of earlier weights, and after a
    short training they are still near their initial values; the frame vectors computed once
    and kept are only as good as these statistics.
    """
    norms = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm2d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over the batches below
    encoder.train()
    with torch.no_grad():
        for k, (context, *_) in enumerate(batches):
            if k == most:
                break
            encoder(context)
    for m in norms:
        m.momentum = 0.1
    return encoder.eval()


def encode_clips(encoder: SlotEncoder, clips: ClipSet, batch_size: int = 32) -> Tensor:
    """(N, T_max, F): the fixed frame CNN's vector of every frame of every clip (zero past its length)."""
    encoder.eval()
    out = torch.zeros(len(clips), clips.clips.shape[1], FEATURES)
    with torch.no_grad():
        for k in range(0, len(clips), batch_size):
            index = list(range(k, min(k + batch_size, len(clips))))
            frames, lengths = clip_frames(clips, index)
            out[k : k + len(index), : frames.size(1)] = frame_vectors(encoder, frames, lengths)
    return out


def make_split(clips: ClipSet, encoder: SlotEncoder | None, references: int, seed: int) -> Split:
    """A split ready for captioning: its clips, their frame vectors (if an encoder is given) and seeded reference
    phrasings for each clip."""
    refs = [phrasings(script, references, seed=seed * 1_000_003 + i) for i, script in enumerate(clips.scripts)]
    return Split(clips, encode_clips(encoder, clips) if encoder is not None else None, refs)


def load_clips(config: VideoCaptionConfig) -> tuple[ClipSet, ClipSet, ClipSet]:
    """The three clip sets (from the cache, or built and cached), saying how many and how long building took."""
    sets = []
    for split, n, seed in (("train", config.num_train, config.clip_seed), ("dev", config.num_dev, config.clip_seed + 1),
                           ("test", config.num_test, config.clip_seed + 2)):
        if n == 0 and split == "dev":
            # no validation: fit keeps the lowest training loss
            sets.append(clip_dataset(config.digits, split, 0, seed, use_cache=False))
            continue
        clips = clip_dataset(config.digits, split, n, seed)
        how = f"built in {clips.seconds:.1f}s, cached in {clips.cache}" if clips.seconds else f"read from {clips.cache}"
        print(f"video-caption: {len(clips)} {split} clips ({int(clips.lengths.sum())} frames) {how}")
        sets.append(clips)
    return sets[0], sets[1], sets[2]


# ---- metrics and pictures --------------------------------------------------------------------


def caption_metrics(hyps: list[str], scripts: Sequence[Script],
                    references: Sequence[Sequence[str]]) -> dict[str, float]:
    """fully_right (every fact right), digits_right (the right digits named), parsed (the caption reads as facts),
    fully_right_one / fully_right_two (over the clips with one digit / two; left out if there are none), bleu."""
    said = [caption_facts(h) for h in hyps]
    truth = [script_facts(s) for s in scripts]
    right = np.array([s == t for s, t in zip(said, truth, strict=True)], dtype=float)
    digits = np.array([len(t) for t in truth])
    metrics = {
        "fully_right": float(right.mean()),
        "digits_right": float(np.mean([s is not None and [d for d, _ in s] == [d for d, _ in t] for s,
                                       t in zip(said, truth, strict=True)])),
        "parsed": float(np.mean([s is not None for s in said])),
    }
    for name, n in (("fully_right_one", 1), ("fully_right_two", 2)):
        if (digits == n).any():
            metrics[name] = float(right[digits == n].mean())
    if importlib.util.find_spec("sacrebleu") is not None:
        metrics["bleu"] = corpus_bleu(hyps, references)
    return metrics


def caption_clips(model: VideoCaptioner, split: Split, vocab: TokenVocab, beam: int, index: Sequence[int] | None = None,
             batch_size: int = 64) -> list[str]:
    """A caption for each clip of ``split`` (or those in ``index``), from its cached vectors or its frames."""
    index = list(range(len(split.clips))) if index is None else list(index)
    out: list[str] = []
    for k in range(0, len(index), batch_size):
        inputs, lengths = split_inputs(split, index[k : k + batch_size])
        out.extend(sentence(vocab.decode(ids)) for ids in model.caption(inputs, lengths, beam))
    return out


def split_inputs(split: Split, index: Sequence[int]) -> tuple[Tensor, Tensor]:
    """What the captioner reads of clips ``index``: their cached vectors, or their frames; cut to the longest; and
    lengths."""
    if split.inputs is None:
        return clip_frames(split.clips, index)
    lengths = torch.from_numpy(split.clips.lengths[list(index)])
    return split.inputs[list(index), : int(lengths.max())], lengths


def draw_attention(model: VideoCaptioner, split: Split, vocab: TokenVocab, beam: int, index: Sequence[int],
                   path: Path) -> Path:
    """For each clip: every second frame, and under it the attention over frames as each word is written."""
    captions = caption_clips(model, split, vocab, beam, index)
    inputs, lengths = split_inputs(split, index)
    ids = [vocab.encode(words(c)) for c in captions]
    weights = model.attention(inputs, lengths, ids)
    rows = len(index)
    with figure(path, size=(11.0, 4.2 * rows), dpi=90, nrows=2 * rows, ncols=1, squeeze=False,
                gridspec_kw={"height_ratios": [1, 2.4] * rows}) as (_, axes):
        for r, (i, caption, w) in enumerate(zip(index, captions, weights, strict=True)):
            clip = split.clips.clip(i)
            strip = np.concatenate([clip[t] for t in range(0, len(clip), 2)], axis=1)  # (64, 64 * ceil(T/2))
            top, bottom = axes[2 * r, 0], axes[2 * r + 1, 0]
            top.imshow(strip, cmap="gray", vmin=0, vmax=255, extent=(-0.5, 2 * (strip.shape[1] // CANVAS) - 0.5, 0, 1),
                       aspect="auto")
            top.set_xticks([]), top.set_yticks([])
            ok = caption_facts(caption) == script_facts(split.clips.scripts[i])
            top.set_title(f"{caption} ({'right' if ok else 'WRONG'})\ntrue: {split.references[i][0]}", fontsize=9)
            bottom.imshow(w.numpy(), cmap="viridis", aspect="auto", vmin=0, interpolation="nearest")
            bottom.set_yticks(range(w.size(0)), [*words(caption), "<eos>"], fontsize=7)
            bottom.set_xticks(range(0, w.size(1), 2))
            bottom.set_xlim(-0.5, 2 * (strip.shape[1] // CANVAS) - 0.5)
            bottom.set_xlabel("frame", fontsize=8)
    return path


# ---- reading clips ---------------------------------------------------------------------------


def read_video(path: Path) -> np.ndarray:
    """(T, 64, 64) float32 frames in [0, 1] from a .npy clip (clips.read_clip) or an animated .gif (Pillow,
    grey-scaled).

    MP4 and other video files are not read: no maintained reader installs with rnnkit's dependencies.
    """
    if path.suffix.lower() != ".gif":
        if path.suffix.lower() not in (".npy", ""):
            raise ValueError(f"caption-video: {path}: only .npy clips (T, {FRAME}, {FRAME}) and animated .gif files "
                             "are read; convert other video to one of them (e.g. numpy.save).")
        return read_clip(path)
    if not path.exists():
        raise FileNotFoundError(f"caption-video: no clip file {path}.")
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path) as gif:
            frames = [np.asarray(frame.convert("L"), dtype=np.float32) / 255.0 for frame in ImageSequence.Iterator(gif)]
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"caption-video: {path} is not a readable GIF ({e}).") from None
    if len(frames) < 2 or frames[0].shape != (FRAME, FRAME):
        raise ValueError(f"caption-video: {path} has {len(frames)} frame(s) of "
                         f"{frames[0].shape[1]}x{frames[0].shape[0]} pixels; "
                         f"expected at least 2 frames of {FRAME}x{FRAME}.")
    return np.stack(frames)


# ---- the recipe ------------------------------------------------------------------------------


class VideoCaptionRecipe(Recipe[VideoCaptionConfig, VideoCaptionData]):
    """Caption clips of handwritten digits doing actions: a CNN per frame, an LSTM encoder, an attentive LSTM
    decoder."""

    name = "video-caption"
    config_class = VideoCaptionConfig
    monitor = "fully_right"
    inputs = (f"clips of (T, {FRAME}, {FRAME}) grey frames, light digits on black: .npy (uint8 0-255 or float 0-1) or "
              "animated .gif")

    def prepare_data(self, config: VideoCaptionConfig) -> VideoCaptionData:
        """Read or build the clips; train and fix the frame CNN (unless end to end); compose every clip's sentences."""
        train, dev, test = load_clips(config)
        if config.frame_encoder is not None:
            encoder: SlotEncoder | None = reuse_frame_encoder(config.frame_encoder, config.channels)
        else:
            encoder = pretrain_frame_encoder(config, train, dev) if config.pretrain_epochs > 0 else None
        start = time.perf_counter()
        splits = [make_split(c, encoder, config.references, seed) for c, seed in ((train, 0), (dev, 1), (test, 2))]
        if encoder is not None:
            frames = sum(int(c.lengths.sum()) for c in (train, dev, test))
            print(f"video-caption: frame vectors of {frames} frames computed in {time.perf_counter() - start:.0f}s")
        # pad 0, bos 1, eos 2
        vocab = TokenVocab.build([words(r[0]) for r in splits[0].references], specials=(PAD, BOS, EOS, UNK))
        state = {k: v.clone() for k, v in encoder.state_dict().items()} if encoder is not None else None
        return VideoCaptionData(vocab, splits[0], splits[1], splits[2], state,
                                torch.Generator().manual_seed(config.seed))

    def describe(self, data: VideoCaptionData) -> Meta:
        return {"vocab": data.vocab.to_dict(), "frame_encoder": data.frame_encoder}

    def build_model(self, config: VideoCaptionConfig, meta: Meta) -> VideoCaptioner:
        vocab = TokenVocab.from_dict(meta["vocab"])
        model = VideoCaptioner(len(vocab), vocab.stoi[BOS], vocab.stoi[EOS], config.channels, config.embed_size,
                               config.hidden_size, config.attention, dropout=config.dropout)
        if meta.get("frame_encoder") is not None:
            model.frames.load_state_dict(meta["frame_encoder"])
            model.frames.requires_grad_(False)  # pretrained and fixed: training reads its cached vectors
        return model

    def validates(self, config: VideoCaptionConfig, data: VideoCaptionData) -> bool:
        return len(data.dev.clips) > 0

    def generators(self, data: VideoCaptionData) -> list[torch.Generator]:
        return [data.shuffle]

    def batches(self, config: VideoCaptionConfig, data: VideoCaptionData, epoch: int) -> list[tuple[Tensor, ...]]:
        """(inputs, lengths, targets, target_lengths) in an order drawn from ``data.shuffle``; targets end with eos."""
        order = torch.randperm(len(data.train.clips), generator=data.shuffle).tolist()
        eos = data.vocab.stoi[EOS]
        out: list[tuple[Tensor, ...]] = []
        for k in range(0, len(order), config.batch_size):
            index = order[k : k + config.batch_size]
            inputs, lengths = split_inputs(data.train, index)
            targets, target_lengths = pad_batch([data.vocab.encode(words(data.train.references[i][0])) + [eos]
                                                 for i in index], data.vocab.pad_id)
            out.append((inputs, lengths, targets, target_lengths))
        return out

    def evaluate(self, model: nn.Module, config: VideoCaptionConfig, data: VideoCaptionData,
                 split: str) -> dict[str, float]:
        """Validation captions are greedy (fast, once an epoch); held-out ones use ``config.beam``; "train" (greedy):
        the training clips."""
        if split not in ("train", "dev", "test"):
            raise ValueError(f"video-caption: split must be train, dev or test, got {split!r}.")
        part: Split = getattr(data, split)
        hyps = caption_clips(self._captioner(model), part, data.vocab, config.beam if split == "test" else 1)
        return caption_metrics(hyps, part.clips.scripts, part.references)

    def report(self, model: nn.Module, config: VideoCaptionConfig, data: VideoCaptionData, out: Path) -> list[Path]:
        two = [i for i, s in enumerate(data.test.clips.scripts) if len(s.actors) == 2][:3]
        one = [i for i, s in enumerate(data.test.clips.scripts) if len(s.actors) == 1][:1]
        return [draw_attention(self._captioner(model), data.test, data.vocab, config.beam, two + one,
                               out / "attention.png")]

    def predict(self, model: nn.Module, config: VideoCaptionConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        vocab = TokenVocab.from_dict(meta["vocab"])
        results = []
        for name in inputs:
            frames = torch.from_numpy(read_video(Path(name)))  # (T, 64, 64)
            ids = self._captioner(model).caption(frames[None], torch.tensor([len(frames)]), config.beam)[0]
            results.append({"input": name, "frames": len(frames), "caption": sentence(vocab.decode(ids))})
        return results

    def show(self, result: dict[str, Any]) -> str:
        return f"{result['input']}: {result['caption']}"

    @staticmethod
    def _captioner(model: nn.Module) -> VideoCaptioner:
        if not isinstance(model, VideoCaptioner):
            raise TypeError(f"video-caption: expected a VideoCaptioner, got {type(model).__name__}.")
        return model
