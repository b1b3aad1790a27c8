"""Recurrent layers over whole sequences: drop-ins for torch.nn.LSTM/GRU/RNN."""

from rnnkit.layers.convert import from_torch, to_torch
from rnnkit.layers.min_rnn import MinGRU, MinLSTM, MinRecurrentBase, MinStepper
from rnnkit.layers.recurrent import GRU, LSTM, RNN, Recording, RecurrentBase
from rnnkit.layers.stepper import Stepper

# The whole factory: a cell's name picks the sequence layer built from that cell.
LAYERS: dict[str, type[RecurrentBase]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}
# the parallel-scan layers (Feng et al., 2024): same constructor and forward, no Stepper/record/export (see min_rnn.py)
MIN_LAYERS: dict[str, type[MinRecurrentBase]] = {"mingru": MinGRU, "minlstm": MinLSTM}

__all__ = [
    "GRU", "LAYERS", "LSTM", "MIN_LAYERS", "RNN", "MinGRU", "MinLSTM", "MinRecurrentBase", "MinStepper", "Recording",
    "RecurrentBase", "Stepper", "from_torch", "to_torch",
]
