"""rnnkit: recurrent neural networks you can read, and train fast on the machine in front of you.

Levels, each importing only from those before it: cells (one step) -> layers (a whole
sequence) -> models (the five input/output configurations) -> lm (character-level
language model) -> recipes (applications on real data) -> cli.
"""

from rnnkit.cells import GRUCell, LSTMCell, LSTMState, RNNCell, gru_step, lstm_step, rnn_step
from rnnkit.layers import GRU, LSTM, RNN, Recording, from_torch, to_torch

__version__ = "0.1.0"

__all__ = [
    "GRU", "GRUCell", "LSTM", "LSTMCell", "LSTMState", "RNN", "RNNCell", "Recording",
    "from_torch", "gru_step", "lstm_step", "rnn_step", "to_torch", "__version__",
]
