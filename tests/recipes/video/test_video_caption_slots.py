"""Digit slots: the grid targets sit where the generator drew each digit, the slots read the grid as the equations
say, and a small encoder learns to name the digits of frames it trained on."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from rnnkit.recipes.handwriting import DigitSource
from rnnkit.recipes.video.clips import ACTIONS, CANVAS, Actor, Pose, Script, Segment, draw_actor, make_script, render
from rnnkit.recipes.video.slots import (
    CELL,
    CLIP_FEATURES,
    DIGITS,
    GRID,
    IGNORE,
    PER_DIGIT,
    SIZE_SCALE,
    SLOT,
    SlotEncoder,
    SlotTagger,
    cell_of,
    clip_slots,
    frame_context,
    grid_targets,
    present_digits,
    slot_actions,
)


def test_cell_of_by_hand():
    assert cell_of(0.0, 0.0) == 0
    assert cell_of(63.9, 0.0) == GRID - 1  # top right
    assert cell_of(12.0, 20.0) == 2 * GRID + 1  # row 20 // 8 = 2, column 12 // 8 = 1
    assert cell_of(-3.0, 70.0) == (GRID - 1) * GRID  # outside the canvas: the nearest cell


def test_grid_targets_by_hand():
    still = (Pose(12.0, 20.0, 20.0, 0.0), Pose(12.0, 20.0, 20.0, 0.0), Pose(12.0, 20.0, 20.0, 0.0))
    rising = (Pose(50.0, 50.0, 28.0, 0.0), Pose(50.0, 47.0, 28.0, 0.0), Pose(50.0, 40.0, 28.0, 0.0))
    script = Script(3, (Actor(7, (Segment("stays", 0, 3),), still),
                        Actor(2, (Segment("moves up", 0, 2), Segment("grows", 2, 3)), rising)))
    classes, actions, sizes = grid_targets(script, 2)
    assert classes.shape == actions.shape == sizes.shape == (GRID * GRID,)
    assert {int(c): int(classes[c]) for c in np.flatnonzero(classes)} == {17: 1 + 7, 5 * GRID + 6: 1 + 2}
    assert actions[17] == ACTIONS.index("stays")
    assert actions[5 * GRID + 6] == ACTIONS.index("grows")  # frame 2 is the second digit's "grows" segment
    assert (actions != IGNORE).sum() == 2
    assert sizes[17] == pytest.approx(20.0 / SIZE_SCALE)
    assert sizes[5 * GRID + 6] == pytest.approx(28.0 / SIZE_SCALE)
    assert grid_targets(script, 0)[0][6 * GRID + 6] == 1 + 2  # y 50 -> row 6 at first; 40 -> row 5 at frame 2
    with pytest.raises(ValueError, match="frame 3 is outside the script's 3 frames"):
        grid_targets(script, 3)


def test_grid_targets_sit_where_the_generator_drew_each_digit(sklearn_digits: DigitSource):
    rng = np.random.default_rng(3)
    checked = 0
    for _ in range(20):
        script = make_script(rng)
        for actor in script.actors:
            ink = draw_actor(actor, sklearn_digits, int(np.flatnonzero(sklearn_digits.labels == actor.digit)[0]))
            for t in range(script.frames):
                classes, _, _ = grid_targets(script, t)
                cell = cell_of(actor.poses[t].x, actor.poses[t].y)
                assert classes[cell] == 1 + actor.digit
                # the digit's ink is centred on its target cell: the centre of its drawn box lies inside the cell
                # (a few pixels of slack: the box turns with the digit and the strokes need not fill it evenly)
                rows, cols = np.nonzero(ink[t] > 0.2)
                x, y = (cols.min() + cols.max() + 1) / 2, (rows.min() + rows.max() + 1) / 2
                row, col = divmod(cell, GRID)
                slack = 0.3 * actor.poses[t].size
                assert col * CELL - slack <= x <= (col + 1) * CELL + slack
                assert row * CELL - slack <= y <= (row + 1) * CELL + slack
                checked += 1
    assert checked > 300


def test_slots_read_the_grid_by_hand(one_thread):
    encoder = SlotEncoder(8)
    classes = torch.full((1, GRID * GRID, 1 + DIGITS), -20.0)
    classes[0, :, 0] = 20.0  # background everywhere ...
    classes[0, 9, 0], classes[0, 9, 1 + 3] = -20.0, 20.0  # ... but a three centred in cell 9 (row 1, column 1)
    actions = torch.zeros(1, GRID * GRID, len(ACTIONS))
    actions[0, 9, 2] = 30.0  # moving right
    sizes = torch.full((1, GRID * GRID), 0.9)
    sizes[0, 9] = 0.5
    slots = encoder.slots(classes, actions, sizes)  # (1, 10, SLOT)
    assert slots.shape == (1, DIGITS, SLOT)
    assert present_digits(slots).tolist() == [[d == 3 for d in range(10)]]
    assert slot_actions(slots)[0, 3] == 2
    torch.testing.assert_close(slots[0, 3, 1 + len(ACTIONS) :], torch.tensor([1.5 / GRID, 1.5 / GRID, 0.5]))
    torch.testing.assert_close(slots[0, 3, 0], torch.tensor(1.0))
    assert float(slots[0, [0, 1, 2, 4, 5, 6, 7, 8, 9], 0].max()) < 1e-6


def test_a_small_encoder_learns_to_name_the_digits_of_its_frames(one_thread, sklearn_digits: DigitSource):
    rng = np.random.default_rng(0)
    scripts = [make_script(rng, frames=(4, 4), min_segment=2, margin=0) for _ in range(6)]
    clips = [torch.from_numpy(render(s, sklearn_digits, rng)).float() / 255.0 for s in scripts]
    context = torch.cat([frame_context(c[None])[0] for c in clips])  # (24, 3, 64, 64)
    targets = [torch.from_numpy(np.stack(parts)) for parts in
               zip(*(grid_targets(s, t) for s in scripts for t in range(4)), strict=True)]
    truth = torch.zeros(len(context), DIGITS, dtype=torch.bool)
    for k, s in enumerate(scripts):
        for actor in s.actors:
            truth[4 * k : 4 * k + 4, actor.digit] = True
    torch.manual_seed(0)
    tagger = SlotTagger(SlotEncoder(16))
    optimizer = torch.optim.Adam(tagger.parameters(), lr=3e-3)
    for _ in range(150):
        _, loss = tagger(context, *targets)
        assert loss is not None
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    tagger.eval()  # batch norm from its running statistics: the frames seen in training, whose mean it has
    with torch.no_grad():
        slots, _ = tagger(context)
    named = (present_digits(slots) == truth).all(1).float().mean()
    assert named >= 0.9, f"the digits of only {named:.0%} of its own {len(context)} frames were named"
    assert CANVAS == GRID * CELL


def test_clip_slots_pick_the_clips_two_digits_in_increasing_order(one_thread):
    lengths = torch.tensor([3, 2])
    slots = torch.rand(2, 3, DIGITS, SLOT) * 0.4  # presence below 0.4 everywhere ...
    slots[0, :, 8, 0], slots[0, :, 2, 0] = 0.9, 0.8  # ... but clip 0 shows an eight and a two
    slots[0, 1, 5, 0] = 1.0  # and one frame thinks it saw a five: its mean over the clip, 0.4 at most, loses
    slots[1, :2, 6, 0] = 0.95  # clip 1 shows a six in its two frames
    slots[1, 2] = 0.0  # padding
    slots[1, :2, 1, 0] = 0.5  # its runner-up, a one, at 0.5: the captioner sees how sure each is
    out = clip_slots(slots.flatten(2), lengths)  # (2, 3, 2 * PER_DIGIT)
    assert out.shape == (2, 3, CLIP_FEATURES)
    first, second = out[..., :PER_DIGIT], out[..., PER_DIGIT:]
    assert first[0, 0, :DIGITS].argmax() == 2  # the two is named first, then the eight
    assert second[0, 0, :DIGITS].argmax() == 8
    torch.testing.assert_close(first[0, :, DIGITS], torch.full((3,), 0.8))  # P_d: its mean presence
    torch.testing.assert_close(first[0, :, DIGITS + 1 :], slots[0, :, 2])  # each frame's slot of the two
    torch.testing.assert_close(second[0, :, DIGITS + 1 :], slots[0, :, 8])
    assert first[1, 0, :DIGITS].argmax() == 1  # clip 1: the one (0.5) before the six (0.95)
    torch.testing.assert_close(second[1, :2, DIGITS], torch.full((2,), 0.95))
    assert torch.all(out[1, 2] == 0)  # nothing past the clip
