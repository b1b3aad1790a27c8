"""Music recipe: ABC splitting and its errors, parsing to events, histograms, the event cache, score
pictures, and a run that must beat the unigram baseline."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.cli import main
from rnnkit.recipes.music import recipe as music
from rnnkit.recipes.music.data import Tune, histograms, load_abc, split_tunes, total_variation
from rnnkit.utils.checkpoint import load_checkpoint

FIXTURES = Path(__file__).parents[2] / "fixtures" / "recipes2"
OLD_CHECKPOINT = Path(__file__).parents[2] / "fixtures" / "checkpoints" / "music-2026-11.pt"


def test_tunes_are_split_with_key_as_condition_and_meter_in_the_text():
    tunes, skipped = split_tunes((FIXTURES / "tunes.abc").read_text(), "tunes.abc")
    assert skipped == 1  # "No key, skipped" has no K: line
    assert [t.key for t in tunes] == ["C", "G", "Dm"]
    assert tunes[0].text == "M:4/4 L:1/4\nCDEF|GABc|]"
    assert tunes[1].text == "M:6/8 L:1/8\nGAB c2d|e3 d3|]"  # the N: field after K: is not music


def test_a_file_without_tunes_is_an_error_saying_what_abc_needs():
    with pytest.raises(ValueError, match=r"found no ABC tunes in .*not_music.abc.*'X:' line.*'K:'"):
        load_abc(FIXTURES / "not_music.abc")
    with pytest.raises(FileNotFoundError):
        load_abc(FIXTURES / "missing.abc")


def test_tune_to_abc_and_back_to_events():
    pytest.importorskip("music21")
    from rnnkit.recipes.music.data import parse_events

    tunes, _ = split_tunes((FIXTURES / "tunes.abc").read_text())
    # C D E F G A B c with L:1/4 -> MIDI 60..72, one quarter each
    assert parse_events(tunes[0].abc()) == [(60, 1.0), (62, 1.0), (64, 1.0), (65, 1.0), (67, 1.0), (69, 1.0),
                                            (71, 1.0), (72, 1.0)]
    # K:Dm has one flat, so the B is B-flat; here only D F A d (and a rest) occur
    assert [p for p, _ in parse_events(tunes[2].abc())] == [62, 65, 69, 74]


def test_a_tune_without_notes_is_unparsable():
    pytest.importorskip("music21")
    from rnnkit.recipes.music.data import parse_events

    (tune,) = load_abc(FIXTURES / "rests.abc")
    with pytest.raises(ValueError, match="holds no notes"):
        parse_events(tune.abc())


def test_histograms_and_distance_by_hand():
    pc, du = histograms([[(60, 1.0), (62, 0.5)], [(72, 1.0), (61, 5.0)]])
    assert pc[0] == 0.5
    assert pc[1] == 0.25
    assert pc[2] == 0.25
    assert du[3] == 0.5
    assert du[1] == 0.25
    assert du[-1] == 0.25
    assert total_variation(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert total_variation(pc, pc) == 0.0


def test_events_are_cached_under_rnnkit_cache(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    from rnnkit.recipes.music.data import cached_events

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    tunes = load_abc(FIXTURES / "tunes.abc")
    first = cached_events(tunes)
    files = list((tmp_path / "music").glob("events-*.json"))
    assert len(files) == 1
    assert first[0][0] == (60, 1.0)
    files[0].write_text(json.dumps([[[1, 2.0]]] * 3))  # a doctored cache proves the second call reads it
    assert cached_events(tunes)[0] == [(1, 2.0)]


def triad_tunes(path: Path, n: int = 48) -> Path:
    """``n`` 4-bar tunes in C, G, D and F whose notes are all from the key's tonic triad (seeded): what notes a
    tune uses depends on its key, which a model conditioned on the key can learn and a unigram cannot."""
    rng = random.Random(0)
    triads = {"C": "CEGc", "G": "GBdg", "D": "DFAd", "F": "FAcf"}
    tunes = []
    for k in range(n):
        key = "CGDF"[k % 4]
        bars = "|".join("".join(rng.choice(triads[key]) for _ in range(4)) for _ in range(4))
        tunes.append(f"X:{k + 1}\nT:triad {k + 1}\nM:4/4\nL:1/4\nK:{key}\n{bars}|]\n")
    path.write_text("\n".join(tunes))
    return path


def test_a_trained_model_beats_the_unigram_then_scores_and_generates(tmp_path, monkeypatch, capsys):
    pytest.importorskip("music21")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    abc = triad_tunes(tmp_path / "triads.abc")
    run = tmp_path / "run"
    assert main(["recipe", "music", "--abc", str(abc), "--val-fraction", "0.25", "--hidden-size", "32", "--embed-size",
                 "8", "--key-size", "4", "--num-generate", "12", "--batch-size", "8", "--epochs", "12", "--lr", "0.01",
                 "--patience", "0", "--dropout", "0", "--no-progress", "--threads", "1", "--out", str(run)]) == 0
    summary = json.loads((run / "results.json").read_text())
    test, unigram = summary["test"], summary["baselines"]["unigram"]
    # the pieces are conditioned on the validation tunes' keys: the model writes the key's triad, the unigram
    # draws from all four keys' notes at once, so its pitch classes (pooled, and relative to the tonic) are further off
    assert test["parse_rate"] >= unigram["parse_rate"]
    assert test["parse_rate"] >= 0.9
    assert test["pitch_class_tv"] < unigram["pitch_class_tv"]
    assert test["degree_tv"] < unigram["degree_tv"] - 0.2
    assert test["nll_per_event"] < 1.5  # the unigram's entropy over ~20 characters is about 2.5 nats
    assert (run / "generated" / "tune-0.abc").exists()
    assert (run / "histograms.png").exists()
    assert load_checkpoint(run / "best.pt")["kind"] == "music"

    capsys.readouterr()
    assert main(["predict", str(run), str(abc)]) == 0
    assert re.fullmatch(rf"{re.escape(str(abc))}: 48 tunes, \d\.\d{{4}} nats per event\n", capsys.readouterr().out)
    assert main(["generate", str(run), "--num", "1", "--seed", "0", "--out", str(tmp_path / "gen"), "--prime",
                 "G;M:4/4 L:1/4\\nGB"]) == 0
    abc_out = (tmp_path / "gen" / "sample-0-0.abc").read_text()
    assert "K:G\nGB" in abc_out
    assert "M:4/4" in abc_out
    assert str(tmp_path / "gen" / "sample-0-0.abc") in capsys.readouterr().out
    assert main(["generate", str(run), "--num", "1", "--prime", "F#loc"]) != 0
    assert "unknown key" in capsys.readouterr().err


def test_a_checkpoint_from_before_the_contract_scores_as_the_old_code_did(capsys):
    """music-2026-11.pt was written by `rnnkit recipe music` at ad9bf49 (tests/fixtures/checkpoints/README.md);
    that commit's `rnnkit predict music-2026-11.pt tests/fixtures/recipes2/tunes.abc` printed
    "...tunes.abc: 3 tunes, 3.3016 nats per event"."""
    capsys.readouterr()
    assert main(["predict", str(OLD_CHECKPOINT), str(FIXTURES / "tunes.abc")]) == 0
    assert capsys.readouterr().out == f"{FIXTURES / 'tunes.abc'}: 3 tunes, 3.3016 nats per event\n"


def test_sampling_is_reproducible_with_a_seed():
    data = music.MusicData(
        chars=music.TokenVocab(["<pad>", "<bos>", "<eos>", "<unk>", "C", "D", "|", "\n"]),
        keys=music.TokenVocab(["<unk>", "C"], pad=None), train=[], val=[],
    )
    torch.manual_seed(0)
    model = music.build_model(music.MusicConfig(hidden_size=8, embed_size=4, key_size=4, max_chars=20), data)
    a = music.sample_tunes(model, data, ["C", "C"], generator=torch.Generator().manual_seed(5))
    b = music.sample_tunes(model, data, ["C", "C"], generator=torch.Generator().manual_seed(5))
    assert a == b
    assert all(isinstance(t, Tune) for t in a)
    assert not any("<" in t.text for t in a)  # specials are never written into the music


def test_an_unusual_meter_is_rejected_before_music21_sees_it():
    pytest.importorskip("music21")
    from rnnkit.recipes.music.data import parse_events

    with pytest.raises(ValueError, match="unusual M: field '97/3'"):
        parse_events("X:1\nM:97/3\nL:1/8\nK:G\nGAB|\n")
    with pytest.raises(ValueError, match="unusual L: field '3/7'"):
        parse_events("X:1\nM:6/8\nL:3/7\nK:G\nGAB|\n")


# ---- training on whole tunes, the loss, paired evaluation ------------------------------------


def test_tunes_longer_than_max_chars_are_left_out_not_cut():
    # the three fixture tunes' texts are 23, 30 and 25 characters long
    data = music.prepare_data(music.MusicConfig(abc=str(FIXTURES / "tunes.abc"), max_chars=26, val_fraction=0.5))
    kept = sorted(t.text for t in data.train + data.val)
    assert kept == ["M:3/4 L:1/8\nD2F2A2|d4 z2|]", "M:4/4 L:1/4\nCDEF|GABc|]"]  # the jig (30) is gone, not truncated


def test_tune_loss_over_padding_equals_the_packed_loss():
    data = music.prepare_data(music.MusicConfig(abc=str(FIXTURES / "tunes.abc"), val_fraction=0.34))
    torch.manual_seed(0)
    model = music.build_model(music.MusicConfig(hidden_size=8, embed_size=4, key_size=4), data).eval()
    batch = music.encode(data.train + data.val, data)
    assert int(batch[2].min()) < batch[1].size(1)  # the batch really is padded
    _, packed = model(*batch)  # with lengths: the PackedSequence path, padding never run
    assert packed is not None
    torch.testing.assert_close(music.tune_loss(model, batch), packed)


def test_sampling_with_one_prefix_per_key_keeps_each_prefix():
    data = music.MusicData(
        chars=music.TokenVocab(["<pad>", "<bos>", "<eos>", "<unk>", "C", "D", "|", "\n", "M", ":", "6", "/", "8", "4"]),
        keys=music.TokenVocab(["<unk>", "C", "D"], pad=None), train=[], val=[],
    )
    torch.manual_seed(0)
    model = music.build_model(music.MusicConfig(hidden_size=8, embed_size=4, key_size=4, max_chars=12), data)
    prefixes = ["M:6/8\n", "M:4/4\n", "M:6/8\n"]
    tunes = music.sample_tunes(model, data, ["C", "D", "D"], prefixes, generator=torch.Generator().manual_seed(1))
    assert [t.key for t in tunes] == ["C", "D", "D"]
    assert [t.text[:6] for t in tunes] == prefixes
    with pytest.raises(ValueError, match="2 prefixes for 3 keys"):
        music.sample_tunes(model, data, ["C", "D", "D"], prefixes[:2])


def test_tonic_relative_histogram_by_hand():
    from rnnkit.recipes.music.data import degree_histogram, tonic_pitch_class

    assert [tonic_pitch_class(k) for k in ("C", "G", "Bb", "F#m", "Ador", "Edor")] == [0, 7, 10, 6, 9, 4]
    with pytest.raises(ValueError, match="cannot read a tonic"):
        tonic_pitch_class("Hm")
    # in G, G and D are degrees 0 and 7; in D, D and A are degrees 0 and 7 as well
    h = degree_histogram([[(67, 1.0), (74, 1.0)], [(62, 1.0), (69, 1.0), (71, 1.0), (71, 1.0)]], ["G", "D"])
    assert h[0] == pytest.approx(2 / 6)
    assert h[7] == pytest.approx(2 / 6)
    assert h[9] == pytest.approx(2 / 6)


# ---- score pictures (verovio) ---------------------------------------------------------------


def test_the_score_prints_the_accidentals_music21_read_and_the_key_signature():
    music21 = pytest.importorskip("music21")
    pytest.importorskip("verovio")
    from rnnkit.recipes.music.score import score_svg

    score = music21.converter.parse((FIXTURES / "score.abc").read_text(), format="abc")
    svg = score_svg(score, "fixture")
    # K:G, "C F =F F|c'2 G,2|B4|z2 z A/2 ^G/2|F A3|]": music21 reads the last F of bar 1 as F sharp again, which
    # the natural before it makes a printed sharp; ^G is printed; the F of bar 5 is F sharp from the key (no sign).
    # SMuFL glyphs: E261 natural, E262 sharp
    assert re.findall(r'class="accid">\s*<use xlink:href="#(E26\d)', svg) == ["E261", "E262", "E262"]
    assert re.findall(r'class="keyAccid">\s*<use xlink:href="#(E26\d)', svg) == ["E262"]  # one sharp
    assert svg.count('class="note"') == 11
    assert svg.count('class="rest"') == 2
    assert "fixture" in svg


def test_draw_score_writes_a_png_and_write_piece_puts_it_beside_the_midi(tmp_path):
    music21 = pytest.importorskip("music21")
    pytest.importorskip("cairosvg")
    from rnnkit.recipes.music.score import draw_score

    score = music21.converter.parse((FIXTURES / "score.abc").read_text(), format="abc")
    path = draw_score(score, tmp_path / "score.png", "fixture")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tune,) = [t for t in load_abc(FIXTURES / "tunes.abc") if t.key == "G"]
    written = music.write_piece(tune, tmp_path / "piece")
    assert sorted(p.suffix for p in written) == [".abc", ".mid", ".musicxml", ".png"]


def test_a_tune_music21_cannot_finish_counts_as_unparsable(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import music21

    from rnnkit.recipes.music.data import parse_events

    tune = "X:1\nM:6/8\nL:1/8\nK:D\nDFA dfa|\n"
    assert len(parse_events(tune)) == 6  # the real parser, within the limit

    def stuck(*args: object, **kwargs: object) -> None:
        time.sleep(5)

    monkeypatch.setattr(music21.converter, "parse", stuck)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="TimeoutError: no result after 0.2 s"):
        parse_events(tune, time_limit=0.2)
    assert time.perf_counter() - start < 2
