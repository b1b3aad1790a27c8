"""Folk tunes in ABC notation for the music recipe: reading, splitting, and parsing to note events.

The default corpus is O'Neill's "Music of Ireland" (1850, about 2,000 tunes) inside PyPI
``music21``; any ABC file or folder can be used instead. As in folk-rnn, the key (``K:``) is
the condition and the model writes ``"M:<meter> L:<unit>\\n<body>"`` character by character.
music21 parses slowly, so the real tunes' note events are cached under ``$RNNKIT_CACHE/music``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import re
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnkit.utils.cache import cache_dir as rnnkit_cache
from rnnkit.utils.reading import DataFormatError, split_lines

_FIELD = re.compile(r"^([A-Za-z]):\s*(.*)$")
# information fields (title, words, notes, ...) that may follow K: but are not music
_INFO = "TWwNZSBHRACDGOFI"
# the meters and unit lengths a folk tune may have; anything else is rejected before music21 sees it
_METER = re.compile(r"^(C\|?|none|[1-9][0-9]?/(1|2|4|8|16))$")
_UNIT = re.compile(r"^1/(1|2|4|8|16|32|64)$")
# quarter-length bins of the duration histogram; anything else falls in the last bin
DURATIONS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)
DURATION_LABELS = (*(str(d) for d in DURATIONS), "other")


@dataclass(frozen=True)
class Tune:
    """One tune: its key (the condition) and the text the model learns to write."""

    key: str  # e.g. "G", "Em", "Ador" (mode names normalised to lower case)
    text: str  # "M:6/8 L:1/8\n" followed by the body lines

    def abc(self, title: str = "rnnkit", number: int = 1) -> str:
        """A complete ABC tune that music21 (or any ABC tool) can read."""
        head, _, body = self.text.partition("\n")
        fields = dict(f.split(":", 1) for f in head.split() if ":" in f)
        meter, unit = fields.get("M", "4/4"), fields.get("L", "1/8")
        return f"X:{number}\nT:{title}\nM:{meter}\nL:{unit}\nK:{self.key}\n{body}\n"


def corpus_dir(name: str = "oneills1850") -> Path:
    """A folder of ABC files inside the installed music21 corpus."""
    try:
        import music21
    except ModuleNotFoundError:
        raise ValueError("music: the built-in folk corpus needs music21; `pip install music21`, or pass --abc "
                         "FILE.") from None
    path = Path(music21.__file__).parent / "corpus" / name
    if not path.is_dir():
        raise ValueError(f"music: music21 has no ABC corpus {name!r} (looked in {path}); try oneills1850 or "
                         "ryansMammoth.")
    return path


def normalise_key(key: str) -> str:
    """'AMix' -> 'Amix', 'G major' stays distinct from 'G': only the mode's case is unified."""
    key = key.split("%")[0].strip().split(" ")[0]
    return key[:1].upper() + key[1:].lower() if key else key


def split_tunes(text: str, source: str = "<text>") -> tuple[list[Tune], int]:
    """Tunes from ABC text (each starting at an ``X:`` line); also how many were skipped.

    A tune is skipped when it has no (or an empty) ``K:`` field or no body. Raises a
    DataFormatError when the text holds no tune at all, which is what a non-ABC file looks like.
    """
    lines = split_lines(text)  # LF, CRLF or CR: old Mac files end lines with CR alone
    starts = [i for i, line in enumerate(lines) if line.startswith("X:")]
    tunes, skipped = [], 0
    bounds = [*starts, len(lines)]  # a tune runs up to the next X: line
    for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
        fields: dict[str, str] = {}
        body: list[str] = []
        for line in lines[start + 1 : stop]:
            line = line.rstrip()
            if not line or line.startswith("%"):
                continue
            m = _FIELD.match(line)
            if "K" not in fields:
                if m:
                    fields.setdefault(m.group(1), m.group(2).strip())  # header fields up to and including K:
            elif not (m and m.group(1) in _INFO):
                body.append(line)  # notes, and inline changes of key, meter or unit
        key = normalise_key(fields.get("K", ""))
        if not key or not body:
            skipped += 1
            continue
        head = f"M:{fields.get('M', '4/4').replace(' ', '')} L:{fields.get('L', '1/8').replace(' ', '')}"
        tunes.append(Tune(key, head + "\n" + "\n".join(body)))
    if not tunes:
        raise DataFormatError(
            source, f"found no ABC tunes in {source} ({len(starts)} 'X:' headers, {skipped} without K: or notes)",
            "tunes that start with an 'X:' line and have a 'K:' (key) line before their notes", line=len(lines) + 1,
        )
    return tunes, skipped


