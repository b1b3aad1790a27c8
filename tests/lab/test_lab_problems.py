"""The lab's synthetic tasks produce what they claim, and their baselines are what a memoryless model scores."""

import math

import pytest
import torch
import torch.nn.functional as F

from rnnkit.lab.problems import COUNTRIES, AddingTask, CopyTask, RecallTask, make_task


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("T", [2, 7, 50])
def test_adding_target_is_the_sum_of_the_two_marked_numbers(T):
    x, y = AddingTask(T).sample(256, gen())
    assert x.shape == (256, T, 2)
    assert y.shape == (256,)
    values, marks = x[..., 0], x[..., 1]
    assert torch.equal(marks.sum(1), torch.full((256,), 2.0))  # exactly two marks per sequence
    assert bool((marks[:, : T // 2].sum(1) == 1).all())  # one in the first half
    for b in range(256):
        marked = [values[b, t].item() for t in range(T) if marks[b, t] == 1]
        assert y[b].item() == pytest.approx(sum(marked), abs=1e-6)
    assert bool(((values >= 0) & (values < 1)).all())


def test_adding_baseline_is_the_mse_of_predicting_the_mean():
    _, y = AddingTask(20).sample(200_000, gen(1))
    empirical = F.mse_loss(torch.ones_like(y), y).item()  # the best constant prediction is E[y] = 1
    assert AddingTask(20).baseline() == pytest.approx(1 / 6)
    assert empirical == pytest.approx(1 / 6, abs=0.003)  # standard error ~0.0005 at this size


def test_adding_samples_are_reproducible_from_the_seed():
    a, b, c = (AddingTask(10).sample(4, gen(s)) for s in (3, 3, 4))
    assert torch.equal(a[0], b[0])
    assert not torch.equal(a[0], c[0])


@pytest.mark.parametrize("T", [1, 5, 30])
def test_copy_layout_symbols_blanks_delimiter_then_replay(T):
    task = CopyTask(T)
    x, y = task.sample(64, gen())
    assert x.shape == y.shape == (64, T + 20)
    assert bool(((x[:, :10] >= 1) & (x[:, :10] <= 8)).all())
    assert bool((x[:, 10 + T - 1] == 9).all())  # the delimiter is the last of the T blanks
    rest = torch.cat([x[:, 10 : 10 + T - 1], x[:, 10 + T :]], dim=1)
    assert bool((rest == 0).all())  # everything else is blank
    assert torch.equal(y[:, -10:], x[:, :10])  # the replay is the first 10 symbols
    assert bool((y[:, :-10] == 0).all())


@pytest.mark.parametrize("T", [1, 100, 400])
def test_copy_baseline_is_the_cross_entropy_of_blanks_then_a_uniform_guess(T):
    task = CopyTask(T)
    x, y = task.sample(32, gen())
    # the memoryless strategy as logits: certain blank before the replay, uniform over 1..8 during it
    logits = torch.full((32, T + 20, 10), -1e9)
    logits[:, :-10, 0] = 0.0
    logits[:, -10:, 1:9] = 0.0
    ce = F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()
    assert ce == pytest.approx(task.baseline(), rel=1e-6)
    assert task.baseline() == pytest.approx(10 * math.log(8) / (T + 20))


def test_recall_answer_depends_only_on_the_country_far_back():
    task = RecallTask(12)
    x, y = task.sample(200, gen())
    assert x.shape == (200, 12 + 9)
    assert y.shape == (200,)
    words = task.vocabulary
    for b in range(200):
        sentence = task.decode(x[b]).split()
        assert sentence[:4] == ["i", "grew", "up", "in"]
        assert sentence[-4:] == [".", "i", "speak", "fluent"]
        assert words[y[b]] == COUNTRIES[sentence[4]]
        assert not set(sentence[5:-4]) & (set(COUNTRIES) | set(COUNTRIES.values()))  # filler names nothing
    assert task.baseline() == pytest.approx(math.log(len(COUNTRIES)))
    assert len(set(y.tolist())) == len(COUNTRIES)  # all countries occur in 200 draws


def test_make_task_and_bad_lengths():
    assert isinstance(make_task("copy", 3), CopyTask)
    with pytest.raises(ValueError, match="unknown task 'add'"):
        make_task("add", 3)
    with pytest.raises(ValueError, match="AddingTask: length must be an integer >= 2, got 1"):
        AddingTask(1)
