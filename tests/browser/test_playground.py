"""The playground in a real browser: Debian's chromium, headless, driven by Playwright for Python.

Run by ``make test-browser`` (which installs chromium and playwright); ``make test`` leaves these out.
The server runs on a free loopback port with checkpoints made in the test; its model's head is
slowed a little so that streaming can be seen happening. Screenshots go to the test's tmp folder
(and, with RNNKIT_DOCS_SCREENSHOT=1, to docs/serve-playground.png for the README).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import torch
from serve_support import Running, sentiment_checkpoint, tagger_checkpoint, train_tiny_charlm, translate_checkpoint

from rnnkit.serve.app import Limits, create_app
from rnnkit.serve.models import load_models

pytestmark = pytest.mark.browser
CHROMIUM = os.environ.get("RNNKIT_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]

# WCAG contrast of an element's text against its own background, computed in the page
CONTRAST_JS = """(el) => {
  const rgb = (s) => s.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => v / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  const lum = (s) => { const [r, g, b] = rgb(s); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const style = getComputedStyle(el);
  const a = lum(style.color), b = lum(style.backgroundColor);
  return (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
}"""


class SlowHead(torch.nn.Module):
    def __init__(self, head: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.head = head

    def forward(self, h):
        time.sleep(0.01)  # 10 ms a step: 100 characters take a second, long enough to watch them arrive
        return self.head(h)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    models = load_models([str(train_tiny_charlm(root / "charlm", steps=30)),
                          str(sentiment_checkpoint(root / "sentiment")), str(translate_checkpoint(root / "translate")),
                          str(tagger_checkpoint(root / "pos"))])
    batcher = models["charlm"].batcher
    assert batcher is not None
    batcher.head = SlowHead(batcher.head)  # the worker's output layer, 10 ms slower
    running = Running(create_app(models, Limits()))
    yield running
    running.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"no chromium at {CHROMIUM}: `make test-browser` installs it (apt-get install chromium)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser, server):
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server.url + "/")
    page.wait_for_selector("body[data-ready='1']")
    yield page
    page.close()
    assert not errors, errors


def test_generation_streams_coloured_characters_and_switching_unit_recolours(page, server, tmp_path):
    page.fill("#prime", "the dog ")
    page.fill("#length", "120")
    page.fill("#seed", "5")
    page.select_option("#layer", "0")
    page.select_option("#name", "f")
    page.fill("#unit", "3")
    page.click("#generate")
    # streaming: some characters are on the page while others are still to come
    page.wait_for_function("() => { const n = document.querySelectorAll('#output .ch').length; return n > 0 && n < "
                           "120; }")
    page.wait_for_function("() => document.querySelectorAll('#output .ch').length === 120 && "
                           "!document.querySelector('#generate').disabled")
    spans = page.locator("#output .ch")
    text = "".join(spans.all_inner_texts())
    want = httpx.post(server.url + "/v1/generate",
                      json={"prime": "the dog ", "length": 120, "seed": 5, "temperature": 0.8,
                            "watch": {"layer": 0, "name": "f", "unit": 3}}).json()
    assert text == want["text"]
    titles = [float(t.split(": ")[1]) for t in spans.evaluate_all("els => els.map(e => e.title)")]
    assert titles == pytest.approx(want["values"], abs=1e-3)
    backgrounds = spans.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert len(set(backgrounds)) > 3  # coloured, and not all alike
    contrasts = [spans.nth(i).evaluate(CONTRAST_JS) for i in range(0, 120, 7)]
    assert min(contrasts) >= 4.5, contrasts
    page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)
    if os.environ.get("RNNKIT_DOCS_SCREENSHOT"):
        shutil.copy(tmp_path / "playground.png", ROOT / "docs" / "serve-playground.png")

    # another unit: the same text (same seed), coloured by the new unit's values
    page.select_option("#name", "c")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('recoloured')")
    again = spans.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
    assert "".join(spans.all_inner_texts()) == text
    assert again != backgrounds
    page.screenshot(path=str(tmp_path / "recoloured.png"), full_page=True)


def test_stop_leaves_the_batch(page, server):
    page.fill("#length", "2000")
    page.click("#generate")
    page.wait_for_function("() => document.querySelectorAll('#output .ch').length > 5")
    page.click("#stop")
    page.wait_for_function("() => document.querySelector('#status').textContent.startsWith('stopped')")
    deadline = time.monotonic() + 3
    while httpx.get(server.url + "/health").json()["load"]["charlm"]["active"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(server.url + "/health").json()["load"]["charlm"]["active"] == 0


def test_classifier_shows_labels_with_probabilities(page, server, tmp_path):
    page.select_option("#model", "sentiment")
    page.fill("#input", "the quick brown fox")
    page.click("#run-predict")
    page.wait_for_selector("table.probs tr.label")
    rows = page.locator("table.probs tr.label").evaluate_all("rs => rs.map(r => [r.cells[0].textContent, "
                                                             "Number(r.cells[1].textContent)])")
    want = httpx.post(server.url + "/v1/predict", json={"model": "sentiment", "inputs": ["the quick brown fox"]}).json()
    assert rows == [[p["label"], pytest.approx(p["p"], abs=1e-3)] for p in want["outputs"][0]["probabilities"]]
    page.screenshot(path=str(tmp_path / "classifier.png"))


def test_translation_shows_its_attention_heatmap(page, server, tmp_path):
    page.select_option("#model", "translate")
    page.fill("#input", "the quick brown fox")
    page.click("#run-predict")
    page.wait_for_selector("table.heatmap td")
    want = httpx.post(server.url + "/v1/predict",
                      json={"model": "translate", "inputs": ["the quick brown fox"]}).json()["outputs"][0]
    assert page.inner_text("p.translation") == want["translation"]
    attention = want["attention"]
    cells = page.locator("table.heatmap td")
    assert cells.count() == len(attention["target"]) * len(attention["source"])
    shown = [float(x) for x in cells.all_inner_texts()]
    assert shown == pytest.approx([w for row in attention["weights"] for w in row], abs=0.006)
    heads = page.locator("table.heatmap thead th").all_inner_texts()[1:]  # after the corner
    assert heads == attention["source"]
    contrasts = [cells.nth(i).evaluate(CONTRAST_JS) for i in range(0, cells.count(), 3)]
    assert min(contrasts) >= 4.5
    page.screenshot(path=str(tmp_path / "translation.png"), full_page=True)


def test_tagger_shows_a_tag_with_its_probability_under_each_token(page, server):
    page.select_option("#model", "pos")
    page.fill("#input", "the quick brown fox said no")
    page.click("#run-predict")
    page.wait_for_selector("#prediction .tag")
    shown = page.locator("#prediction .tag").evaluate_all(
        "ts => ts.map(t => [t.firstChild.textContent, t.querySelector('small').textContent])")
    want = httpx.post(server.url + "/v1/predict",
                      json={"model": "pos", "inputs": ["the quick brown fox said no"]}).json()
    assert shown == [[t["token"], f"{t['tag']} {t['p']:.2f}"] for t in want["outputs"][0]["tokens"]]


def test_bad_input_shows_the_servers_message(page):
    page.fill("#prime", "ZZZ")
    page.click("#generate")
    page.wait_for_function("() => document.querySelector('#error').textContent.includes('prime')")


def test_inspection_page_text_is_readable_on_its_darkest_cells(browser):
    page = browser.new_page()
    page.goto((ROOT / "docs" / "inspect" / "python-docs" / "index.html").as_uri())
    for level in (0, 1, 2, 10, 18, 19, 20):  # the darkest blues and reds, and the white middle
        cells = page.locator(f"pre.text span.c{level}")
        if cells.count():
            assert cells.first.evaluate(CONTRAST_JS) >= 4.5, f"class c{level}"
    page.close()
