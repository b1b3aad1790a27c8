"""Digit clips: scripts are well formed, every label is true of the pixels rendered, generation repeats from its
seed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnnkit.recipes.handwriting import DigitSource, ink_boxes, split_sources
from rnnkit.recipes.video.clips import (
    ACTIONS,
    CANVAS,
    SIZE_RANGE,
    Actor,
    Script,
    Segment,
    build_clips,
    clip_dataset,
    draw_actor,
    frame_actions,
    frame_targets,
    main_action,
    make_script,
    read_clip,
    render,
    render_images,
    script_from_dict,
    script_to_dict,
)


def bar_source() -> DigitSource:
    """Ten 'digits' that are one upright bar (5 px wide, 19 tall, centred) in a 28x28 frame: its centroid and axis are
    exact."""
    image = np.zeros((28, 28), dtype=np.float32)
    image[4:23, 12:17] = 1.0
    images = np.repeat(image[None], 10, axis=0)
    return DigitSource("bars", images, np.arange(10), ink_boxes(images))  # the square (4, 5, 19) around the bar


def moments(frame: np.ndarray) -> tuple[float, float, float, float]:
    """Mass, centroid (x, y), and the angle of the principal axis in degrees from vertical, counter-clockwise on
    screen."""
    f = frame.astype(np.float64)
    mass = f.sum()
    rows, cols = np.indices(f.shape) + 0.5
    y, x = (f * rows).sum() / mass, (f * cols).sum() / mass
    cxx, cyy, cxy = (f * (cols - x) ** 2).sum(), (f * (rows - y) ** 2).sum(), (f * (cols - x) * (rows - y)).sum()
    # the long axis runs along (sin theta, cos theta) in (x, y): a positive theta has its top to the left of its
    # bottom (y points down), which is a counter-clockwise turn on screen
    theta = 0.5 * np.arctan2(2 * cxy, cyy - cxx)  # the variances of that line: cxx ~ sin^2, cyy ~ cos^2, cxy ~ sin cos
    return float(mass), float(x), float(y), float(np.degrees(theta))


@pytest.fixture(scope="module")
def scripts() -> list[Script]:
    rng = np.random.default_rng(7)
    return [make_script(rng) for _ in range(40)]


def test_scripts_are_well_formed(scripts):
    assert {len(s.actors) for s in scripts} == {1, 2}
    for s in scripts:
        assert 16 <= s.frames <= 24
        assert len({a.digit for a in s.actors}) == len(s.actors)
        for actor in s.actors:
            assert [g.start for g in actor.segments] == [0] + [g.stop for g in actor.segments[:-1]]
            assert actor.segments[-1].stop == s.frames
            assert len(actor.actions()) == len(actor.poses) == s.frames
            assert all(g.stop - g.start >= 4 for g in actor.segments)
            acts = [g.action for g in actor.segments]
            assert all(a != b for a, b in zip(acts, acts[1:], strict=False))
            sizes = [p.size for p in actor.poses]
            assert SIZE_RANGE[0] - 1e-9 <= min(sizes) <= max(sizes) <= SIZE_RANGE[1] + 1e-9
            assert max(abs(p.angle) for p in actor.poses) <= 75.0 + 1e-9


def test_segments_that_do_not_cover_every_frame_are_refused():
    with pytest.raises(ValueError, match=r"cover frames \[0, 10\)"):
        Script(10, (Actor(3, (Segment("stays", 0, 4), Segment("grows", 5, 10))),))
    with pytest.raises(ValueError, match=r"cover frames \[0, 10\)"):
        Script(10, (Actor(3, (Segment("stays", 0, 8),)),))
    with pytest.raises(ValueError, match="two digits must differ"):
        Script(4, (Actor(3, (Segment("stays", 0, 4),)), Actor(3, (Segment("grows", 0, 4),))))
    with pytest.raises(ValueError, match="bad segment"):
        Script(4, (Actor(3, (Segment("dances", 0, 4),)),))


def test_labels_by_hand():
    a = Actor(7, (Segment("moves up", 0, 6), Segment("shrinks", 6, 10)))
    b = Actor(2, (Segment("moves up", 0, 3), Segment("rotates", 3, 10)))
    script = Script(10, (a, b))
    assert frame_actions(script)[0] == {"moves up"}
    assert frame_actions(script)[4] == {"moves up", "rotates"}
    assert frame_actions(script)[9] == {"shrinks", "rotates"}
    assert main_action(script) == "moves up"  # 6 + 3 digit-frames against rotates 7 and shrinks 4
    targets = frame_targets(script)
    assert targets.shape == (10, len(ACTIONS))
    assert targets[4].nonzero()[0].tolist() == [ACTIONS.index("moves up"), ACTIONS.index("rotates")]
    # tie: earlier in ACTIONS
    assert main_action(Script(10, (Actor(1, (Segment("grows", 0, 5), Segment("stays", 5, 10))),))) == "stays"


def test_main_action_leads_by_the_margin(scripts):
    for s in scripts:
        # frames with a, not digit-frames
        counts = {a: int(frame_targets(s)[:, i].sum()) for i, a in enumerate(ACTIONS)}
        per_actor = sum((np.array(act.actions())[:, None] == np.array(ACTIONS)[None]).sum(0) for act in s.actors)
        ranked = sorted(per_actor.tolist(), reverse=True)
        assert ranked[0] - ranked[1] >= 2
        assert ACTIONS[int(np.argmax(per_actor))] == main_action(s)
        assert counts[main_action(s)] > 0


def check_frame(action: str, now: tuple[float, ...], after: tuple[float, ...], where: str) -> None:
    """What the pixels must show from frame t to t+1 when a digit does ``action`` at t."""
    (m0, x0, y0, a0), (m1, x1, y1, a1) = now, after
    dx, dy, grow = x1 - x0, y1 - y0, m1 / m0
    turn = (a1 - a0 + 90) % 180 - 90
    still = abs(dx) < 0.3 and abs(dy) < 0.3
    same = abs(grow - 1) < 0.05  # resampling a thin stroke at a new position changes its sum a little
    expected = {
        "stays": still and abs(grow - 1) < 1e-6 and abs(turn) < 1e-3,
        "moves left": dx < -1.3 and abs(dy) < 0.3 and same,
        "moves right": dx > 1.3 and abs(dy) < 0.3 and same,
        "moves up": dy < -1.3 and abs(dx) < 0.3 and same,
        "moves down": dy > 1.3 and abs(dx) < 0.3 and same,
        "grows": grow > 1.10 and still,  # size x 1.06 or more: ink area x 1.12 or more
        "shrinks": grow < 1 / 1.10 and still,
        "rotates": 8 < abs(turn) < 18 and still and same,
        "bounces": abs(dy) > 2.0 and abs(dx) < 0.3 and same,  # a hop of 8-12 px over 2 frames each way
    }[action]
    assert expected, f"{where}: {action}: dx {dx:.2f} dy {dy:.2f} mass x{grow:.3f} turn {turn:.1f}"


def test_every_label_is_what_the_rendered_bar_does(scripts):
    source = bar_source()
    for n, s in enumerate(scripts):
        for actor in s.actors:
            frames = draw_actor(actor, source, actor.digit)
            stats = [moments(f) for f in frames]
            for t, action in enumerate(actor.actions()[:-1]):
                check_frame(action, stats[t], stats[t + 1], f"script {n}, digit {actor.digit}, frame {t}")
            for pose, (mass, x, y, angle) in zip(actor.poses, stats, strict=True):
                assert mass == pytest.approx(5 * 19 * (pose.size / 19) ** 2, rel=0.02)  # all of it on the canvas
                assert (x, y) == pytest.approx((pose.x, pose.y), abs=0.15)  # bilinear sampling blurs a little
                assert (angle - pose.angle + 90) % 180 - 90 == pytest.approx(0, abs=1.0)


def test_real_digits_move_and_grow_as_labelled(scripts, sklearn_digits):
    """The same checks of position and size on real handwriting (its axis is not a bar's, so no angle check)."""
    rng = np.random.default_rng(3)
    for n, s in enumerate(scripts[:30]):
        for actor in s.actors:
            index = int(rng.choice(np.flatnonzero(sklearn_digits.labels == actor.digit)))
            stats = [moments(f) for f in draw_actor(actor, sklearn_digits, index)]
            for t, action in enumerate(actor.actions()[:-1]):
                if action == "rotates":  # turning a digit about its box centre moves its ink centroid
                    assert stats[t + 1][0] == pytest.approx(stats[t][0], rel=0.05)
                    continue
                check_frame(action, stats[t], stats[t + 1], f"script {n}, digit {actor.digit}, frame {t}")


def test_a_clip_is_its_digits_drawn_together(scripts, sklearn_digits):
    s = next(s for s in scripts if len(s.actors) == 2)
    clip = render_images(s, sklearn_digits, (int(np.flatnonzero(sklearn_digits.labels == s.actors[0].digit)[0]),
                                             int(np.flatnonzero(sklearn_digits.labels == s.actors[1].digit)[0])))
    assert clip.shape == (s.frames, CANVAS, CANVAS)
    assert clip.dtype == np.uint8
    first = draw_actor(s.actors[0], sklearn_digits, int(np.flatnonzero(sklearn_digits.labels == s.actors[0].digit)[0]))
    assert (clip >= np.round(255 * first) - 1).all()
    assert clip.max() >= 250


def test_generation_repeats_from_its_seed(sklearn_digits):
    pool = np.arange(len(sklearn_digits.labels))
    a, b = build_clips(sklearn_digits, pool, 5, seed=3), build_clips(sklearn_digits, pool, 5, seed=3)
    c = build_clips(sklearn_digits, pool, 5, seed=4)
    np.testing.assert_array_equal(a.clips, b.clips)
    assert a.scripts == b.scripts
    assert a.scripts != c.scripts
    rng1, rng2 = np.random.default_rng(1), np.random.default_rng(1)
    np.testing.assert_array_equal(render(make_script(rng1), sklearn_digits, rng1),
                                  render(make_script(rng2), sklearn_digits, rng2))


def test_clip_sets_are_cached_and_held_out_clips_use_held_out_handwriting(tmp_path, monkeypatch, sklearn_digits):
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    built = clip_dataset("sklearn", "test", 6, seed=2)
    assert built.seconds > 0
    assert Path(built.cache).parent == tmp_path / "video"
    again = clip_dataset("sklearn", "test", 6, seed=2)
    assert again.seconds == 0  # read back, not built
    np.testing.assert_array_equal(again.clips, built.clips)
    np.testing.assert_array_equal(again.images, built.images)
    assert again.scripts == built.scripts
    for i in range(len(again)):
        assert again.clip(i).shape == (again.scripts[i].frames, CANVAS, CANVAS)
    _, _, test_pool = split_sources(sklearn_digits.labels)
    used = built.images[built.images >= 0]
    assert set(used.tolist()) <= set(test_pool.tolist())
    assert clip_dataset("sklearn", "test", 6, seed=2, frames=(12, 12)).cache != built.cache  # other options, other file


def test_scripts_survive_the_round_trip_through_json(scripts):
    assert [script_from_dict(script_to_dict(s)) for s in scripts] == scripts


def test_read_clip_names_the_file_and_the_problem(tmp_path):
    good = tmp_path / "good.npy"
    np.save(good, np.zeros((5, CANVAS, CANVAS), dtype=np.uint8))
    assert read_clip(good).shape == (5, CANVAS, CANVAS)
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 32, 32)))
    with pytest.raises(ValueError, match=r"wrong\.npy holds an array of shape \(5, 32, 32\); expected \(T, 64, 64\)"):
        read_clip(wrong)
    text = tmp_path / "text.npy"
    text.write_text("not numpy")
    with pytest.raises(ValueError, match=r"text\.npy is not a \.npy array"):
        read_clip(text)
    loud = tmp_path / "loud.npy"
    np.save(loud, np.full((3, CANVAS, CANVAS), 7.0))
    with pytest.raises(ValueError, match=r"loud\.npy has float values from 7 to 7; expected 0-1"):
        read_clip(loud)
    with pytest.raises(FileNotFoundError, match="missing.npy"):
        read_clip(tmp_path / "missing.npy")



def test_scripts_draw_only_the_actions_asked_for():
    rng = np.random.default_rng(11)
    for _ in range(10):
        s = make_script(rng, actions=("grows", "rotates"))
        assert {g.action for a in s.actors for g in a.segments} <= {"grows", "rotates"}
    with pytest.raises(ValueError, match="actions must be two or more of"):
        make_script(rng, actions=("grows",))
    with pytest.raises(ValueError, match="actions must be two or more of"):
        make_script(rng, actions=("grows", "flies"))
