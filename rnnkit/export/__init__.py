"""Export trained models to ONNX and TorchScript (``rnnkit export``): ``onnx_graph`` writes the recurrence
as ONNX nodes (any layer: cells, directions, depth, projections, lengths), ``charlm`` the char-LM files,
``classifier`` a sequence classifier, ``tagger`` a word tagger, ``seq2seq`` an encoder-decoder, ``files`` which
checkpoint becomes which files."""

from rnnkit.export.charlm import charlm_onnx, charlm_torchscript
from rnnkit.export.classifier import classifier_onnx
from rnnkit.export.files import export_run
from rnnkit.export.onnx_graph import layer_graphs
from rnnkit.export.seq2seq import seq2seq_onnx
from rnnkit.export.tagger import tagger_onnx

__all__ = ["charlm_onnx", "charlm_torchscript", "classifier_onnx", "export_run", "layer_graphs", "seq2seq_onnx",
           "tagger_onnx"]