def load_abc(path: str | Path) -> list[Tune]:
    """All tunes of an ABC file, or of every ``*.abc`` file in a folder (sorted by name); a file is read as
    UTF-8 (a byte-order mark dropped) if it is valid UTF-8, else as Latin-1, as most older ABC collections are."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"music: no ABC file or folder at {path}.")
    files = sorted(path.glob("*.abc")) if path.is_dir() else [path]
    if not files:
        raise ValueError(f"music: {path} holds no .abc files.")
    tunes: list[Tune] = []
    for f in files:
        raw = f.read_bytes()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        tunes.extend(split_tunes(text, str(f))[0])
    return tunes


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise TimeoutError inside the block after ``seconds`` (POSIX main thread; elsewhere no limit)."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"no result after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def parse_events(abc: str, time_limit: float = 20.0) -> list[tuple[int, float]]:
    """Parse one ABC tune with music21 into note events (MIDI pitch, quarter length); chords give their top note.

    Raises ValueError, saying what music21 reported, when the tune does not parse or has no notes,
    or is still parsing after ``time_limit`` seconds (some sampled tunes send music21's re-barring
    into a search of many minutes).
    """
    import music21

    for field, value in re.findall(r"(?:^|\[)([ML]):([^\]\n]*)", abc, flags=re.M):
        pattern = _METER if field == "M" else _UNIT
        if not pattern.match(value.strip()):
            # music21 can take minutes over a meter like 97/3; a sampled tune with one is not music we can use
            raise ValueError(f"music: the tune has an unusual {field}: field {value.strip()!r}; expected e.g. "
                             f"{'6/8, 3/4 or C|' if field == 'M' else '1/8'}.")
    try:
        with (contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()),
              _time_limit(time_limit)):
            score = music21.converter.parse(abc, format="abc")  # its "assuming C" chatter is not ours to print
        events = [(int(max(p.midi for p in n.pitches) if n.isChord else n.pitch.midi), float(n.quarterLength))
                  for n in score.recurse().notes]
    except Exception as e:  # music21 raises many kinds (ABCHandlerException, IndexError, ...); all mean "unparsable"
        raise ValueError(f"music: music21 could not parse the tune ({type(e).__name__}: {e}).") from None
    if not events:
        raise ValueError("music: the tune parsed but holds no notes.")
    return events


def cache_dir() -> Path:
    """Where the music recipe keeps the tunes it fetched and parsed (under ``$RNNKIT_CACHE``)."""
    return rnnkit_cache("music")


def try_events(tune: Tune) -> list[tuple[int, float]]:
    """parse_events of the tune, or [] when it does not parse."""
    try:
        return parse_events(tune.abc())
    except ValueError:
        return []


def cached_events(tunes: list[Tune]) -> list[list[tuple[int, float]]]:
    """parse_events for each tune, through a JSON cache keyed by the tunes' text; unparsable tunes give []."""
    digest = hashlib.sha256("\x00".join(t.key + t.text for t in tunes).encode()).hexdigest()[:16]
    path = cache_dir() / f"events-{digest}.json"
    if path.exists():
        try:
            return [[(int(p), float(d)) for p, d in tune] for tune in json.loads(path.read_text())]
        except (ValueError, TypeError):
            pass  # a cache file cut short (a killed run) or damaged: parse again and rewrite it
    events = [try_events(t) for t in tunes]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(events))
    tmp.replace(path)
    return events


def histograms(events: list[list[tuple[int, float]]]) -> tuple[np.ndarray, np.ndarray]:
    """Normalised pitch-class (12,) and duration (len(DURATION_LABELS),) histograms over all events."""
    notes = [note for tune in events for note in tune]
    pc = np.bincount([pitch % 12 for pitch, _ in notes], minlength=12)
    du = np.bincount([next((i for i, d in enumerate(DURATIONS) if abs(length - d) < 1e-6), len(DURATIONS))
                      for _, length in notes], minlength=len(DURATION_LABELS))
    return pc / max(pc.sum(), 1), du / max(du.sum(), 1)


def tonic_pitch_class(key: str) -> int:
    """The pitch class of a key's tonic: 'G' -> 7, 'Bb' -> 10, 'F#m' -> 6, 'Ador' -> 9."""
    letter = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}.get(key[:1].upper())
    if letter is None:
        raise ValueError(f"music: cannot read a tonic from the key {key!r}; expected a letter A-G, e.g. 'G', 'Bb' or "
                         "'Ador'.")
    return (letter + {"#": 1, "b": -1}.get(key[1:2], 0)) % 12


def degree_histogram(events: list[list[tuple[int, float]]], keys: list[str]) -> np.ndarray:
    """Normalised histogram (12,) of pitch classes relative to each tune's tonic: 0 = tonic, 7 = fifth, ...

    A model that ignores the key (a unigram) can match pooled pitch classes, but not these.
    """
    tonics = [tonic_pitch_class(key) for key in keys]
    h = np.bincount([(pitch - tonic) % 12 for tune, tonic in zip(events, tonics, strict=True) for pitch, _ in tune],
                    minlength=12)
    return h / max(h.sum(), 1)


def total_variation(p: np.ndarray, q: np.ndarray) -> float:
    """Half the L1 distance between two distributions: 0 = identical, 1 = disjoint."""
    return float(0.5 * np.abs(p - q).sum())
