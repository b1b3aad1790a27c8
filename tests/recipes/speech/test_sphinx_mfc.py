"""Sphinx MFC files and feat.params: read from bytes written by hand with struct, in both byte orders."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from rnnkit.recipes.speech.sphinx import MfcFormatError, parse_params, read_mfc, write_mfc

# two frames of 13 cepstra: 0.5, 1.5, ... (exact in float32)
VALUES = [i + 0.5 for i in range(26)]


def mfc_bytes(order: str, values: list[float]) -> bytes:
    return struct.pack(f"{order}i", len(values)) + struct.pack(f"{order}{len(values)}f", *values)


@pytest.mark.parametrize("order", [">", "<"])
def test_read_mfc_in_either_byte_order(order):
    c = read_mfc(mfc_bytes(order, VALUES), "x.mfc")
    assert c.shape == (2, 13)
    assert c.dtype == np.float32
    assert c[0].tolist() == VALUES[:13]
    assert c[1].tolist() == VALUES[13:]


def test_the_header_decides_the_byte_order():
    # 26 big-endian is 0x1a000000 read little-endian (436,207,616 floats): only big-endian fits the length
    raw = mfc_bytes(">", VALUES)
    assert struct.unpack("<i", raw[:4])[0] == 0x1A000000
    np.testing.assert_array_equal(read_mfc(raw, "x.mfc").ravel(), np.array(VALUES, np.float32))


def test_write_mfc_writes_what_struct_writes():
    c = np.array(VALUES, np.float32).reshape(2, 13)
    assert write_mfc(c) == mfc_bytes(">", VALUES)
    assert write_mfc(c, big_endian=False) == mfc_bytes("<", VALUES)


def test_an_empty_utterance_reads_as_no_frames():
    assert read_mfc(struct.pack(">i", 0), "empty.mfc").shape == (0, 13)


@pytest.mark.parametrize(("raw", "message"), [
    (b"\x00\x00", "too short"),
    (mfc_bytes(">", VALUES)[:-4], "neither"),  # one float missing
    (mfc_bytes(">", VALUES[:14]), "whole number of 13-cepstrum frames"),
])
def test_bad_mfc_files_are_named(raw, message):
    with pytest.raises(MfcFormatError, match=f"bad.mfc.*{message}"):
        read_mfc(raw, "bad.mfc")


def test_parse_params():
    text = "-dither yes\n-lowerf 1\n\n# a comment\n-upperf 4000\n"
    assert parse_params(text, "feat.params") == {"dither": "yes", "lowerf": "1", "upperf": "4000"}
    with pytest.raises(ValueError, match="feat.params, line 2: expected '-key value'"):
        parse_params("-dither yes\nlowerf\n", "feat.params")
