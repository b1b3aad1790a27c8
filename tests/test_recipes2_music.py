"""Music recipe: ABC splitting and its errors, parsing to events, histograms, the event cache, and a smoke run."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from rnnkit.tasks import music
from rnnkit.tasks.music_data import Tune, histograms, load_abc, split_tunes, total_variation

FIXTURES = Path(__file__).parent / "fixtures" / "recipes2"


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
    from rnnkit.tasks.music_data import parse_events

    tunes, _ = split_tunes((FIXTURES / "tunes.abc").read_text())
    # C D E F G A B c with L:1/4 -> MIDI 60..72, one quarter each
    assert parse_events(tunes[0].abc()) == [(60, 1.0), (62, 1.0), (64, 1.0), (65, 1.0), (67, 1.0), (69, 1.0),
                                            (71, 1.0), (72, 1.0)]
    # K:Dm has one flat, so the B is B-flat; here only D F A d (and a rest) occur
    assert [p for p, _ in parse_events(tunes[2].abc())] == [62, 65, 69, 74]


def test_a_tune_without_notes_is_unparsable():
    pytest.importorskip("music21")
    from rnnkit.tasks.music_data import parse_events

    (tune,) = load_abc(FIXTURES / "rests.abc")
    with pytest.raises(ValueError, match="holds no notes"):
        parse_events(tune.abc())


def test_histograms_and_distance_by_hand():
    pc, du = histograms([[(60, 1.0), (62, 0.5)], [(72, 1.0), (61, 5.0)]])
    assert pc[0] == 0.5 and pc[1] == 0.25 and pc[2] == 0.25
    assert du[3] == 0.5 and du[1] == 0.25 and du[-1] == 0.25  # 1.0, 0.5, and 5.0 in "other"
    assert total_variation(np.array([1.0, 0.0]), np.array([0.0, 1.0])) == 1.0
    assert total_variation(pc, pc) == 0.0


def test_events_are_cached_under_rnnkit_cache(tmp_path, monkeypatch):
    pytest.importorskip("music21")
    from rnnkit.tasks.music_data import cached_events

    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path))
    tunes = load_abc(FIXTURES / "tunes.abc")
    first = cached_events(tunes)
    files = list((tmp_path / "music").glob("events-*.json"))
    assert len(files) == 1 and first[0][0] == (60, 1.0)
    files[0].write_text(json.dumps([[[1, 2.0]]] * 3))  # a doctored cache proves the second call reads it
    assert cached_events(tunes)[0] == [(1, 2.0)]


def test_smoke_run_generate_and_score(tmp_path, monkeypatch, capsys):
    pytest.importorskip("music21")
    monkeypatch.setenv("RNNKIT_CACHE", str(tmp_path / "cache"))
    parser = argparse.ArgumentParser()
    music.add_arguments(parser)
    args = parser.parse_args(["--abc", str(FIXTURES / "tunes.abc"), "--val-fraction", "0.34", "--hidden-size", "16",
                              "--embed-size", "8", "--key-size", "4", "--num-generate", "2", "--max-chars", "40",
                              "--epochs", "2", "--no-progress", "--out-dir", str(tmp_path)])
    assert music.run(args) == 0
    metrics = json.loads((tmp_path / "results.json").read_text())["metrics"]
    assert metrics["val_nll_per_event"] > 0 and 0.0 <= metrics["parse_rate"] <= 1.0
    assert 0.0 <= metrics["degree_tv"] <= 1.0 and 0.0 <= metrics["unigram_degree_tv"] <= 1.0
    assert (tmp_path / "generated" / "tune-0.abc").exists() and (tmp_path / "histograms.png").exists()
    checkpoint = torch.load(tmp_path / "best.pt", weights_only=True)
    assert checkpoint["task"] == "music"
    key = checkpoint["keys"]["itos"][1]
    capsys.readouterr()
    music.generate(checkpoint, argparse.Namespace(num=1, seed=0, out=str(tmp_path / "gen"), prime=f"{key};M:4/4 L:1/4\\nCD"))
    abc = (tmp_path / "gen" / "sample-0-0.abc").read_text()
    assert f"K:{key}\nCD" in abc and "M:4/4" in abc  # the prime is the tune's start
    with pytest.raises(ValueError, match="unknown key"):
        music.generate(checkpoint, argparse.Namespace(num=1, seed=0, out=str(tmp_path), prime="F#loc"))
    music.predict(checkpoint, [str(FIXTURES / "tunes.abc")], argparse.Namespace())
    assert "nats per event" in capsys.readouterr().out


def test_sampling_is_reproducible_with_a_seed():
    data = music.MusicData(
        chars=music.TokenVocab(["<pad>", "<bos>", "<eos>", "<unk>", "C", "D", "|", "\n"]),
        keys=music.TokenVocab(["<unk>", "C"], pad=None), train=[], val=[],
    )
    torch.manual_seed(0)
    model = music.build_model(music.MusicConfig(hidden_size=8, embed_size=4, key_size=4, max_chars=20), data)
    a = music.sample_tunes(model, data, ["C", "C"], generator=torch.Generator().manual_seed(5))
    b = music.sample_tunes(model, data, ["C", "C"], generator=torch.Generator().manual_seed(5))
    assert a == b and all(isinstance(t, Tune) for t in a)
    assert not any("<" in t.text for t in a)  # specials are never written into the music


def test_an_unusual_meter_is_rejected_before_music21_sees_it():
    pytest.importorskip("music21")
    from rnnkit.tasks.music_data import parse_events

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
    from rnnkit.tasks.music_data import degree_histogram, tonic_pitch_class

    assert [tonic_pitch_class(k) for k in ("C", "G", "Bb", "F#m", "Ador", "Edor")] == [0, 7, 10, 6, 9, 4]
    with pytest.raises(ValueError, match="cannot read a tonic"):
        tonic_pitch_class("Hm")
    # in G, G and D are degrees 0 and 7; in D, D and A are degrees 0 and 7 as well
    h = degree_histogram([[(67, 1.0), (74, 1.0)], [(62, 1.0), (69, 1.0), (71, 1.0), (71, 1.0)]], ["G", "D"])
    assert h[0] == pytest.approx(2 / 6) and h[7] == pytest.approx(2 / 6) and h[9] == pytest.approx(2 / 6)


# ---- the staff-notation renderer -------------------------------------------------------------


def test_staff_positions_ledger_lines_and_key_signatures_by_hand():
    from rnnkit.tasks.music_score import key_alteration, ledger_lines, staff_position

    # bottom line E4 = 0, top line F5 = 8, middle C one ledger line below, C6 two above
    assert [staff_position(s, o) for s, o in (("E", 4), ("F", 5), ("B", 4), ("C", 4), ("C", 6), ("G", 3))] == [0, 8, 4, -2, 12, -5]
    assert ledger_lines(-5) == [-2, -4] and ledger_lines(12) == [10, 12]
    assert ledger_lines(-1) == [] and ledger_lines(9) == [] and ledger_lines(4) == []
    assert key_alteration(1, "F") == 1 and key_alteration(1, "C") == 0  # G major: F sharp
    assert key_alteration(-2, "E") == -1 and key_alteration(-2, "A") == 0  # B-flat major: B and E flat


def test_fixture_score_is_read_into_positions_accidentals_and_durations():
    music21 = pytest.importorskip("music21")
    from rnnkit.tasks.music_score import read_measures

    score = music21.converter.parse((FIXTURES / "score.abc").read_text(), format="abc")
    sharps, meter, measures = read_measures(score)
    assert sharps == 1 and meter == "4/4"
    bar1, bar2, bar3, bar4, bar5 = measures
    # C F =F F in G: F# comes from the key (no sign), =F needs a natural; music21 reads the
    # last F as F# again, which the natural in force makes a printed sharp
    assert [e.positions for e in bar1] == [(-2,), (1,), (1,), (1,)]
    assert [e.accidentals for e in bar1] == [(None,), (None,), (0,), (1,)]
    assert [(e.positions, e.kind) for e in bar2] == [((12,), "half"), ((-5,), "half")]  # c' and G, need ledger lines
    assert [(e.positions, e.kind) for e in bar3] == [((4,), "whole")]
    assert [(e.positions, e.kind) for e in bar4] == [((), "half"), ((), "quarter"), ((3,), "eighth"), ((2,), "eighth")]
    assert bar4[3].accidentals == (1,)  # ^G
    assert [(e.accidentals, e.kind, e.dots) for e in bar5] == [((None,), "quarter", 0), ((None,), "half", 1)]  # the bar line resets


def test_draw_score_writes_a_png_and_write_piece_puts_it_beside_the_midi(tmp_path):
    music21 = pytest.importorskip("music21")
    from rnnkit.tasks.music_score import draw_score

    score = music21.converter.parse((FIXTURES / "score.abc").read_text(), format="abc")
    path = draw_score(score, tmp_path / "score.png", "fixture")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (tune,) = [t for t in load_abc(FIXTURES / "tunes.abc") if t.key == "G"]
    written = music.write_piece(tune, tmp_path / "piece")
    assert sorted(p.suffix for p in written) == [".abc", ".mid", ".musicxml", ".png"]


def test_a_tune_music21_cannot_finish_counts_as_unparsable(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    import music21

    from rnnkit.tasks.music_data import parse_events

    tune = "X:1\nM:6/8\nL:1/8\nK:D\nDFA dfa|\n"
    assert len(parse_events(tune)) == 6  # the real parser, within the limit

    def stuck(*args: object, **kwargs: object) -> None:
        time.sleep(5)

    monkeypatch.setattr(music21.converter, "parse", stuck)
    start = time.perf_counter()
    with pytest.raises(ValueError, match="TimeoutError: no result after 0.2 s"):
        parse_events(tune, time_limit=0.2)
    assert time.perf_counter() - start < 2
