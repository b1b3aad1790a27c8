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
    assert (tmp_path / "generated" / "tune-0.abc").exists() and (tmp_path / "histograms.png").exists()
    checkpoint = torch.load(tmp_path / "best.pt", weights_only=False)
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
        chars=music.Vocab(["<pad>", "<bos>", "<eos>", "<unk>", "C", "D", "|", "\n"]),
        keys=music.Vocab(["<unk>", "C"], pad=None), train=[], val=[],
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
