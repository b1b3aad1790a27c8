"""What the server serves: each run directory becomes one named model of one kind.

    charlm       a ``rnnkit train charlm`` checkpoint: /v1/generate (continuous batching, batching.py)
    classifier   ``recipe sentiment`` / ``spam``: /v1/predict gives each label with its probability
    tagger       ``recipe pos`` / ``ner``: /v1/predict gives a tag and its probability per token
    translator   ``recipe translate``: /v1/predict gives the translation

Every checkpoint goes through ``rnnkit.utils.checkpoint.load_checkpoint`` (char-LMs through
``rnnkit.lm.checkpoint.load_model``, recipes through ``rnnkit.recipes.load_run``, both built on it).
The recipe models answer through the recipe contract, as ``rnnkit predict`` does, but only with
text: ``rnnkit predict`` also reads a file when an input names one, which a server must never do
for a client. The other recipes (digits, gesture, forecast, music, caption) take files or arrays,
not text; they are listed by /v1/models with ``"predict": false``.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rnnkit.lm.char_lm import CharLM
from rnnkit.serve.batching import Batcher

KINDS = {"sentiment": "classifier", "spam": "classifier", "pos": "tagger", "ner": "tagger", "translate": "translator"}

@dataclass
class ServedModel:
    """One loaded model and what /v1/models says about it."""

    name: str
    kind: str  # charlm, classifier, tagger, translator, or the recipe name for one that is not served
    path: str
    info: dict[str, Any]
    charlm: CharLM | None = None
    batcher: Batcher | None = None
    predictor: Any = None  # (kind-specific) callable list[str] -> list[dict]
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def predicts(self) -> bool:
        return self.predictor is not None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "generate": self.batcher is not None,
                "predict": self.predicts, **self.info}

    def predict(self, inputs: list[str]) -> list[dict[str, Any]]:
        torch.set_num_threads(1)  # this pool thread's own OpenMP count: see rnnkit.serve.commands
        with self.lock, torch.no_grad():  # the recipe models are not made for concurrent calls
            return list(self.predictor(inputs))


def load_models(run_dirs: list[str], max_batch: int = 32, max_queue: int = 64, batching: bool = True,
                products: torch.dtype | None = None, threads: int | None = None) -> dict[str, ServedModel]:
    """Load every run directory (or .pt file); names are the directory names, made unique with -2, -3, ...

    ``products`` is the dtype of the char-LMs' weight products while generating (``torch.bfloat16``, where the CPU
    multiplies bf16 in hardware: ``rnnkit serve --precision``); None keeps float32. ``threads``: torch's threads in
    each char-LM's batching worker (``Batcher``)."""
    models: dict[str, ServedModel] = {}
    for run in run_dirs:
        path = Path(run)
        base = (path.parent.name if path.suffix == ".pt" else path.name) or "model"
        name, n = base, 2
        while name in models:
            name, n = f"{base}-{n}", n + 1
        models[name] = load_one(name, path, max_batch, max_queue, batching, products, threads)
    if not models:
        raise ValueError("rnnkit serve: give at least one run directory (or checkpoint file) to serve.")
    return models


def load_one(name: str, path: Path, max_batch: int, max_queue: int, batching: bool,
             products: torch.dtype | None = None, threads: int | None = None) -> ServedModel:
    """A char-LM, or a recipe model (its checkpoint names it in ``kind``, or ``task`` in the older layout the contract
    upgrades)."""
    from rnnkit.lm.checkpoint import is_charlm
    from rnnkit.utils.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    if is_charlm(checkpoint):
        return _load_charlm(name, path, max_batch, max_queue, batching, products, threads)
    if "kind" in checkpoint or checkpoint.get("task") in _contract_recipes():
        return _load_contract(name, path)
    raise ValueError(f"rnnkit serve: {path} is neither a char-LM nor a checkpoint of a recipe this rnnkit has "
                     f"(kind {checkpoint.get('kind')!r}, task {checkpoint.get('task')!r}); recipes: "
                     f"{', '.join(_contract_recipes())}.")


def _contract_recipes() -> tuple[str, ...]:
    try:
        from rnnkit.recipes import RECIPES
    except ImportError:
        return ()
    return tuple(RECIPES)


