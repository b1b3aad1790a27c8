"""The CTC ensemble (the members' mean log-posteriors, renormalised) against the normalised geometric mean of
their frame distributions computed in float64, its two decodings in the recipe (by strings: each member's candidates
rescored by all; by the mean posteriors), and digits-ctc's --init-seed and --members settings: what each member
differs in and what stays the data of --seed."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from rnnkit.recipes.speech import ctc
from rnnkit.recipes.speech.data import spell
from rnnkit.recipes.speech.features import FeatureConfig
from rnnkit.recipes.speech.model import CTCConfig, CTCEnsemble, CTCModel
from rnnkit.recipes.speech.recipe import ConnectedDigitsConfig, ConnectedDigitsRecipe, SpeechData, Transcribed

META = {"words": [str(w) for w in range(11)], "features": {"n_mels": 8, "stack": 2}}


def _members(n: int, input_size: int = 6) -> list[CTCModel]:
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        out.append(CTCModel(CTCConfig(num_labels=4, input_size=input_size, hidden_size=5, num_layers=1)).eval())
    return out


def test_ensemble_is_the_normalised_geometric_mean_of_the_members():
    members = _members(3)
    x = torch.randn(2, 7, 6, generator=torch.Generator().manual_seed(0))  # (B, T, F)
    lengths = torch.tensor([7, 4])
    with torch.no_grad():
        lp, loss = CTCEnsemble(members)(x, lengths=lengths)  # (B, T, V+1)
        probs = torch.stack([m(x, lengths=lengths)[0].double().exp() for m in members])  # (N, B, T, V+1)
    geometric = probs.prod(0) ** (1 / 3)  # (B, T, V+1): the cube root of the product of the three distributions
    expected = geometric / geometric.sum(-1, keepdim=True)
    assert loss is None
    torch.testing.assert_close(lp.double().exp(), expected, atol=1e-6, rtol=1e-5)
    assert not torch.allclose(lp, members[0](x, lengths=lengths)[0])  # not just the first member
    with torch.no_grad():  # one member: its own distribution
        torch.testing.assert_close(CTCEnsemble(members[:1])(x, lengths=lengths)[0], members[0](x, lengths=lengths)[0])


def test_ensemble_refuses_training_and_mismatched_members():
    members = _members(2)
    with pytest.raises(ValueError, match="train its members apart"):
        CTCEnsemble(members)(torch.zeros(1, 3, 6), targets=torch.tensor([1]), target_lengths=torch.tensor([1]))
    with pytest.raises(ValueError, match="differ in"):
        CTCEnsemble([members[0], *_members(1, input_size=9)])
    with pytest.raises(ValueError, match="no members"):
        CTCEnsemble([])
    with pytest.raises(ValueError, match="combine must be one of .*got 'frames'"):
        CTCEnsemble(members, combine="frames")


@pytest.mark.parametrize("beam", [1, 4])
def test_recipe_decodes_an_ensemble_by_strings_or_by_its_mean_posteriors(beam: int):
    recipe = ConnectedDigitsRecipe()
    g = torch.Generator().manual_seed(1)
    inputs = [torch.randn(n, 6, generator=g) for n in (9, 5, 12, 7, 10, 6)]  # (T, F) each
    members = _members(3)
    with torch.no_grad():
        each = [[m(x[None])[0][0] for x in inputs] for m in members]  # per member, per input: (T, V+1)
    by_strings = recipe.transcribe(CTCEnsemble(members, "strings"), inputs, beam)
    by_mean = recipe.transcribe(CTCEnsemble(members, "posteriors"), inputs, beam)
    for i in range(len(inputs)):
        lps = [e[i] for e in each]
        pool = {y for lp in lps for y in ctc.candidates(lp, beam)}
        scores: dict[tuple[int, ...], float] = {y: sum(float(ctc.log_likelihoods(lp, [y])[0]) for lp in lps)
                                                for y in pool}
        best = max(scores.items(), key=lambda kv: kv[1])[0]
        assert [w + 1 for w in by_strings[i]] == list(best)
        mean = torch.log_softmax(torch.stack(lps).mean(0), dim=-1)
        assert [w + 1 for w in by_mean[i]] == ctc.decode(mean, beam)
    assert by_strings != by_mean  # the two decodings differ on these inputs, so each test above tells them apart
    heard = recipe.hear(CTCEnsemble(members, "strings"), META, inputs, beam)  # what listen and predict print
    assert [h["frames"] for h in heard] == [len(x) for x in inputs]
    assert [h["digits"] for h in heard] == [spell(w) for w in by_strings]


def _weights(config: ConnectedDigitsConfig) -> dict[str, torch.Tensor]:
    torch.manual_seed(config.seed)  # as the runner does before build_model
    return ConnectedDigitsRecipe().build_model(config, META).state_dict()


def test_init_seed_moves_the_weights_only():
    plain, same, other = (_weights(ConnectedDigitsConfig(init_seed=s)) for s in (None, 0, 1))
    assert all(torch.equal(plain[k], same[k]) for k in plain)  # init seed 0 is --seed 0's own model
    assert not torch.equal(plain["head.weight"], other["head.weight"])
    # and leaves the global stream (dropout's) where --seed put it
    torch.manual_seed(0)
    ConnectedDigitsRecipe().build_model(ConnectedDigitsConfig(init_seed=1), META)
    after = torch.rand(3)
    torch.manual_seed(0)
    ConnectedDigitsRecipe().build_model(ConnectedDigitsConfig(init_seed=2), META)
    assert torch.equal(after, torch.rand(3))


def _first_batch(config: ConnectedDigitsConfig, d: SpeechData) -> torch.Tensor:
    return next(iter(ConnectedDigitsRecipe().batches(config, d, epoch=1)))["inputs"]


def test_init_seed_moves_the_batch_order_and_masks():
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randn(int(n), 80, generator=g) for n in torch.randint(20, 40, (40,), generator=g)]
    train = Transcribed(inputs, [[1, 2]] * 40, [f"u{i}" for i in range(40)], ["a"] * 40)
    empty = Transcribed([], [], [], [])
    d = SpeechData(train, empty, empty, None, {}, FeatureConfig(n_mels=40, stack=2))
    plain, same, other = (_first_batch(ConnectedDigitsConfig(init_seed=s, batch_size=8), d) for s in (None, 0, 1))
    assert torch.equal(plain, same)
    assert plain.shape != other.shape or not torch.equal(plain, other)


def test_members_are_runs_on_the_same_data_from_consecutive_init_seeds():
    recipe = ConnectedDigitsRecipe()
    assert recipe.runs(ConnectedDigitsConfig()) is None
    config = ConnectedDigitsConfig(members=3, seed=5, out="/tmp/e")
    runs = recipe.runs(config)
    assert runs is not None
    assert [(r.members, r.init_seed, r.out, r.seed) for r in runs] == [
        (1, None, "/tmp/e/member0", 5), (1, 6, "/tmp/e/member1", 5), (1, 7, "/tmp/e/member2", 5)]
    with pytest.raises(ValueError, match="drop --init-seed 2"):
        recipe.runs(ConnectedDigitsConfig(members=2, init_seed=2))
    with pytest.raises(ValueError, match="--members must be 1 or more, got 0"):
        recipe.runs(ConnectedDigitsConfig(members=0))
    model = recipe.build_model(config, META)  # what load_run rebuilds before loading the combined weights
    assert isinstance(model, CTCEnsemble)
    assert len(model.members) == 3
    assert model.combine == "strings"
    assert recipe.build_model(replace(config, combine="posteriors"), META).combine == "posteriors"
