"""Synthetic video clips of real handwritten digits doing actions ("digit clips").

No labelled video installs offline, so clips are composed and named for what they are, in
the manner of Moving MNIST (Srivastava et al., 2015): one or two real MNIST digits on a
64x64 canvas, each doing a sequence of actions that changes within the clip. A ``Script``
says what happens; ``render`` draws it; every label is read off the script.

API (used by the video action and video captioning recipes)::

    rng = np.random.default_rng(0)
    script = make_script(rng)                       # Script(frames, actors), 16-24 frames, 1-2 digits
    clip = render(script, load_source(), rng, pool)  # uint8 (T, 64, 64); pool: indices of usable images
    script.actors[0].digit, script.actors[0].segments  # e.g. 7, (Segment("moves up", 0, 9), Segment("shrinks", 9, 20))
    frame_actions(script)[t]                        # the set of actions happening at frame t
    main_action(script)                             # the clip's one label
    data = clip_dataset("mnist5k", "train", 3000, seed=0)   # seeded, cached ClipSet (clips, lengths, scripts)

Labels. A segment ``Segment(action, start, stop)`` means the actor does ``action`` over
frames [start, stop): for each such frame t < T-1, the actor's pose at t+1 is its pose at t
moved by that action (the last frame continues its segment). Per frame, the label is the
set of actions the digits are doing, ``{a.actions()[t] for a in actors}``: one action for
one digit, one or two for two (who does which is not part of it, so it needs no digit
recognition). Per clip, the label is the **main action**: the action that fills the most
digit-frames, summed over the digits; ``make_script`` only writes scripts where it leads
the runner-up by at least ``margin`` digit-frames, so the clip label is never a coin toss.

Actions (per frame, v in 1.5-3 px, r in 1.06-1.10, w in 10-16 degrees, drawn per segment):
stays (nothing changes); moves left/right/up/down (x or y changes by v); grows / shrinks
(size times r or divided by r); rotates (angle changes by w, first towards upright, and
rocks back at 75 degrees either way so that no digit turns upside down: a 6 stays a 6); bounces (a hop of
period 4 frames and height 8-12 px: y = base - A |sin(pi k / 4)|, k frames into the segment).
Digits stay wholly on the canvas and between 14 and 32 px; the two digits of a clip differ,
and their centres stay at least 0.35 times the sum of their sizes apart (they may touch or
overlap a little, but neither hides the other).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnnkit.recipes.handwriting import DigitSource, load_source, split_sources
from rnnkit.utils.cache import cache_dir

CANVAS = 64
ACTIONS = ("stays", "moves left", "moves right", "moves up", "moves down", "grows", "shrinks", "rotates", "bounces")
# (dx, dy) per unit speed
MOVES = {"moves left": (-1, 0), "moves right": (1, 0), "moves up": (0, -1), "moves down": (0, 1)}
SIZE_RANGE = (14.0, 32.0)  # side of the square a digit's ink box is drawn into, px
MAX_ANGLE = 75.0  # degrees either way from upright
BOUNCE_PERIOD = 4  # frames per hop
GENERATOR_VERSION = 1  # bump when scripts or rendering change: cached clip sets are keyed by it
SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Segment:
    """One digit doing one action over frames [start, stop)."""

    action: str
    start: int
    stop: int


@dataclass(frozen=True)
class Pose:
    """Where and how a digit is drawn in one frame."""

    x: float  # column of the digit's centre, px from the left edge
    y: float  # row of the centre, px from the top edge
    size: float  # side of the square its ink box is drawn into, px
    angle: float  # degrees counter-clockwise from upright


@dataclass(frozen=True)
class Actor:
    """One digit: its class, its actions (consecutive segments covering [0, frames)) and its pose in every frame."""

    digit: int
    segments: tuple[Segment, ...]
    poses: tuple[Pose, ...] = field(default=(), repr=False)

    def actions(self) -> tuple[str, ...]:
        """The action of every frame."""
        return tuple(s.action for s in self.segments for _ in range(s.start, s.stop))


@dataclass(frozen=True)
class Script:
    """What happens in a clip: its length and its one or two digits (``check`` says what is required)."""

    frames: int
    actors: tuple[Actor, ...]

    def __post_init__(self) -> None:
        check(self)


def check(script: Script) -> None:
    """Raise ValueError unless the script is well formed: 1-2 distinct digits, known actions, segments covering every
    frame."""
    where = f"Script(frames={script.frames})"
    if script.frames < 2:
        raise ValueError(f"{where}: a clip needs at least 2 frames.")
    if not 1 <= len(script.actors) <= 2:
        raise ValueError(f"{where}: expected one or two actors, got {len(script.actors)}.")
    if len({a.digit for a in script.actors}) != len(script.actors):
        raise ValueError(f"{where}: the two digits must differ, got {[a.digit for a in script.actors]}.")
    for actor in script.actors:
        if not 0 <= actor.digit <= 9:
            raise ValueError(f"{where}: digit must be 0-9, got {actor.digit}.")
        edges = [0] + [s.stop for s in actor.segments]
        if not actor.segments or [s.start for s in actor.segments] != edges[:-1] or edges[-1] != script.frames:
            raise ValueError(f"{where}: digit {actor.digit}'s segments must be consecutive and cover frames [0, "
                             f"{script.frames}), got {[(s.start, s.stop) for s in actor.segments]}.")
        for s in actor.segments:
            if s.action not in ACTIONS or s.stop <= s.start:
                raise ValueError(f"{where}: bad segment {s}; actions are {ACTIONS} and stop must exceed start.")
        if actor.poses and len(actor.poses) != script.frames:
            raise ValueError(f"{where}: digit {actor.digit} has {len(actor.poses)} poses for {script.frames} frames.")


# ---- labels --------------------------------------------------------------------------------------


def frame_actions(script: Script) -> list[frozenset[str]]:
    """The set of actions happening in each frame (one per digit, merged when both do the same)."""
    per_actor = [a.actions() for a in script.actors]
    return [frozenset(acts[t] for acts in per_actor) for t in range(script.frames)]


def action_counts(script: Script) -> dict[str, int]:
    """Digit-frames per action, summed over the digits (actions that do not occur are left out)."""
    counts: dict[str, int] = {}
    for actor in script.actors:
        for s in actor.segments:
            counts[s.action] = counts.get(s.action, 0) + s.stop - s.start
    return counts


def main_action(script: Script) -> str:
    """The clip's label: the action filling the most digit-frames (ties go to the earlier in ACTIONS)."""
    counts = action_counts(script)
    return max(ACTIONS, key=lambda a: (counts.get(a, 0), -ACTIONS.index(a)))


