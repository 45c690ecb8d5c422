// infogan explorer: controls built from /api/info; images from /api/image and /api/grid.
// One request per view is in flight at a time; moves made meanwhile are merged into the next one.
"use strict";

const $ = (id) => document.getElementById(id);
let info = null;
const state = { seed: 0, codes: {} };
const gridState = { shown: false, code: null, rows: 4, steps: 10 };

function showStatus(message, isError) {
  const s = $("status");
  s.textContent = message || "";
  s.className = isError ? "error" : "";
}

// A view: one <img>, one download link, one endpoint. request() may be called at any rate.
class View {
  constructor(endpoint, img, link, body, filename) {
    Object.assign(this, { endpoint, img, link, body, filename });
    this.busy = false;
    this.again = false;
    this.url = null;
    img.addEventListener("load", () => {
      img.dataset.version = String(Number(img.dataset.version) + 1);
      if (this.previous) URL.revokeObjectURL(this.previous);
      this.previous = null;
    });
  }
  request() {
    if (this.busy) { this.again = true; return; }
    this.busy = true;
    this.send().finally(() => {
      this.busy = false;
      if (this.again) { this.again = false; this.request(); }
    });
  }
  async send() {
    try {
      const r = await fetch(this.endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(this.body()),
      });
      if (r.status === 503) {  // the server's queue is full: ask again when it says
        const wait = Math.min(60, Number(r.headers.get("Retry-After")) || 1);
        showStatus(`the explorer is busy; trying again in ${wait} s`);
        setTimeout(() => this.request(), wait * 1000);
        return;
      }
      if (!r.ok) {
        const e = await r.json().catch(() => ({ error: r.statusText }));
        showStatus(`${r.status}: ${e.error}`, true);
        return;
      }
      const url = URL.createObjectURL(await r.blob());
      this.previous = this.url;
      this.url = url;
      this.img.src = url;
      this.link.href = url;
      this.link.download = this.filename();
      showStatus("");
    } catch (e) {
      showStatus(`the explorer server does not answer (${e.message})`, true);
    }
  }
}

function fmt(v) { return Number(v).toFixed(2); }

function stateName() {
  return [`seed${state.seed}`, ...Object.entries(state.codes).map(([k, v]) => `${k}_${typeof v === "number" && !Number.isInteger(v) ? fmt(v) : v}`)].join("_");
}

const image = new View("api/image", $("image"), $("download"),
  () => ({ seed: state.seed, codes: state.codes }),
  () => `infogan_${stateName()}.png`);

const gridView = new View("api/grid", $("grid"), $("grid-download"), () => {
  const code = info.codes.find((c) => c.name === gridState.code);
  const body = { seed: state.seed, codes: state.codes, code: code.name, rows: gridState.rows };
  if (code.kind !== "categorical") Object.assign(body, { steps: gridState.steps, lo: code.slider[0], hi: code.slider[1] });
  return body;
}, () => `infogan_grid_${gridState.code}_${stateName()}.png`);

function changed() {
  const params = new URLSearchParams({ seed: state.seed, ...state.codes });
  history.replaceState(null, "", "#" + params.toString());
  $("caption").textContent = `seed ${state.seed}` + Object.entries(state.codes)
    .map(([k, v]) => `, ${k} = ${typeof v === "number" && !Number.isInteger(v) ? fmt(v) : v}`).join("");
  image.request();
  if (gridState.shown) gridView.request();
}

function buildCodes() {
  const box = $("codes");
  for (const c of info.codes) {
    const row = document.createElement("div");
    row.className = "code";
    const label = document.createElement("label");
    label.htmlFor = `code-${c.name}`;
    label.textContent = `${c.name}`;
    const prior = document.createElement("span");
    prior.className = "prior";
    row.append(label);
    if (c.kind === "categorical") {
      const sel = document.createElement("select");
      sel.id = `code-${c.name}`;
      sel.dataset.code = c.name;
      for (let i = 0; i < c.k; i++) sel.add(new Option(String(i), String(i)));
      sel.value = String(state.codes[c.name]);
      sel.addEventListener("change", () => { state.codes[c.name] = Number(sel.value); changed(); });
      prior.textContent = c.prior;
      row.append(sel, prior);
    } else {
      const [lo, hi] = c.slider;
      const slider = document.createElement("input");
      Object.assign(slider, { type: "range", id: `code-${c.name}`, min: lo, max: hi, step: 0.01 });
      slider.value = String(state.codes[c.name]);
      slider.dataset.code = c.name;
      const out = document.createElement("output");
      out.htmlFor = slider.id;
      out.textContent = fmt(slider.value);
      const move = () => { state.codes[c.name] = Number(slider.value); out.textContent = fmt(slider.value); changed(); };
      slider.addEventListener("input", move);
      slider.addEventListener("dblclick", () => { slider.value = String(c.default); move(); });
      // The training range as a band under the slider.
      const band = document.createElement("div");
      band.className = "band";
      band.title = c.train_range ? `trained on [${c.train_range[0]}, ${c.train_range[1]}]` : `prior ${c.prior}`;
      const mark = document.createElement("span");
      const [tlo, thi] = c.band; // the prior's bulk: its range, or ±1 std of a Gaussian
      mark.style.left = `${(100 * (tlo - lo)) / (hi - lo)}%`;
      mark.style.width = `${(100 * (thi - tlo)) / (hi - lo)}%`;
      band.append(mark);
      prior.textContent = c.train_range ? `${c.prior}: trained on [${c.train_range[0]}, ${c.train_range[1]}]`
        : `${c.prior}: band = ±1 std`;
      const wrap = document.createElement("div");
      wrap.className = "slider";
      wrap.append(slider, band);
      row.append(wrap, out, prior);
    }
    box.append(row);
    $("grid-code").add(new Option(`${c.name} (${c.prior})`, c.name));
  }
  if (!info.codes.length) box.append("this run has no codes: only the noise can change");
}

