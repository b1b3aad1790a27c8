"""Sampling from an exported char-LM with onnxruntime and numpy only: what a runtime without PyTorch does.

``OnnxCharLM(path)`` opens ``lm.onnx`` and ``lm.step.onnx`` (written by ``rnnkit export``);
``sample(prime, length, ...)`` follows ``rnnkit.lm.sample.sample`` step for step. The random
draws come from a callable ``exponentials(V) -> (V,)`` of Exp(1) numbers: fed the numbers
``torch.multinomial`` would draw from a seeded generator, it reproduces ``rnnkit sample --seed``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np


def distribution(logits: np.ndarray, temperature: float = 1.0, top_k: int | None = None,
                 top_p: float | None = None) -> np.ndarray:
    """Probabilities (V,) from logits (V,): tempered, cut to the top-k, then to the top-p nucleus (as
    next_char_distribution)."""
    z = logits.astype(np.float32) / np.float32(temperature)
    if top_k is not None:
        kth = np.sort(z)[::-1][min(top_k, z.size) - 1]
        z = np.where(z < kth, -np.inf, z)
    p = np.exp(z - z.max())
    p = p / p.sum()
    if top_p is not None:
        order = np.argsort(-p, kind="stable")
        sorted_p = p[order]
        keep_sorted = (np.cumsum(sorted_p) - sorted_p) < top_p  # keep while the more likely ones sum to < top_p
        keep = np.zeros_like(keep_sorted)
        keep[order] = keep_sorted
        p = np.where(keep, p, 0.0)
        p = p / p.sum()
    return p


class OnnxCharLM:
    """The two graphs of an exported char-LM in onnxruntime sessions, with its vocabulary."""

    def __init__(self, path: str | Path, threads: int | None = None, spin: bool = True) -> None:
        import onnxruntime as ort

        path = Path(path)
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        # onnxruntime's idle threads busy-wait by default, taking the CPU from anything else in the process
        if not spin:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.sequence = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.step_session = ort.InferenceSession(str(path.with_suffix(".step.onnx")), options,
                                                 providers=["CPUExecutionProvider"])
        meta = self.sequence.get_modelmeta().custom_metadata_map
        self.chars: list[str] = json.loads(meta["rnnkit.vocab"])
        self.config = json.loads(meta["rnnkit.config"])
        self.index = {c: i for i, c in enumerate(self.chars)}
        self.lstm = self.config["cell"] == "lstm"

    def zero_state(self, batch: int = 1) -> dict[str, np.ndarray]:
        h = np.zeros((self.config["num_layers"], batch, self.config["hidden_size"]), dtype=np.float32)
        return {"h": h, "c": h.copy()} if self.lstm else {"h": h}

    def warm(self, ids: list[int]) -> dict[str, np.ndarray]:
        """The state after reading ``ids`` (batch 1), from the sequence graph."""
        state = self.zero_state(1)
        if not ids:
            return state
        feeds = {"ids": np.array([ids], dtype=np.int64), "lengths": np.array([len(ids)], dtype=np.int64),
                 "h0": state["h"]}
        if self.lstm:
            feeds["c0"] = state["c"]
        outs = self.sequence.run(None, feeds)
        return {"h": outs[1], "c": outs[2]} if self.lstm else {"h": outs[1]}

    def step(self, current: int, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Logits (V,) for the character after ``current``, and the new state."""
        outs = self.step_session.run(None, {"ids": np.array([current], dtype=np.int64), **state})
        return outs[0][0], ({"h": outs[1], "c": outs[2]} if self.lstm else {"h": outs[1]})

    def sample(self, prime: str, length: int, exponentials: Callable[[int], np.ndarray], temperature: float = 1.0,
               top_k: int | None = None, top_p: float | None = None) -> str:
        """Continue ``prime`` by ``length`` characters, as rnnkit.lm.sample.sample does."""
        missing = sorted(set(prime) - self.index.keys())
        if missing:
            raise ValueError(f"OnnxCharLM.sample: characters outside the vocabulary: {''.join(missing)!r}.")
        ids = [self.index[c] for c in prime] or [self.index.get("\n", 0)]
        state = self.warm(ids[:-1])
        current, out = ids[-1], []
        for _ in range(length):
            logits, state = self.step(current, state)
            p = distribution(logits, temperature, top_k, top_p)
            current = int(np.argmax(p / exponentials(len(self.chars))))  # torch.multinomial's draw of one sample
            out.append(self.chars[current])
        return "".join(out)
