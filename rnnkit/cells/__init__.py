"""One time step of each recurrent cell, as a pure function and as a module.

``CELLS`` maps a cell name to its module; it is the whole factory.
"""

from rnnkit.cells.gru import GRUCell, gru_step
from rnnkit.cells.ln_lstm import ln_lstm_step
from rnnkit.cells.lstm import LSTMCell, LSTMState, lstm_step
from rnnkit.cells.rnn import RNNCell, rnn_step

CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}

__all__ = ["CELLS", "GRUCell", "LSTMCell", "LSTMState", "RNNCell", "gru_step", "ln_lstm_step", "lstm_step", "rnn_step"]
