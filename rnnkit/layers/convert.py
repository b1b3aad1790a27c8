"""Conversion between rnnkit layers and torch.nn layers. The parameter names are the same,
so this is a copy of the state dict plus the constructor arguments."""

from __future__ import annotations

from torch import nn

from rnnkit.layers.recurrent import GRU, LSTM, RNN, RecurrentBase

_COMMON = ("input_size", "hidden_size", "num_layers", "bias", "batch_first", "dropout", "bidirectional")


def from_torch(module: nn.LSTM | nn.GRU | nn.RNN) -> RecurrentBase:
    """An rnnkit layer with the same configuration and weights as a torch.nn.LSTM, GRU or RNN."""
    if not isinstance(module, nn.LSTM | nn.GRU | nn.RNN):
        raise TypeError(f"from_torch: expected torch.nn.LSTM, GRU or RNN, got {type(module).__name__}.")
    kwargs = {k: getattr(module, k) for k in _COMMON}
    p = next(module.parameters())
    kwargs.update(device=p.device, dtype=p.dtype)
    layer: RecurrentBase
    if isinstance(module, nn.LSTM):
        layer = LSTM(proj_size=module.proj_size, **kwargs)
    elif isinstance(module, nn.GRU):
        layer = GRU(**kwargs)
    else:
        layer = RNN(nonlinearity=module.nonlinearity, **kwargs)
    layer.load_state_dict(module.state_dict())
    return layer


def to_torch(layer: RecurrentBase) -> nn.LSTM | nn.GRU | nn.RNN:
    """The torch.nn module with the same configuration and weights (layer norm has no torch.nn twin)."""
    name = type(layer).__name__
    if not isinstance(layer, LSTM | GRU | RNN):
        raise TypeError(f"to_torch: expected an rnnkit LSTM, GRU or RNN, got {name}.")
    if layer.layer_norm:
        raise ValueError(f"to_torch: {name} with layer_norm=True has no torch.nn equivalent.")
    if layer.recurrent_dropout:
        raise ValueError(
            f"to_torch: {name} has recurrent_dropout={layer.recurrent_dropout}, which torch.nn does not offer; "
            "set it to 0.0 first if you only need the weights."
        )
    kwargs = {k: getattr(layer, k) for k in _COMMON}
    p = next(layer.parameters())
    kwargs.update(device=p.device, dtype=p.dtype)
    module: nn.LSTM | nn.GRU | nn.RNN
    if isinstance(layer, LSTM):
        module = nn.LSTM(proj_size=layer.proj_size, **kwargs)
    elif isinstance(layer, GRU):
        module = nn.GRU(**kwargs)
    else:
        module = nn.RNN(nonlinearity=layer.nonlinearity, **kwargs)
    module.load_state_dict(layer.state_dict())
    return module
