"""Recurrent layers over whole sequences: drop-ins for torch.nn.LSTM/GRU/RNN."""

from rnnkit.layers.convert import from_torch, to_torch
from rnnkit.layers.recurrent import GRU, LSTM, RNN, Recording, RecurrentBase

# The whole factory: a cell's name picks the sequence layer built from that cell.
LAYERS: dict[str, type[RecurrentBase]] = {"rnn": RNN, "lstm": LSTM, "gru": GRU}

__all__ = ["GRU", "LAYERS", "LSTM", "RNN", "Recording", "RecurrentBase", "from_torch", "to_torch"]
