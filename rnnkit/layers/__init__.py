"""Recurrent layers over whole sequences: drop-ins for torch.nn.LSTM/GRU/RNN."""

from rnnkit.layers.convert import from_torch, to_torch
from rnnkit.layers.recurrent import GRU, LSTM, RNN, Recording, RecurrentBase

__all__ = ["GRU", "LSTM", "RNN", "Recording", "RecurrentBase", "from_torch", "to_torch"]
