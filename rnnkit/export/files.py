"""``rnnkit export RUN_DIR --format onnx|torchscript --out FILE``: which files a checkpoint becomes.

    char-LM                      FILE (whole sequence) + FILE.step.onnx (one step), or a TorchScript FILE; FILE.json
    sentiment / spam classifier  FILE (ids and lengths -> logits); FILE.json with vocabulary, classes, tokenisation
    pos / ner tagger             FILE (word, case, character ids and lengths -> emissions); FILE.json with the
                                 vocabularies, the input rules and a CRF's transition scores
    another recipe on ManyToOne  FILE (features (B, T, F) and lengths -> outputs); FILE.json with the recipe's meta
    (gesture, digits by rows)    (classes, scales), since the runtime must prepare the features as the recipe does
    translate (encoder-decoder)  FILE (the encoder) + FILE.decoder.onnx (one decoder step); FILE.json with both
                                 subword tokenizers (Hugging Face tokenizers JSON), bos/eos ids and how to decode
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import onnx

from rnnkit.export.charlm import charlm_onnx, charlm_torchscript, describe
from rnnkit.models.many_to_one import ManyToOne

CLASSIFIERS = ("sentiment", "spam")
TAGGERS = ("pos", "ner")


def export_run(run_dir: str | Path, fmt: str, out: str | Path) -> list[Path]:
    """Write the files for the checkpoint in ``run_dir``; returns their paths (the sidecar JSON last)."""
    from rnnkit.utils.checkpoint import load_checkpoint

    if fmt not in ("onnx", "torchscript"):
        raise ValueError(f"export: --format must be onnx or torchscript, got {fmt!r}.")
    if not Path(out).name or str(out).endswith("/"):  # '' was "PosixPath('.') has an empty name"
        raise ValueError(f"export: --out needs a file name, such as model.onnx; got {str(out)!r}.")
    checkpoint = load_checkpoint(run_dir)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sidecar = out.with_suffix(".json")
    name = checkpoint.get("kind") or checkpoint.get("task")
    if name is not None and name != "charlm":
        if fmt != "onnx":
            raise ValueError(f"export: a {name!r} model is exported as ONNX only; use --format onnx.")
        if name not in (*CLASSIFIERS, *TAGGERS, "translate"):
            return _export_sequence_classifier(run_dir, name, out, sidecar)
        if name == "translate":
            return _export_translate(run_dir, out, sidecar)
        if name in TAGGERS:
            return _export_tagger(run_dir, out, sidecar)
        from rnnkit.export.classifier import classifier_onnx, describe_text_classifier

        model, vocab, classes, max_len = _classifier_parts(run_dir, checkpoint)
        info = describe_text_classifier(name, vocab, classes, max_len)
        onnx.save(classifier_onnx(model, {"rnnkit.task": name, "rnnkit.classes": json.dumps(classes)}), out)
        sidecar.write_text(json.dumps({**info, "files": {"model": out.name}}, indent=1) + "\n")
        return [out, sidecar]

    from rnnkit.lm.checkpoint import load_model

    lm, _, _ = load_model(run_dir)
    if fmt == "onnx":
        graphs = charlm_onnx(lm)
        step = out.with_suffix(".step.onnx")
        onnx.save(graphs["sequence"], out)
        onnx.save(graphs["step"], step)
        written = [out, step]
        info = {**describe(lm, "onnx"), "files": {"sequence": out.name, "step": step.name}}
    else:
        charlm_torchscript(lm).save(str(out))
        written = [out]
        info = {**describe(lm, "torchscript"), "files": {"module": out.name}}
    sidecar.write_text(json.dumps(info, indent=1) + "\n")
    return [*written, sidecar]


def _classifier_parts(run_dir: str | Path, checkpoint: dict[str, Any]) -> tuple[Any, dict[str, Any], list[str], int]:
    """(ManyToOne model, word vocabulary as a dict, classes, max_len) of a text classifier checkpoint, on the
    recipe contract (``kind``, ``meta``) or in the layout from before it (``task``, ``model_config``)."""
    if "kind" in checkpoint:
        from rnnkit.recipes import all_recipes, load_run
        from rnnkit.recipes.text_classify.classifier import TextClassifierConfig

        run = load_run(run_dir, all_recipes())
        assert isinstance(run.config, TextClassifierConfig)  # CLASSIFIERS are the text_classify recipes
        return run.model, run.meta["vocab"], list(run.meta["classes"]), int(run.config.max_len)
    from rnnkit.models.many_to_one import ManyToOneConfig

    model = ManyToOne(ManyToOneConfig(**checkpoint["model_config"]))
    model.load_state_dict(checkpoint["model"])
    return model.eval(), checkpoint["vocab"], list(checkpoint["classes"]), int(checkpoint["config"]["max_len"])


def _export_translate(run_dir: str | Path, out: Path, sidecar: Path) -> list[Path]:
    from rnnkit.export.seq2seq import seq2seq_onnx
    from rnnkit.models.seq2seq import Seq2Seq
    from rnnkit.recipes import all_recipes, load_run

    run = load_run(run_dir, all_recipes())
    model = run.model
    assert isinstance(model, Seq2Seq)
    graphs = seq2seq_onnx(model, {"rnnkit.task": "translate"})
    decoder = out.with_suffix(".decoder.onnx")
    onnx.save(graphs["encoder"], out)
    onnx.save(graphs["decoder"], decoder)
    c = model.config
    info = {"format": "rnnkit.seq2seq.onnx/1", "task": "translate",
            "files": {"encoder": out.name, "decoder": decoder.name}, "bos_id": c.bos_id, "eos_id": c.eos_id,
            "max_length": c.max_length, "max_tokens": getattr(run.config, "max_tokens", None),
            "source_tokenizer": run.meta["source_tokenizer"], "target_tokenizer": run.meta["target_tokenizer"],
            "encoder": "inputs (B, S) int64 source subword ids (at most max_tokens; an empty sentence is [<unk>]), "
                       "lengths (B,) -> memory, mask, h[, c]",
                       "decoder": "tokens (B,), h[, c], memory, mask -> logits (B, V), h_new[, c_new], weights (B, S): "
                                  "start from bos_id, "
                                  "feed each step's argmax back, stop at eos_id or after min(max_length, 2 * source "
                                  "length + 10) steps "
                                  "(greedy, as rnnkit translate --beam 1); decode the ids with the target tokenizer, "
                                  "specials dropped"}
    sidecar.write_text(json.dumps(info, indent=1) + "\n")
    return [out, decoder, sidecar]


def _export_tagger(run_dir: str | Path, out: Path, sidecar: Path) -> list[Path]:
    from rnnkit.export.tagger import tagger_onnx
    from rnnkit.recipes import all_recipes, load_run
    from rnnkit.recipes.tagging.model import MAX_WORD

    run = load_run(run_dir, all_recipes())
    from rnnkit.recipes.tagging.model import Tagger

    model, vocabs = run.model, run.meta["vocabs"]
    assert isinstance(model, Tagger)
    onnx.save(tagger_onnx(model, {"rnnkit.task": run.recipe.name, "rnnkit.tags": json.dumps(vocabs["tags"]["itos"])}),
              out)
    crf = model.tagger.crf  # None without a CRF
    chars = vocabs["chars"]
    info: dict[str, Any] = {
        "format": "rnnkit.tagger.onnx/1", "task": run.recipe.name, "files": {"model": out.name},
        "tags": vocabs["tags"]["itos"], "words": vocabs["words"]["itos"],
        "words_unk_id": vocabs["words"]["itos"].index(vocabs["words"]["unk"]),
        "chars": chars["itos"] if chars else None, "chars_unk_id": chars["itos"].index(chars["unk"]) if chars else None,
        "max_word": MAX_WORD,
        "inputs": "words (B, T): ids of each token lower-cased with every digit as 0 (unknown: words_unk_id); cases "
                  "(B, T): "
                  "0 lower/other, 1 Capitalised, 2 UPPER, 3 no letters; chars (B, T, W) (when chars is not null): ids "
                  "of the "
                  "first max_word characters of each token, 0-padded (unknown: chars_unk_id); lengths (B,)",
        "outputs": "emissions (B, T, K): " + ("Viterbi over them with crf's transitions[i][j] (i -> j), start and end"
                                              if crf is not None else "argmax is the tag, softmax its probability"),
        "crf": None if crf is None
        else {"transitions": crf.transitions.tolist(), "start": crf.start.tolist(), "end": crf.end.tolist()},
    }
    sidecar.write_text(json.dumps(info, indent=1) + "\n")
    return [out, sidecar]


def _export_sequence_classifier(run_dir: str | Path, name: str, out: Path, sidecar: Path) -> list[Path]:
    """A recipe whose model is a ManyToOne over real-valued features (gesture, digits read by rows)."""
    from rnnkit.export.classifier import classifier_onnx
    from rnnkit.models.many_to_one import ManyToOne
    from rnnkit.recipes import all_recipes, load_run

    run = load_run(run_dir, all_recipes())
    if not isinstance(run.model, ManyToOne):
        raise ValueError(f"export: a {name!r} model ({type(run.model).__name__}) is not exported yet; char-LMs and the "
                         "models of the classifier, tagger, translate, gesture and digits (by rows) recipes are.")
    onnx.save(classifier_onnx(run.model, {"rnnkit.task": name}), out)
    c = run.model.config
    info = {"format": "rnnkit.sequence_classifier.onnx/1", "task": name, "files": {"model": out.name}, "meta": run.meta,
            "config": dataclasses.asdict(run.config),
            "inputs": (f"inputs (B, T, {c.input_size}) float features prepared as the {name} recipe prepares them "
                       "(see meta: e.g. its mean/std or scale), lengths (B,) int64"),
                       "outputs": f"logits (B, {c.num_outputs})"
                       + ("; softmax gives the class probabilities" if c.task == "classification" else "")}
    sidecar.write_text(json.dumps(info, indent=1, default=str) + "\n")
    return [out, sidecar]