def _load_contract(name: str, path: Path) -> ServedModel:
    """A recipe on the contract. A classifier (``rankings``) is asked for every class's probability of each
    text; another recipe whose inputs are text answers through its ``predict``, never with a file path."""
    import dataclasses

    from rnnkit.recipes import all_recipes, load_run

    run = load_run(path, all_recipes())
    recipe, model, config, meta = run.recipe, run.model, run.config, run.meta
    info = {"task": recipe.name, "config": _jsonable(dataclasses.asdict(config)),
            "metrics": _metrics(path, run.checkpoint)}
    for key in ("classes", "labels", "tags"):
        if isinstance(meta.get(key), list):
            info["labels"] = [str(v) for v in meta[key]]
    if isinstance(meta.get("vocab"), dict) and isinstance(meta["vocab"].get("itos"), list):
        info["vocab_size"] = len(meta["vocab"]["itos"])
    if isinstance(meta.get("vocabs"), dict):  # a tagger's words and tags
        info["labels"], info["vocab_size"] = list(meta["vocabs"]["tags"]["itos"]), len(meta["vocabs"]["words"]["itos"])
    served = ServedModel(name, KINDS.get(recipe.name, recipe.name), str(path), info)
    if hasattr(recipe, "rankings"):  # text in, every class with its probability out

        def rank(texts: list[str]) -> list[dict[str, Any]]:
            read = [recipe.text_of(config, t) if hasattr(recipe, "text_of") else t for t in texts]
            return [{"label": str(r[0][0]), "probabilities": [{"label": str(c), "p": round(float(p), 6)} for c, p in r]}
                    for r in recipe.rankings(model, config, meta, read)]

        served.kind, served.predictor = "classifier", rank
    elif hasattr(recipe, "translate") and hasattr(config, "beam"):
        # sentences in, each translated on its own with its attention; no file is ever read
        translator, beam = recipe.translate, config.beam

        def translate(texts: list[str]) -> list[dict[str, Any]]:
            return _jsonable(translator(model, config, meta, texts, beam))

        served.predictor = translate
    # their inputs are text; the others' (digits, gesture, ...) are files, which a server must not read
    elif recipe.name in KINDS:

        def predict(texts: list[str]) -> list[dict[str, Any]]:
            results = _jsonable(recipe.predict(model, config, meta, texts_only(texts)))
            for r in results:  # a ranking of (label, probability) pairs reads as the classifiers' answer does
                if isinstance(r.get("ranking"), list) and r["ranking"] and "probabilities" not in r:
                    r["probabilities"] = [{"label": str(label), "p": p} for label, p in r["ranking"]]
                    r.setdefault("label", r["probabilities"][0]["label"])
            return results

        served.predictor = predict
    return served


def texts_only(texts: list[str]) -> list[str]:
    """The inputs, if none of them names a file or folder: a recipe's predict reads a file it is given, a server must
    not."""
    import os

    for i, text in enumerate(texts):
        if text.strip() and "\n" not in text and len(text) < 4096 and os.path.exists(text):
            raise ValueError(f"inputs[{i}]: send the text itself; the server does not read files")
    return texts


def _load_charlm(name: str, path: Path, max_batch: int, max_queue: int, batching: bool,
                 products: torch.dtype | None, threads: int | None) -> ServedModel:
    from rnnkit.lm.char_lm import classic_rnn
    from rnnkit.lm.checkpoint import load_model

    model, vocab, meta = load_model(path)
    classic_rnn(model, "rnnkit serve")  # before the units are measured: record() is the classic layers' own
    info = {"config": _jsonable(meta.get("config", {})), "vocab_size": len(vocab), "vocab": "".join(vocab.chars),
            "metrics": _jsonable(meta.get("metrics", {})), "step": meta.get("step"),
            "units": _interesting_units(model, meta), "precision": "bf16" if products == torch.bfloat16 else "fp32"}
    return ServedModel(name, "charlm", str(path), info, charlm=model,
                       batcher=Batcher(model, max_batch=max_batch, max_queue=max_queue, batching=batching,
                                       products=products, threads=threads))


def _interesting_units(model: CharLM, meta: dict[str, Any], k: int = 3) -> list[dict[str, Any]]:
    """The units most correlated with the lab's simple features, on a sample of the model's own text.

    The training text may not be on this machine, so the model writes 600 characters itself (seeded,
    so the list is the same at every start); ``rnnkit inspect`` does the same measurement on real text.
    """
    from rnnkit.lab.features import inside_quotes, line_position, word_position
    from rnnkit.lab.neurons import top_neurons, trace_text
    from rnnkit.lm.sample import sample

    assert model.vocab is not None
    vocab = model.vocab
    text = "\n" + sample(model, "\n", 600, temperature=1.0, generator=torch.Generator().manual_seed(0))
    trace = trace_text(model, vocab.encode, text)
    found = []
    for feature, values in (("inside quotes", inside_quotes(text)), ("position in line", line_position(text)),
                            ("position in word", word_position(text))):
        if np.ptp(values) == 0:
            continue  # the sample has no quotes (say): nothing to correlate with
        for neuron in top_neurons(trace, values, k=k, states=("h", "c") if model.config.cell == "lstm" else ("h",)):
            found.append({"feature": feature, "layer": neuron.layer, "name": neuron.state, "unit": neuron.unit,
                          "r": round(neuron.r, 3)})
    return found


def _metrics(path: Path, checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The recipe's results.json beside the checkpoint (test metrics), else what the checkpoint holds."""
    results = (path if path.is_dir() else path.parent) / "results.json"
    if results.is_file():
        try:
            summary = json.loads(results.read_text())
            return {k: v for k, v in summary.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        except (OSError, ValueError):
            pass
    return _jsonable(checkpoint.get("metrics", {}))


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (a config may hold tuples, paths or tensors)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return _jsonable(value.item())
    return str(value)