function setControls() {
  $("seed").value = String(state.seed);
  for (const el of document.querySelectorAll("[data-code]")) {
    el.value = String(state.codes[el.dataset.code]);
    if (el.type === "range") el.parentElement.nextElementSibling.textContent = fmt(el.value);
  }
}

function defaults() {
  state.codes = {};
  for (const c of info.codes) state.codes[c.name] = c.default;
}

function fromHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  const seed = Number(p.get("seed"));
  if (p.has("seed") && Number.isInteger(seed) && seed >= 0 && seed <= info.limits.max_seed) state.seed = seed;
  for (const c of info.codes) {
    const v = Number(p.get(c.name));
    if (!p.has(c.name) || !Number.isFinite(v)) continue;
    if (c.kind === "categorical" ? Number.isInteger(v) && v >= 0 && v < c.k : Math.abs(v) <= info.limits.max_abs_value) state.codes[c.name] = v;
  }
}

function wire() {
  $("seed").max = String(info.limits.max_seed);
  $("seed").addEventListener("input", () => {
    const v = Number($("seed").value);
    if (!Number.isInteger(v) || v < 0 || v > info.limits.max_seed) {
      showStatus(`seed must be an integer in 0..${info.limits.max_seed}`, true);
      return;
    }
    state.seed = v;
    changed();
  });
  $("new-noise").addEventListener("click", () => {
    state.seed = Math.floor(Math.random() * 2 ** 31);
    $("seed").value = String(state.seed);
    changed();
  });
  $("reset").addEventListener("click", () => { defaults(); setControls(); changed(); });
  const gridCode = $("grid-code");
  const gridInputs = () => {
    gridState.code = gridCode.value;
    gridState.rows = Math.min(Math.max(1, Math.round(Number($("grid-rows").value)) || 1), info.limits.max_rows);
    gridState.steps = Math.min(Math.max(2, Math.round(Number($("grid-steps").value)) || 10), info.limits.max_steps);
    const code = info.codes.find((c) => c.name === gridState.code);
    $("grid-steps-box").hidden = !code || code.kind === "categorical";
    if (code) {
      const cols = code.kind === "categorical" ? `its ${code.k} categories` : `${gridState.steps} values from ${code.slider[0]} to ${code.slider[1]}`;
      $("grid-caption").textContent = `columns: ${code.name} over ${cols}; rows: seeds ${state.seed}..${state.seed + gridState.rows - 1}; other codes as set`;
    }
  };
  for (const el of [gridCode, $("grid-rows"), $("grid-steps")]) {
    el.addEventListener("change", () => { gridInputs(); if (gridState.shown) gridView.request(); });
  }
  $("show-grid").addEventListener("click", () => {
    gridInputs();
    gridState.shown = true;
    $("grid-figure").hidden = false;
    $("hide-grid").hidden = false;
    gridView.request();
  });
  $("hide-grid").addEventListener("click", () => {
    gridState.shown = false;
    $("grid-figure").hidden = true;
    $("hide-grid").hidden = true;
  });
  gridInputs();
  $("seed").addEventListener("input", gridInputs);
  $("new-noise").addEventListener("click", gridInputs);
}

// What each code does: computed by the server on the first request, so fetched when first opened.
let effectsLoaded = false;
async function showEffects() {
  if (effectsLoaded) return;
  effectsLoaded = true;
  $("effects-caption").textContent = "computing…";
  try {
    const r = await fetch("api/effects");
    const e = await r.json();
    if (!r.ok) throw new Error(e.error);
    const body = $("effects-table").tBodies[0];
    for (const c of e.codes) {
      const row = body.insertRow();
      const where = c.inactive ? "inactive" : c.where;
      for (const text of [c.rank, c.name, c.prior, Number(c.ratio).toFixed(2), where]) row.insertCell().textContent = String(text);
      if (c.inactive) row.className = "inactive";
    }
    const img = $("effects");
    img.addEventListener("load", () => { img.dataset.version = String(Number(img.dataset.version) + 1); }, { once: true });
    img.src = "api/effects.png";
    $("effects-caption").textContent = `${e.n_noise} draws; reference: the noise changes pixels by ${Number(e.reference.strength).toFixed(3)} on average`;
  } catch (err) {
    effectsLoaded = false;
    $("effects-caption").textContent = "";
    showStatus(`cannot compute the code effects (${err.message})`, true);
  }
}

async function main() {
  try {
    const r = await fetch("api/info");
    info = await r.json();
    if (!r.ok) throw new Error(info.error);
  } catch (e) {
    showStatus(`cannot load the run (${e.message})`, true);
    return;
  }
  const [ch, h, w] = info.image_shape;
  $("run-info").textContent = `${info.run || "run"} at step ${info.step} (${info.checkpoint}); latent ${info.spec}; images ${ch}×${h}×${w}`;
  document.title = `infogan explorer: ${info.run}`;
  defaults();
  fromHash();
  buildCodes();
  wire();
  $("effects-panel").addEventListener("toggle", () => { if ($("effects-panel").open) showEffects(); });
  setControls();
  document.body.dataset.ready = "1";
  changed();
}

main();