def frame_targets(script: Script) -> np.ndarray:
    """(T, A) multi-hot float32: 1 where action a happens in frame t (columns in ACTIONS order)."""
    out = np.zeros((script.frames, len(ACTIONS)), dtype=np.float32)
    for actor in script.actors:
        for t, action in enumerate(actor.actions()):
            out[t, ACTIONS.index(action)] = 1.0
    return out


# ---- scripts ---------------------------------------------------------------------------------------


def _partition(rng: np.random.Generator, total: int, parts: int, least: int) -> list[int]:
    """``parts`` lengths of at least ``least`` summing to ``total``, uniformly among such compositions."""
    extra = total - parts * least
    bars = (np.sort(rng.choice(extra + parts - 1, size=parts - 1, replace=False)) if parts > 1
            else np.array([], dtype=int))
    edges = np.concatenate([[-1], bars, [extra + parts - 1]])
    return [least + int(d) - 1 for d in np.diff(edges)]


def _relative_path(rng: np.random.Generator, segments: list[Segment], frames: int, angle0: float) -> np.ndarray:
    """(T, 4) dx, dy, relative size, angle of each frame, starting from (0, 0, 1, angle0)."""
    path = np.zeros((frames, 4))
    path[0] = (0.0, 0.0, 1.0, angle0)
    for s in segments:
        v, r, w = rng.uniform(1.5, 3.0), rng.uniform(1.06, 1.10), rng.uniform(10.0, 16.0)
        height = rng.uniform(8.0, 12.0)
        turn = -1.0 if path[s.start, 3] > 0 else 1.0  # towards upright first
        base_y = path[s.start, 1]
        for t in range(s.start, min(s.stop, frames - 1)):
            x, y, size, angle = path[t]
            k = t + 1 - s.start  # frames into the segment after this step
            if s.action in MOVES:
                dx, dy = MOVES[s.action]
                x, y = x + v * dx, y + v * dy
            elif s.action == "grows":
                size *= r
            elif s.action == "shrinks":
                size /= r
            elif s.action == "rotates":
                if abs(angle + turn * w) > MAX_ANGLE:
                    turn = -turn  # rock back rather than turn a 6 into a 9
                angle += turn * w
            elif s.action == "bounces":
                y = base_y - height * abs(np.sin(np.pi * k / BOUNCE_PERIOD))
            path[t + 1] = (x, y, size, angle)
    return path


