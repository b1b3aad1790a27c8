// The rnnkit playground: plain JavaScript against the server's own API, no build step, nothing from a CDN.
"use strict";

// RdBu_r in 21 steps, as rnnkit/lab/render.py colours its inspection pages: blue low, white 0, red high
const PALETTE = ["#053061", "#134b86", "#2166ac", "#327cb7", "#4393c3", "#6aacd0", "#92c5de", "#b1d5e7", "#d1e5f0",
  "#e4eef3", "#f7f7f7", "#fae9df", "#fddac6", "#f8c0a4", "#f3a481", "#e58267", "#d6604d", "#c33c3c", "#b2182b",
  "#8c0c25", "#67001f"];
const SIGMOID = new Set(["i", "f", "o", "r", "z"]);   // gates in (0, 1)
const BOUNDED = new Set(["h", "g", "n"]);             // tanh outputs in (-1, 1) (an LSTM, GRU or tanh RNN's h)
const GATES = {lstm: ["h", "c", "i", "f", "g", "o"], gru: ["h", "r", "z", "n"], rnn: ["h", "a"]};

const $ = (id) => document.getElementById(id);
let models = [];
let last = null;        // the last generation request, its characters' spans, its values
let controller = null;  // aborts the running stream

// WCAG 2 relative luminance and the text colour (black or white) that contrasts more with a background
function luminance(hex) {
  const c = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16) / 255)
    .map((v) => (v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4));
  return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
}
function textColour(hex) {
  const l = luminance(hex);
  return (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) ? "#000000" : "#ffffff";
}

// a value of the watched unit -> t in [-1, 1] -> a palette colour
function toUnit(name, cell, v) {
  if (SIGMOID.has(name)) return 2 * v - 1;
  if (BOUNDED.has(name) && !(cell === "rnn" && name === "h")) return Math.max(-1, Math.min(1, v));
  return Math.tanh(v);
}
function colour(span, name, cell, v) {
  const t = toUnit(name, cell, v);
  const bg = PALETTE[Math.round((t + 1) / 2 * (PALETTE.length - 1))];
  span.style.backgroundColor = bg;
  span.style.color = textColour(bg);
  span.title = `${name}: ${v.toFixed(3)}`;
}

function showError(message) { $("error").textContent = message || ""; }
function current() { return models.find((m) => m.name === $("model").value); }

async function api(path, body) {
  const response = await fetch(path, body === undefined ? {} : {method: "POST", headers: {"content-type": "application/json"},
    body: JSON.stringify(body)});
  const data = await response.json();
  if (!response.ok) throw new Error(data.error || `HTTP ${response.status}`);
  return data;
}

function fillSelect(select, values, labels) {
  select.replaceChildren(...values.map((v, i) => new Option(labels ? labels[i] : String(v), String(v))));
}

function chooseModel() {
  const m = current();
  showError("");
  $("charlm").hidden = m.kind !== "charlm";
  $("predict").hidden = !m.predict;
  const c = m.config || {};
  $("model-info").textContent = m.kind === "charlm"
    ? `${c.cell} · ${c.num_layers} × ${c.hidden_size} · ${m.vocab_size} characters` + (m.metrics && m.metrics.val_loss ? ` · val loss ${m.metrics.val_loss.toFixed(3)}` : "")
    : `${m.kind} (${m.task})`;
  if (m.kind !== "charlm") return;
  fillSelect($("layer"), [...Array(c.num_layers).keys()], [...Array(c.num_layers).keys()].map((l) => `${l + 1}`));
  fillSelect($("name"), GATES[c.cell]);
  $("unit").max = c.hidden_size - 1;
  const units = $("units");
  units.replaceChildren(...(m.units || []).map((u) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "unit";
    b.textContent = `${u.feature}: layer ${u.layer + 1} ${u.name}[${u.unit}] (r ${u.r >= 0 ? "+" : ""}${u.r.toFixed(2)})`;
    b.onclick = () => { $("layer").value = u.layer; $("name").value = u.name; $("unit").value = u.unit; recolour(); };
    return b;
  }));
  if (units.children.length) units.prepend(Object.assign(document.createElement("span"), {textContent: "units that follow a feature:", className: "muted"}));
  legend();
}

function legend() {
  const name = $("name").value;
  const sig = SIGMOID.has(name);
  for (const [id, i] of [["legend-low", 0], ["legend-mid", 10], ["legend-high", 20]]) $(id).style.backgroundColor = PALETTE[i];
  $("legend-low-text").textContent = sig ? "0 (closed)" : "−1";
  $("legend-high-text").textContent = sig ? "1 (open)" : "+1";
}

function watch() {
  return {layer: Number($("layer").value), name: $("name").value, unit: Number($("unit").value)};
}

function request() {
  const seedText = $("seed").value.trim();
  const topP = Number($("top-p").value);
  const body = {model: $("model").value, prime: $("prime").value, length: Number($("length").value),
    temperature: Number($("temperature").value), seed: seedText === "" ? Math.floor(Math.random() * 2 ** 31) : Number(seedText),
    watch: watch()};
  if (topP < 1) body.top_p = topP;
  return body;
}

