"""One time step of each recurrent cell, as a pure function and as a module.

``CELLS`` maps a cell name to its module; it is the whole factory.
"""

from rnnkit.cells.gru import GRUCell, gru_step
from rnnkit.cells.ln_lstm import ln_lstm_step
from rnnkit.cells.lstm import LSTMCell, LSTMState, lstm_step
from rnnkit.cells.min_rnn import MinGRUCell, MinLSTMCell, mingru_step, minlstm_step
from rnnkit.cells.rnn import RNNCell, rnn_step

CELLS = {"rnn": RNNCell, "lstm": LSTMCell, "gru": GRUCell}
# the parallel-scan cells (Feng et al., 2024): their gates never see h_prev, so they are kept apart
MIN_CELLS = {"mingru": MinGRUCell, "minlstm": MinLSTMCell}

__all__ = [
    "CELLS", "MIN_CELLS", "GRUCell", "LSTMCell", "LSTMState", "MinGRUCell", "MinLSTMCell", "RNNCell", "gru_step",
    "ln_lstm_step", "lstm_step", "mingru_step", "minlstm_step", "rnn_step",
]
