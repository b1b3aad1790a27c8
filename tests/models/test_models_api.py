"""The public surface: the package example runs, configs make CLI flags and checkpoints, layer options reach the
core."""

import argparse
import dataclasses
import doctest

import pytest
import torch

import rnnkit.models
from rnnkit.models import (
    ManyToMany,
    ManyToManyConfig,
    ManyToOne,
    ManyToOneConfig,
    OneToMany,
    OneToManyConfig,
    OneToOne,
    OneToOneConfig,
    Seq2Seq,
    Seq2SeqConfig,
)
from rnnkit.utils.config import add_dataclass_flags, dataclass_from_args

CONFIGS = [
    (OneToOne, OneToOneConfig(num_outputs=3, input_size=4, hidden_size=5)),
    (ManyToOne, ManyToOneConfig(num_outputs=3, input_size=4, hidden_size=5)),
    (ManyToMany, ManyToManyConfig(num_tags=3, vocab_size=5, input_size=4, hidden_size=5)),
    (OneToMany, OneToManyConfig(vocab_size=6, input_size=4, hidden_size=5)),
    (Seq2Seq, Seq2SeqConfig(vocab_size=6, input_size=4, hidden_size=5)),
]


def test_package_example_runs():
    torch.manual_seed(0)
    result = doctest.testmod(rnnkit.models, verbose=False)
    assert result.attempted >= 8
    assert result.failed == 0


@pytest.mark.parametrize(("model_cls", "config"), CONFIGS)
def test_configs_are_frozen_and_round_trip_through_flags_and_checkpoints(model_cls, config):
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.hidden_size = 7
    assert all(f.metadata.get("help") for f in dataclasses.fields(config))
    parser = argparse.ArgumentParser()
    add_dataclass_flags(parser, type(config))
    args = parser.parse_args(["--hidden-size", "9", "--cell", "gru"])
    first = dataclasses.fields(config)[0].name  # the required field (sizes of the output)
    rebuilt = dataclass_from_args(type(config), args, **{first: getattr(config, first)})
    assert rebuilt.hidden_size == 9
    assert rebuilt.cell == "gru"
    # a checkpoint stores asdict(config) and the state dict; both load back into an equal model
    model = model_cls(config)
    again = model_cls(type(config)(**dataclasses.asdict(config)))
    again.load_state_dict(model.state_dict())
    assert again.config == config


def test_layer_options_reach_the_core_layer():
    cfg = ManyToOneConfig(num_outputs=2, input_size=3, hidden_size=4, num_layers=2, cell="lstm", bidirectional=True,
                          dropout=0.2, recurrent_dropout=0.1, layer_norm=True)
    rnn = ManyToOne(cfg).rnn
    assert (rnn.num_layers, rnn.bidirectional, rnn.dropout, rnn.recurrent_dropout,
            rnn.layer_norm) == (2, True, 0.2, 0.1, True)
    assert type(rnn).__name__ == "LSTM"
    assert rnn.batch_first
    assert type(Seq2Seq(Seq2SeqConfig(vocab_size=5, cell="rnn")).decoder).__name__ == "RNN"
    with pytest.raises(ValueError, match="Seq2Seq: layer_norm needs cell='lstm', got cell='gru'"):
        Seq2Seq(Seq2SeqConfig(vocab_size=5, cell="gru", layer_norm=True))
    with pytest.raises(ValueError, match=r"ManyToMany: recurrent_dropout must be in \[0, 1\)"):
        ManyToMany(ManyToManyConfig(num_tags=2, recurrent_dropout=1.0))


def test_layer_norm_model_respects_padding_too():
    """layer_norm runs the core's reference loop rather than the fused kernels; padding must still not leak."""
    torch.manual_seed(0)
    model = ManyToMany(ManyToManyConfig(num_tags=3, input_size=3, hidden_size=4, layer_norm=True)).double().eval()
    x, lengths = torch.randn(2, 4, 3, dtype=torch.float64), torch.tensor([4, 2])
    emissions, _ = model(x, lengths=lengths)
    torch.testing.assert_close(emissions[1:, :2], model(x[1:, :2])[0])


def test_recurrent_dropout_is_active_in_training_only():
    torch.manual_seed(0)
    model = ManyToOne(ManyToOneConfig(num_outputs=2, input_size=3, hidden_size=8, recurrent_dropout=0.5))
    x = torch.randn(2, 6, 3)
    assert not torch.equal(model(x)[0], model(x)[0])
    model.eval()
    assert torch.equal(model(x)[0], model(x)[0])
