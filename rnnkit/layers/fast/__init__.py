"""The fast path: the quickest correct way to run a whole stack on the machine at hand.

    choose.py    which path runs a call: the one decision, by rule or by timing (``choose_path``)
    dispatch.py  runs the chosen path (``run_path``)
    stack.py     a stack as PyTorch's sequence kernels take it, and the one call of them
    fused.py     GRU and Elman sequence kernels with a hand-written backward (CPU)
    segments.py  an LSTM with lengths as the dense kernel once per distinct length
    onednn.py    float32 products through oneDNN with weights packed once
    native.py    the compiled gate math of kernels.c, built on the user's machine
"""

from rnnkit.layers.fast.choose import Path, Plan, autotune, choose_path
from rnnkit.layers.fast.dispatch import run_path
from rnnkit.layers.fast.stack import Stack

__all__ = ["Path", "Plan", "Stack", "autotune", "choose_path", "run_path"]