def _place(rng: np.random.Generator, path: np.ndarray) -> tuple[Pose, ...] | None:
    """Absolute poses for a relative path: a start size and position that keep the digit on the canvas; None if none
    does."""
    lo, hi = SIZE_RANGE
    s_lo, s_hi = lo / path[:, 2].min(), hi / path[:, 2].max()
    if s_lo > s_hi:
        return None
    sizes = rng.uniform(s_lo, s_hi) * path[:, 2]
    theta = np.deg2rad(path[:, 3])
    half = sizes / 2 * (np.abs(np.cos(theta)) + np.abs(np.sin(theta)))  # half the width of the turned square
    start = []
    for d in (path[:, 0], path[:, 1]):
        a, b = np.max(half - d), np.min(CANVAS - half - d)
        if a > b:
            return None
        start.append(rng.uniform(a, b))
    x0, y0 = start
    return tuple(Pose(float(x0 + dx), float(y0 + dy), float(s), float(ang))
                 for (dx, dy, _, ang), s in zip(path, sizes, strict=True))


def make_actor(rng: np.random.Generator, digit: int, frames: int, min_segment: int = 4, max_segments: int = 3,
               tries: int = 100, actions: tuple[str, ...] = ACTIONS) -> Actor:
    """A digit doing 1..max_segments different consecutive ``actions``, each at least ``min_segment`` frames, kept on
    the canvas."""
    most = max(1, min(max_segments, frames // min_segment))
    for _ in range(tries):
        parts = int(rng.integers(min(2, most), most + 1))  # actions change within the clip whenever there is room
        lengths = _partition(rng, frames, parts, min_segment)
        chosen: list[str] = []
        for _ in lengths:
            chosen.append(str(rng.choice([a for a in actions if not chosen or a != chosen[-1]])))
        edges = np.cumsum([0, *lengths])
        segments = [Segment(a, int(b), int(e)) for a, b, e in zip(chosen, edges[:-1], edges[1:], strict=True)]
        poses = _place(rng, _relative_path(rng, segments, frames, rng.uniform(-10.0, 10.0)))
        if poses is not None:
            return Actor(digit, tuple(segments), poses)
    raise ValueError(f"make_actor: found no way to keep digit {digit} on the canvas in {tries} tries ({frames} "
                     f"frames); use longer clips or a smaller min_segment than {min_segment}.")


def _too_close(script: Script, least: float = 0.35) -> bool:
    """Whether two digits' centres ever come nearer than ``least`` times the sum of their sizes (one would hide the
    other)."""
    if len(script.actors) < 2:
        return False
    a, b = (np.array([(p.x, p.y, p.size) for p in actor.poses]) for actor in script.actors)
    return bool((np.hypot(a[:, 0] - b[:, 0], a[:, 1] - b[:, 1]) < least * (a[:, 2] + b[:, 2])).any())


def make_script(rng: np.random.Generator, frames: tuple[int, int] = (16, 24), actors: tuple[int, int] = (1, 2),
                min_segment: int = 4, max_segments: int = 3, margin: int = 2, tries: int = 1000,
                actions: tuple[str, ...] = ACTIONS) -> Script:
    """A random script: ``frames`` and ``actors`` are inclusive ranges; digits differ; the main action leads by
    ``margin``.

    Args:
        min_segment: the shortest a segment may be, in frames (a bounce needs 4 to show one hop).
        max_segments: the most actions one digit does in a clip.
        margin: digit-frames by which the main action must lead the runner-up (scripts are drawn until it does).
        actions: the actions to draw from (at least two; default all of ACTIONS).
    """
    if len(set(actions)) < 2 or not set(actions) <= set(ACTIONS):
        raise ValueError(f"make_script: actions must be two or more of {ACTIONS}, got {actions}.")
    if not (2 <= frames[0] <= frames[1] and 1 <= actors[0] <= actors[1] <= 2 and 1 <= min_segment <= frames[0]):
        raise ValueError("make_script: need 2 <= frames[0] <= frames[1], 1 <= actors <= 2 and min_segment <= "
                         f"frames[0]; got frames={frames}, actors={actors}, min_segment={min_segment}.")
    length = int(rng.integers(frames[0], frames[1] + 1))
    count = int(rng.integers(actors[0], actors[1] + 1))  # drawn once: the checks below must not favour one digit
    for _ in range(tries):
        digits = rng.choice(10, size=count, replace=False)
        script = Script(length, tuple(make_actor(rng, int(d), length, min_segment, max_segments, actions=tuple(actions))
                                      for d in digits))
        counts = sorted(action_counts(script).values(), reverse=True) + [0]
        if counts[0] - counts[1] >= margin and not _too_close(script):
            return script
    raise ValueError(f"make_script: no script of {length} frames in {tries} tries had a main action leading by "
                     f"margin={margin} (and its digits apart); lower the margin or allow longer clips.")


# ---- rendering -------------------------------------------------------------------------------------


def _bilinear(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``image`` sampled at fractional pixel-centre coordinates (rows, cols), zero outside."""
    h, w = image.shape
    r0, c0 = np.floor(rows).astype(int), np.floor(cols).astype(int)
    fr, fc = rows - r0, cols - c0
    padded = np.pad(image, 1)  # one pixel of background all round, so indices -1 and h read zero

    def at(r: np.ndarray, c: np.ndarray) -> np.ndarray:
        return padded[np.clip(r, -1, h) + 1, np.clip(c, -1, w) + 1]

    return ((1 - fr) * (1 - fc) * at(r0, c0) + (1 - fr) * fc * at(r0, c0 + 1)
            + fr * (1 - fc) * at(r0 + 1, c0) + fr * fc * at(r0 + 1, c0 + 1))


def draw_actor(actor: Actor, source: DigitSource, index: int) -> np.ndarray:
    """(T, 64, 64) float32 in [0, 1]: source image ``index`` drawn at each of the actor's poses.

    Each canvas pixel p is mapped back into the source image, u = b + (side/size) R(-angle) (p - centre),
    where b is the centre of the image's ink box, and read there by bilinear interpolation.
    """
    if not actor.poses:
        raise ValueError(f"draw_actor: digit {actor.digit} has no poses; make actors with make_actor.")
    top, left, side = source.boxes[index]
    image = source.images[index].astype(np.float64)
    image = image / max(float(image.max()), 1e-6)
    x, y, size, angle = (np.array([getattr(p, f) for p in actor.poses])[:, None, None]
                         for f in ("x", "y", "size", "angle"))
    grid = np.arange(CANVAS) + 0.5  # pixel centres
    dy, dx = grid[None, :, None] - y, grid[None, None, :] - x  # (T, 64, 1), (T, 1, 64)
    k, a = side / size, np.deg2rad(angle)  # (T, 1, 1)
    # R(-angle) with y pointing down: a positive angle turns the digit counter-clockwise on screen
    u_col = left + side / 2 + k * (np.cos(a) * dx - np.sin(a) * dy)  # (T, 64, 64)
    u_row = top + side / 2 + k * (np.sin(a) * dx + np.cos(a) * dy)
    return np.clip(_bilinear(image, u_row - 0.5, u_col - 0.5), 0.0, 1.0).astype(np.float32)  # (T, 64, 64)


def pick_images(script: Script, source: DigitSource, rng: np.random.Generator,
                pool: np.ndarray | None = None) -> tuple[int, ...]:
    """One source image of each actor's digit, drawn from ``pool`` (indices into the source; default all)."""
    pool = np.arange(len(source.labels)) if pool is None else np.asarray(pool)
    picked = []
    for actor in script.actors:
        choices = pool[source.labels[pool] == actor.digit]
        if len(choices) == 0:
            raise ValueError(f"render: the pool of {len(pool)} source images has no digit {actor.digit}.")
        picked.append(int(rng.choice(choices)))
    return tuple(picked)


def render_images(script: Script, source: DigitSource, indices: tuple[int, ...]) -> np.ndarray:
    """uint8 (T, 64, 64): each actor drawn from its source image, overlapping digits merged by the brighter pixel."""
    frames = np.max([draw_actor(a, source, i) for a, i in zip(script.actors, indices, strict=True)], axis=0)
    return np.round(255 * frames).astype(np.uint8)


def render(script: Script, images: DigitSource, rng: np.random.Generator, pool: np.ndarray | None = None) -> np.ndarray:
    """uint8 (T, 64, 64): the script drawn with handwriting picked at random from ``pool`` (see ``pick_images``)."""
    return render_images(script, images, pick_images(script, images, rng, pool))


# ---- data sets -------------------------------------------------------------------------------------


def script_to_dict(script: Script) -> dict[str, Any]:
    """A script as plain data (for JSON files beside generated clips); ``script_from_dict`` reads it back."""
    return asdict(script)


def script_from_dict(d: dict[str, Any]) -> Script:
    """The script that ``script_to_dict`` wrote."""
    actors = tuple(Actor(a["digit"], tuple(Segment(**s) for s in a["segments"]), tuple(Pose(**p) for p in a["poses"]))
                   for a in d["actors"])
    return Script(d["frames"], actors)


@dataclass
class ClipSet:
    """Clips with their scripts. Clip i is ``clips[i, :lengths[i]]``; the frames after it are zero."""

    clips: np.ndarray  # (N, T_max, 64, 64) uint8
    lengths: np.ndarray  # (N,) int64
    scripts: list[Script]
    images: np.ndarray  # (N, 2) int64: the source image of each actor (-1: no second actor)
    seconds: float = 0.0  # how long building took (0 when read from the cache)
    cache: str = ""  # the cache file it was written to or read from ("" if not cached)

    def __len__(self) -> int:
        return len(self.scripts)

    def clip(self, i: int) -> np.ndarray:
        """uint8 (T_i, 64, 64)."""
        return self.clips[i, : self.lengths[i]]


def build_clips(source: DigitSource, pool: np.ndarray, n: int, seed: int, **script_options: Any) -> ClipSet:
    """``n`` clips from a seeded generator: a script each (``make_script(**script_options)``), drawn with handwriting
    from ``pool``."""
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    scripts = [make_script(rng, **script_options) for _ in range(n)]
    t_max = max((s.frames for s in scripts), default=1)
    clips = np.zeros((n, t_max, CANVAS, CANVAS), dtype=np.uint8)
    images = np.full((n, 2), -1, dtype=np.int64)
    for i, script in enumerate(scripts):
        picked = pick_images(script, source, rng, pool)
        clips[i, : script.frames] = render_images(script, source, picked)
        images[i, : len(picked)] = picked
    lengths = np.array([s.frames for s in scripts], dtype=np.int64)
    return ClipSet(clips, lengths, scripts, images, seconds=time.perf_counter() - start)


def clip_dataset(digits: str, split: str, n: int, seed: int, use_cache: bool = True, **script_options: Any) -> ClipSet:
    """``n`` clips of ``split`` ("train", "dev", "test"), drawn from that split's handwriting, cached on disk.

    The source images are split as the caption recipe splits them (``split_sources``), so dev
    and test clips show handwriting no training clip has. The same arguments give the same clips;
    they are kept in ``$RNNKIT_CACHE/video/`` under a name hashing all of them (and GENERATOR_VERSION).
    """
    if split not in SPLITS:
        raise ValueError(f"clip_dataset: split must be one of {SPLITS}, got {split!r}.")
    key = json.dumps({"digits": digits, "split": split, "n": n, "seed": seed, "version": GENERATOR_VERSION,
                      **{k: list(v) if isinstance(v, tuple) else v for k, v in sorted(script_options.items())}},
                      sort_keys=True)
    path = cache_dir("video") / f"clips-{split}-{n}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if use_cache and path.exists():
        with np.load(path, allow_pickle=False) as f:
            scripts = [script_from_dict(d) for d in json.loads(str(f["scripts"]))]
            return ClipSet(f["clips"], f["lengths"], scripts, f["images"], cache=str(path))
    source = load_source(digits)
    pool = split_sources(source.labels)[SPLITS.index(split)]
    clips = build_clips(source, pool, n, seed, **script_options)
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(tmp, clips=clips.clips, lengths=clips.lengths, images=clips.images,
                            scripts=np.array(json.dumps([script_to_dict(s) for s in clips.scripts])))
        tmp.replace(path)
        clips.cache = str(path)
    return clips


def read_clip(path: Path) -> np.ndarray:
    """A clip from a .npy file: (T, 64, 64) grey frames (uint8 0-255 or float 0-1), as float32 in [0, 1].

    Raises ValueError naming the file when it is not such an array.
    """
    if not path.exists():
        raise FileNotFoundError(f"video: no clip file {path}.")
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise ValueError(f"video: {path} is not a .npy array ({e}); save a clip with numpy.save(path, clip).") from None
    if not isinstance(array,
                      np.ndarray) or array.ndim != 3 or array.shape[1:] != (CANVAS, CANVAS) or array.shape[0] < 2:
        shape = getattr(array, "shape", None)
        raise ValueError(f"video: {path} holds an array of shape {shape}; expected (T, {CANVAS}, {CANVAS}) grey frames "
                         "with T >= 2 (frames, rows, columns).")
    if array.dtype == np.uint8:
        return array.astype(np.float32) / 255.0
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ValueError(f"video: {path} holds {array.dtype} values that are not all finite numbers; expected uint8 "
                         "0-255 or floats 0-1.")
    if array.min() < 0 or array.max() > 1:
        raise ValueError(f"video: {path} has float values from {array.min():g} to {array.max():g}; expected 0-1 (or "
                         "uint8 0-255).")
    return array.astype(np.float32)