async function generate() {
  showError("");
  const body = request();
  const out = $("output");
  const prime = Object.assign(document.createElement("span"), {className: "prime", textContent: body.prime});
  out.replaceChildren(prime);
  last = {body, spans: [], values: [], cell: current().config.cell};
  controller = new AbortController();
  $("generate").disabled = true;
  $("stop").disabled = false;
  $("status").textContent = `generating with seed ${body.seed}…`;
  const t0 = performance.now();
  try {
    const response = await fetch("v1/generate", {method: "POST", headers: {"content-type": "application/json"},
      body: JSON.stringify({...body, stream: true}), signal: controller.signal});
    if (!response.ok) throw new Error((await response.json()).error || `HTTP ${response.status}`);
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", end = null;
    while (end === null) {
      const {value, done} = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, {stream: true});
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const isEnd = block.startsWith("event: end");
        const data = JSON.parse(block.slice(block.indexOf("data:") + 5));
        if (isEnd) { end = data; break; }
        const span = Object.assign(document.createElement("span"), {className: "ch", textContent: data.text});
        colour(span, body.watch.name, last.cell, data.value);
        out.appendChild(span);
        last.spans.push(span);
        last.values.push(data.value);
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    $("status").textContent = `${last.spans.length} characters in ${seconds.toFixed(2)} s, seed ${body.seed}` +
      (end ? ` (${end.finish_reason})` : "") + "; change the unit to recolour the same text";
  } catch (e) {
    if (e.name === "AbortError") $("status").textContent = `stopped after ${last.spans.length} characters, seed ${body.seed}`;
    else showError(e.message);
  } finally {
    $("generate").disabled = false;
    $("stop").disabled = true;
    controller = null;
  }
}

// the same seed gives the same text, so another unit's values come from the same request with another watch
async function recolour() {
  legend();
  if (!last || controller || !last.spans.length) return;
  const body = {...last.body, length: last.spans.length, watch: watch()};
  try {
    const data = await api("v1/generate", body);
    data.values.forEach((v, i) => colour(last.spans[i], body.watch.name, last.cell, v));
    last.body = {...last.body, watch: body.watch};
    $("status").textContent = `recoloured by layer ${body.watch.layer + 1} ${body.watch.name}[${body.watch.unit}], seed ${body.seed}`;
  } catch (e) { showError(e.message); }
}

async function predict() {
  showError("");
  const m = current();
  const box = $("prediction");
  box.replaceChildren();
  try {
    const data = await api("v1/predict", {model: m.name, inputs: [$("input").value]});
    const out = data.outputs[0];
    if (out.probabilities) {
      const table = Object.assign(document.createElement("table"), {className: "probs"});
      for (const {label, p} of out.probabilities) {
        const row = table.insertRow();
        row.className = "label";
        row.insertCell().textContent = label;
        row.insertCell().textContent = p.toFixed(3);
        const bar = Object.assign(document.createElement("span"), {className: "bar"});
        bar.style.width = `${Math.round(p * 300)}px`;
        row.insertCell().appendChild(bar);
      }
      box.appendChild(table);
    } else if (out.tokens) {
      for (const t of out.tokens) {
        const tag = Object.assign(document.createElement("span"), {className: "tag"});
        tag.append(t.token, Object.assign(document.createElement("small"), {textContent: `${t.tag} ${t.p.toFixed(2)}`}));
        box.appendChild(tag);
      }
    } else if (out.translation !== undefined) {
      box.appendChild(Object.assign(document.createElement("p"), {className: "translation", textContent: out.translation}));
      if (out.attention) box.appendChild(heatmap(out.attention));
    }
  } catch (e) { showError(e.message); }
}

// attention weights (one row per output subword, one column per source subword), white 0 to dark red 1
function heatmap(attention) {
  const table = Object.assign(document.createElement("table"), {className: "heatmap"});
  const head = table.createTHead().insertRow();
  head.appendChild(document.createElement("th"));  // the corner
  for (const s of attention.source) head.appendChild(Object.assign(document.createElement("th"), {textContent: s}));
  const body = table.createTBody();  // rows must go here: table.insertRow() would append them to the thead
  attention.weights.forEach((row, t) => {
    const tr = body.insertRow();
    tr.appendChild(Object.assign(document.createElement("th"), {textContent: attention.target[t]}));
    for (const w of row) {
      const cell = tr.insertCell();
      const bg = PALETTE[10 + Math.round(Math.max(0, Math.min(1, w)) * 10)];
      cell.style.backgroundColor = bg;
      cell.style.color = textColour(bg);
      cell.textContent = w.toFixed(2);
      cell.title = `${attention.target[t]} ← ${attention.source[tr.cells.length - 2] || ""}: ${w.toFixed(3)}`;
    }
  });
  const figure = document.createElement("figure");
  figure.append(table, Object.assign(document.createElement("figcaption"), {className: "muted",
    textContent: "attention: each output subword (row) over the source subwords (columns)"}));
  return figure;
}

async function start() {
  for (const id of ["temperature", "top-p"]) {
    $(id).oninput = () => { $(`${id}-value`).textContent = Number($(id).value).toFixed(2); };
  }
  $("generate").onclick = generate;
  $("stop").onclick = () => controller && controller.abort();
  $("run-predict").onclick = predict;
  $("model").onchange = chooseModel;
  for (const id of ["layer", "name", "unit"]) $(id).onchange = recolour;
  try {
    models = (await api("v1/models")).models.filter((m) => m.generate || m.predict);
    fillSelect($("model"), models.map((m) => m.name), models.map((m) => `${m.name} (${m.kind})`));
    if (models.length) chooseModel();
    document.body.dataset.ready = "1";
  } catch (e) { showError(`could not list the models: ${e.message}`); }
}

start();
