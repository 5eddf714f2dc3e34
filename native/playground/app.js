// The playground page: it asks the server for numbers and draws them. Nothing here computes
// the network; every value shown comes from pure/ or native/ through the JSON API.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  let lang = localStorage.getItem("lang") ||
    ((navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en");
  const t = (key, vars) => {
    let s = (I18N[lang] && I18N[lang][key]) ?? I18N.en[key] ?? key;
    for (const k in vars || {}) s = s.replace("{" + k + "}", vars[k]);
    return s;
  };
  let rerender = [];        // views redraw their dynamic text on a language switch

  function applyLang() {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").textContent = t("lang_other");
    rerender.forEach((f) => f());
  }
  $("lang").addEventListener("click", () => {
    lang = lang === "zh" ? "en" : "zh";
    localStorage.setItem("lang", lang);
    applyLang();
  });

  function showError(msg) {
    const el = $("error");
    el.textContent = msg || "";
    el.hidden = !msg;
  }
  async function api(method, path, body) {
    const opts = { method, headers: {} };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const r = await fetch(path, opts);
    const data = await r.json();
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }
  const guarded = (f) => (...a) => f(...a).then(() => showError(""), (e) => showError(e.message));

  // --- colour: red positive, blue negative, white 0 — as native.plot draws weights ---------------
  function colour(v, max) {
    const s = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
    const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
    return `rgb(${Math.round(255 + (r - 255) * s)},${Math.round(255 + (g - 255) * s)},${Math.round(255 + (b - 255) * s)})`;
  }
  const absMax = (rows) => rows.flat().reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  function b64floats(s) {
    const bin = atob(s);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    return new Float32Array(bytes.buffer);
  }
  function tile(values, offset, max, size) {      // one 28×28 (or size×size) diverging image
    const c = document.createElement("canvas");
    c.width = c.height = size;
    c.className = "pixelated";
    paint(c, values, offset, max);
    return c;
  }
  function paint(c, values, offset, max) {
    const n = c.width * c.height, ctx = c.getContext("2d"), img = ctx.createImageData(c.width, c.height);
    for (let i = 0; i < n; i++) {
      const v = values[offset + i], s = max > 0 ? Math.min(1, Math.abs(v) / max) : 0;
      const [r, g, b] = v >= 0 ? [178, 24, 43] : [33, 102, 172];
      img.data.set([255 + (r - 255) * s, 255 + (g - 255) * s, 255 + (b - 255) * s, 255], 4 * i);
    }
    ctx.putImageData(img, 0, 0);
  }

  // --- tabs ------------------------------------------------------------------------------------
  const views = { ex3: null, draw: null, train: null };
  function show(name) {
    for (const v in views) $("view-" + v).hidden = v !== name;
    document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", b.dataset.view === name));
    location.hash = name;
    if (name === "train") train.poll();
  }
  document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));

  // ===== view 1: exercise 3 =====================================================================
  const F = {   // the chapter's formulas, in its notation
    X: "X", Y: "Y", W1: "W₁", b1: "b₁", W2: "W₂", b2: "b₂",
    Z1: "Z₁ = X·W₁ + b₁", A1: "A₁ = ReLU(Z₁)", Z2: "Z₂ = A₁·W₂ + b₂", A2: "A₂ = softmax(Z₂)",
    loss: "L = −(1/N) Σ Y ⊙ log A₂",
    delta2: "δ₂ = (A₂ − Y) / N", gW2: "∂L/∂W₂ = A₁ᵀ·δ₂", gb2: "∂L/∂b₂ = Σₙ δ₂",
    delta1: "δ₁ = (δ₂·W₂ᵀ) ⊙ ReLU′(Z₁)", gW1: "∂L/∂W₁ = Xᵀ·δ₁", gb1: "∂L/∂b₁ = Σₙ δ₁",
  };
  const F_CHAPTER = { gb2: "∂L/∂b₂ = mean(δ₂)", gb1: "∂L/∂b₁ = mean(δ₁)" };
  // What entry (r, c) of each matrix is computed from: [matrix, row or null (all), col or null].
  const DEPS = {
    Z1: (r, c) => [["X", r, null], ["W1", null, c], ["b1", 0, c]],
    A1: (r, c) => [["Z1", r, c]],
    Z2: (r, c) => [["A1", r, null], ["W2", null, c], ["b2", 0, c]],
    A2: (r, c) => [["Z2", r, null]],
    delta2: (r, c) => [["A2", r, c], ["Y", r, c]],
    gW2: (r, c) => [["A1", null, r], ["delta2", null, c]],
    gb2: (r, c) => [["delta2", null, c]],
    delta1: (r, c) => [["delta2", r, null], ["W2", c, null], ["Z1", r, c]],
    gW1: (r, c) => [["X", null, r], ["delta1", null, c]],
    gb1: (r, c) => [["delta1", null, c]],
  };
  const ex3 = { steps: 0, data: null };

  function grid(name, M, max, kind) {
    const table = document.createElement("table");
    table.className = "grid";
    M.forEach((row, r) => {
      const tr = table.insertRow();
      row.forEach((v, c) => {
        const td = tr.insertCell();
        td.textContent = kind === "err" ? v.toExponential(1) : v.toFixed(3);
        td.dataset.v = String(v);
        td.dataset.m = name; td.dataset.r = r; td.dataset.c = c;
        td.style.background = kind === "err" ? (v <= 1e-7 ? "#d9f2d9" : "#f8c9c9") : colour(v, max);
        td.title = `${name}[${r}][${c}] = ${v}`;
      });
    });
    return table;
  }
  function card(name, d, opts = {}) {
    const div = document.createElement("div");
    div.className = "card";
    div.id = "card-" + name;
    const h = document.createElement("div");
    h.className = "formula";
    h.textContent = (d.chapter_bias && F_CHAPTER[name]) || F[name];
    div.appendChild(h);
    const cap = t("cap_" + name);
    if (cap) { const p = document.createElement("div"); p.className = "caption"; p.textContent = cap; div.appendChild(p); }
    if (d.chapter_bias && F_CHAPTER[name]) {
      const p = document.createElement("div"); p.className = "caption bad"; p.textContent = t("cap_gb_chapter"); div.appendChild(p);
    }
    const M = d.matrices[name];
    if (!opts.check) { div.appendChild(grid(name, M, absMax(M))); return div; }
    const key = name.slice(1);                    // gW1 → W1
    const max = Math.max(absMax(M), absMax(d.numerical[key]));
    const row = document.createElement("div");
    row.className = "triple";
    for (const [label, mat, nm, kind] of [["analytic", M, name, ""], ["numerical", d.numerical[key], "num_" + key, ""],
                                          ["rel_error", d.relative_error[key], "err_" + key, "err"]]) {
      const col = document.createElement("div");
      const l = document.createElement("div"); l.className = "caption"; l.textContent = t(label);
      col.appendChild(l); col.appendChild(grid(nm, mat, max, kind)); row.appendChild(col);
    }
    div.appendChild(row);
    const v = d.verdict[key], p = document.createElement("div");
    p.className = "verdict " + (v.passed ? "good" : "bad");
    p.dataset.passed = String(v.passed);
    p.textContent = `${v.passed ? "✓ " + t("pass") : "✗ " + t("fail")} · ${t("max_rel")} ${v.error.toExponential(2)}` +
      (v.at_kink ? ` · ${v.at_kink} ${t("kink")}` : "");
    div.appendChild(p);
    return div;
  }
  function renderEx3() {
    const d = ex3.data;
    if (!d) return;
    $("ex3-loss").textContent = d.loss.toFixed(6);
    $("ex3-losses").textContent = d.losses.length > 1 ? t("losses_after") + " " + d.losses.map((x) => x.toFixed(4)).join(" → ") : "";
    const fw = $("ex3-forward"), bw = $("ex3-backward");
    fw.replaceChildren(...["X", "W1", "b1", "Z1", "A1", "W2", "b2", "Z2", "A2", "Y"].map((n) => card(n, d)));
    const lossCard = document.createElement("div");
    lossCard.className = "card"; lossCard.id = "card-loss";
    lossCard.innerHTML = '<div class="formula"></div><div class="caption"></div><div class="big-number"></div>';
    lossCard.children[0].textContent = F.loss; lossCard.children[1].textContent = t("cap_loss");
    lossCard.children[2].textContent = d.loss.toFixed(6); lossCard.children[2].dataset.v = String(d.loss);
    fw.appendChild(lossCard);
    bw.replaceChildren(card("delta2", d), card("gW2", d, { check: true }), card("gb2", d, { check: true }),
                       card("delta1", d), card("gW1", d, { check: true }), card("gb1", d, { check: true }));
  }
  rerender.push(renderEx3);
  function highlight(td, on) {
    document.querySelectorAll(".grid td.src, .grid td.me").forEach((x) => x.classList.remove("src", "me"));
    if (!on || !td) return;
    td.classList.add("me");
    const rule = DEPS[td.dataset.m];
    if (!rule) return;
    for (const [m, r, c] of rule(+td.dataset.r, +td.dataset.c)) {
      document.querySelectorAll(`.grid td[data-m="${m}"]`).forEach((x) => {
        if ((r === null || +x.dataset.r === r) && (c === null || +x.dataset.c === c)) x.classList.add("src");
      });
    }
  }
  for (const id of ["ex3-forward", "ex3-backward"]) {
    $(id).addEventListener("mouseover", (e) => highlight(e.target.closest("td"), true));
    $(id).addEventListener("mouseleave", () => highlight(null, false));
  }
  const loadEx3 = guarded(async () => {
    const seed = parseInt($("ex3-seed").value, 10), lr = parseFloat($("ex3-lr").value);
    ex3.data = await api("POST", "/api/exercise3", {
      seed: Number.isFinite(seed) ? seed : 0, lr: Number.isFinite(lr) ? lr : 0.1,
      chapter_bias: $("ex3-bias").checked, steps: ex3.steps });
    renderEx3();
  });
  $("ex3-step").addEventListener("click", () => { ex3.steps++; loadEx3(); });
  $("ex3-reset").addEventListener("click", () => { ex3.steps = 0; loadEx3(); });
  for (const id of ["ex3-seed", "ex3-lr", "ex3-bias"]) $(id).addEventListener("change", () => { ex3.steps = 0; loadEx3(); });

  // ===== view 2: draw a digit ===================================================================
  const pad = $("pad"), pctx = pad.getContext("2d");
  const SEND = 140;        // the raster sent to the server: the canvas at half resolution
  const small = document.createElement("canvas");
  small.width = small.height = SEND;
  const dr = { label: null, last: null, busy: false, dirty: false, drawing: false, prev: null, lastBody: null };
  function clearPad() {
    pctx.fillStyle = "#fff"; pctx.fillRect(0, 0, pad.width, pad.height);
    dr.last = null; dr.label = null;
    document.querySelectorAll("#labels button").forEach((b) => b.classList.remove("on"));
    $("learn").disabled = true; $("learn-info").textContent = "";
    requestDraw();
  }
  function pos(e) {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
  }
  pad.addEventListener("pointerdown", (e) => { dr.drawing = true; dr.prev = pos(e); pad.setPointerCapture(e.pointerId); stroke(e); });
  pad.addEventListener("pointermove", (e) => { if (dr.drawing) stroke(e); });
  for (const ev of ["pointerup", "pointercancel"]) pad.addEventListener(ev, () => { dr.drawing = false; requestDraw(); });
  function stroke(e) {
    const p = pos(e);
    pctx.strokeStyle = "#000"; pctx.lineWidth = 20; pctx.lineCap = pctx.lineJoin = "round";
    pctx.beginPath(); pctx.moveTo(...dr.prev); pctx.lineTo(...p); pctx.stroke();
    dr.prev = p;
    requestDraw();
  }
  function canvasBody() {
    const sctx = small.getContext("2d");
    sctx.fillStyle = "#fff"; sctx.fillRect(0, 0, SEND, SEND);
    sctx.drawImage(pad, 0, 0, SEND, SEND);
    const rgba = sctx.getImageData(0, 0, SEND, SEND).data, px = new Array(SEND * SEND);
    for (let i = 0; i < px.length; i++) px[i] = 255 - rgba[4 * i];      // ink = darkness
    return { width: SEND, height: SEND, pixels: px };
  }
  // At most one request in flight: while drawing, the newest canvas is sent when the last answer is in.
  function requestDraw() { dr.dirty = true; if (!dr.busy) sendDraw(); }
  async function sendDraw() {
    dr.busy = true;
    try {
      while (dr.dirty) {
        dr.dirty = false;
        const body = canvasBody();
        if (dr.label !== null) body.label = dr.label;
        dr.lastBody = body;
        dr.last = await api("POST", "/api/draw", body);
        renderDraw();
      }
      showError("");
    } catch (e) { showError(e.message); } finally { dr.busy = false; }
  }
  function bars(el, probs, before) {
    el.replaceChildren();
    probs.forEach((p, k) => {
      const row = document.createElement("div"); row.className = "bar";
      const lab = document.createElement("span"); lab.textContent = k;
      const track = document.createElement("span"); track.className = "track";
      if (before) { const g = document.createElement("span"); g.className = "ghost"; g.style.width = (100 * before[k]) + "%"; track.appendChild(g); }
      const fill = document.createElement("span"); fill.className = "fill"; fill.style.width = (100 * p) + "%";
      track.appendChild(fill);
      const val = document.createElement("span"); val.className = "val prob"; val.dataset.v = String(p);
      val.textContent = (100 * p).toFixed(1) + "%";
      row.append(lab, track, val);
      if (probs.indexOf(Math.max(...probs)) === k) row.classList.add("top");
      el.appendChild(row);
    });
  }
  function cells(name, values, caption) {
    const wrap = document.createElement("div"); wrap.className = "cellrow";
    const h = document.createElement("div"); h.className = "formula"; h.textContent = caption; wrap.appendChild(h);
    const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const box = document.createElement("div"); box.className = "cells";
    values.forEach((v, i) => {
      const c = document.createElement("span"); c.style.background = colour(v, max);
      c.dataset.v = String(v); c.dataset.m = name; c.title = `${name}[${i}] = ${v}`; box.appendChild(c);
    });
    wrap.appendChild(box);
    return wrap;
  }
  function renderDraw() {
    const d = dr.last;
    if (!d) return;
    const m = d.model;
    $("model-info").textContent = t("model_" + m.source, { e: m.epoch }) + (m.learned_steps ? " · " + t("learned", { n: m.learned_steps }) : "");
    const c = $("input28"), ctx = c.getContext("2d"), img = ctx.createImageData(28, 28);
    d.input.forEach((v, i) => { const g = 255 - Math.round(255 * v); img.data.set([g, g, g, 255], 4 * i); });
    ctx.putImageData(img, 0, 0);
    bars($("probs"), d.probs, d.probs_before);
    $("hidden").replaceChildren(...d.hidden.map((a, i) => cells("A" + (i + 1), a, `A${"₁₂₃₄₅"[i]} = ReLU(Z${"₁₂₃₄₅"[i]})  (${a.length})`)));
    $("backward-digit").hidden = !d.deltas;
    if (d.deltas) {
      const L = d.deltas.length, sub = (k) => "₁₂₃₄₅₆"[k - 1];
      $("deltas").replaceChildren(...d.deltas.map((_, j) => {
        const k = L - j;       // output layer first, as the backward pass walks
        const f = k === L ? `δ${sub(k)} = (A${sub(k)} − Y)/N` : `δ${sub(k)} = (δ${sub(k + 1)}·W${sub(k + 1)}ᵀ) ⊙ ReLU′(Z${sub(k)})`;
        return cells("delta" + k, d.deltas[k - 1], f);
      }));
      const head = document.createElement("div");
      head.className = "formula"; head.id = "digit-loss"; head.dataset.v = String(d.loss);
      head.textContent = `${t("loss_label")} = ${d.loss.toFixed(4)}` +
        (d.loss_before !== undefined ? " · " + t("learn_result", { a: d.loss_before.toFixed(4), b: d.loss.toFixed(4) }) : "");
      $("deltas").prepend(head);
      const g = b64floats(d.gW1), units = g.length / 784;
      $("gw1").replaceChildren(...Array.from({ length: units }, (_, j) => tile(g, 784 * j, d.gW1_absmax, 28)));
    }
  }
  rerender.push(renderDraw);
  for (let k = 0; k < 10; k++) {
    const b = document.createElement("button"); b.textContent = k; b.dataset.label = k;
    b.addEventListener("click", () => {
      dr.label = k;
      document.querySelectorAll("#labels button").forEach((x) => x.classList.toggle("on", x === b));
      $("learn").disabled = false;
      requestDraw();
    });
    $("labels").appendChild(b);
  }
  $("learn").addEventListener("click", guarded(async () => {
    const body = canvasBody(); body.label = dr.label;
    dr.lastBody = body;
    dr.last = await api("POST", "/api/draw/learn", body);
    renderDraw();
    $("learn-info").textContent = t("learn_result", { a: dr.last.loss_before.toFixed(4), b: dr.last.loss.toFixed(4) });
  }));
  $("pad-clear").addEventListener("click", clearPad);

  // ===== view 3: training =======================================================================
  // The batch losses in one growing Float64Array (8 bytes a batch: a 50-epoch run at batch size 1
  // is 3 million batches, too many for a JavaScript array of numbers).
  const train = { buf: new Float64Array(4096), n: 0, version: -1, status: "idle", timer: null, state: null,
                  inflight: false, again: false };
  function pushLosses(xs) {
    if (train.n + xs.length > train.buf.length) {
      const bigger = new Float64Array(Math.max(2 * train.buf.length, train.n + xs.length));
      bigger.set(train.buf.subarray(0, train.n));
      train.buf = bigger;
    }
    train.buf.set(xs, train.n);
    train.n += xs.length;
  }
  function clearLosses() { train.buf = new Float64Array(4096); train.n = 0; train.version = -1; }
  function settings() {
    const num = (id) => Number($(id).value);
    return { hidden: $("t-hidden").value.trim().split(/[\s,]+/).filter(Boolean).map(Number),
             lr: num("t-lr"), decay: num("t-decay"), batch_size: num("t-batch"), epochs: num("t-epochs"), seed: num("t-seed") };
  }
  $("t-start").addEventListener("click", guarded(async () => {
    await api("POST", "/api/train/start", settings());
    clearLosses();
    train.poll();
  }));
  $("t-pause").addEventListener("click", guarded(async () => {
    await api("POST", train.status === "paused" ? "/api/train/resume" : "/api/train/pause", {});
    train.poll();
  }));
  $("t-reset").addEventListener("click", guarded(async () => {
    await api("POST", "/api/train/reset", {});
    clearLosses(); $("w1").replaceChildren();
    train.poll();
  }));
  $("t-save").addEventListener("click", guarded(async () => {
    const r = await api("POST", "/api/train/save", { name: $("t-name").value, overwrite: $("t-overwrite").checked });
    $("t-saved").textContent = t("saved_msg", { n: r.saved, e: r.epoch });
  }));
  // Polling: one request at a time, only the batch losses not yet seen, the weights only when
  // they changed — the page cannot fall behind, and holds one array of losses.
  train.poll = async function () {
    if (train.inflight) { train.again = true; return; }     // one poll loop, however often asked
    train.inflight = true;
    clearTimeout(train.timer);
    let next = 2000;
    try {
      const s = await api("GET", `/api/train/state?since=${train.n}&weights_after=${train.version}`);
      if (s.since !== train.n || s.n_batches < train.n) {   // a reset or a new run
        clearLosses();
        next = 0;
      } else {
        pushLosses(s.batch_losses);
        train.state = s; train.status = s.status;
        if (s.W1) {
          train.version = s.weight_version;
          const g = b64floats(s.W1), units = Math.min(64, s.W1_shape[0]), box = $("w1");
          if (box.children.length !== units) box.replaceChildren(...Array.from({ length: units }, () => tile(g, 0, 1, 28)));
          for (let j = 0; j < units; j++) paint(box.children[j], g, 784 * j, s.W1_absmax);
        }
        renderTrain();
        const active = ["running", "loading", "paused"].includes(s.status);
        next = train.n < s.n_batches ? 0 : active ? 300 : ($("view-train").hidden ? null : 2000);
      }
    } catch (e) { showError(e.message); }
    train.inflight = false;
    if (train.again) { train.again = false; next = 0; }
    if (next !== null) train.timer = setTimeout(train.poll, next);
  };
  function renderTrain() {
    const s = train.state;
    if (!s) return;
    let text = t("st_" + s.status);
    if (s.status === "error" && s.error) text += ": " + s.error;
    if (s.settings) text += ` · ${s.settings.sizes.join("→")} · ${t("epoch_col")} ${s.epoch}/${s.settings.epochs}`;
    if (s.samples_per_s) text += ` · ${Math.round(s.samples_per_s).toLocaleString()} ${t("sps_col")}`;
    if (s.initial_loss !== null) text += ` · ${t("loss0", { l: s.initial_loss.toFixed(4) })}`;
    $("t-status").textContent = text;
    $("t-status").dataset.status = s.status;
    $("t-pause").textContent = t(s.status === "paused" ? "resume" : "pause");
    const tab = $("t-epochs-table");
    tab.replaceChildren();
    const head = tab.insertRow();
    for (const k of ["epoch_col", "loss_col", "acc_col", "lr_col", "sps_col"]) { const th = document.createElement("th"); th.textContent = t(k); head.appendChild(th); }
    for (const e of s.epochs) {
      const r = tab.insertRow();
      r.className = "epoch-row";
      [e.epoch, e.loss.toFixed(4), (100 * e.test_accuracy).toFixed(2) + " %", e.lr.toPrecision(4),
       e.samples_per_s ? Math.round(e.samples_per_s).toLocaleString() : ""].forEach((v, i) => {
        const c = r.insertCell(); c.textContent = v;
        if (i === 1) c.dataset.v = String(e.loss);
        if (i === 2) c.dataset.v = String(e.test_accuracy);
      });
    }
    drawCurve();
  }
  rerender.push(renderTrain);
  function drawCurve() {
    const c = $("curve"), ctx = c.getContext("2d"), W = c.width, H = c.height, s = train.state;
    const L = train.buf.subarray(0, train.n);
    c.dataset.points = String(L.length);
    ctx.clearRect(0, 0, W, H);
    ctx.strokeStyle = "#999"; ctx.strokeRect(40.5, 10.5, W - 50, H - 40);
    if (!L.length || !s || !s.settings) return;
    const perEpoch = Math.ceil(s.n_train / s.settings.batch_size) || L.length;
    const total = Math.max(L.length, perEpoch * s.settings.epochs);
    const top = Math.max(2.5, ...L.slice(0, 50).filter(Number.isFinite));
    const x = (i) => 40 + (W - 50) * i / total, y = (v) => 10 + (H - 40) * (1 - Math.min(v, top) / top);
    ctx.fillStyle = "#444"; ctx.font = "11px sans-serif";
    for (const v of [0, top / 2, top]) ctx.fillText(v.toFixed(1), 4, y(v) + 4);
    for (let e = 1; e <= s.settings.epochs; e++) {          // epoch marks
      ctx.strokeStyle = "#eee"; ctx.beginPath(); ctx.moveTo(x(e * perEpoch) + 0.5, 10); ctx.lineTo(x(e * perEpoch) + 0.5, H - 30); ctx.stroke();
      if (e % Math.ceil(s.settings.epochs / 10) === 0) ctx.fillText(e, x(e * perEpoch) - 4, H - 16);
    }
    const step = Math.max(1, Math.floor(L.length / (2 * W)));   // at most ~2 points a pixel
    ctx.strokeStyle = "#bbb"; ctx.beginPath();
    for (let i = 0; i < L.length; i += step) ctx.lineTo(x(i), y(L[i]));
    ctx.stroke();
    ctx.strokeStyle = "#2166ac"; ctx.lineWidth = 2; ctx.beginPath();
    let m = L[0];
    for (let i = 0; i < L.length; i++) { m = 0.98 * m + 0.02 * L[i]; if (i % step === 0) ctx.lineTo(x(i), y(m)); }
    ctx.stroke(); ctx.lineWidth = 1;
  }

  // --- start -------------------------------------------------------------------------------------
  applyLang();
  show(["ex3", "draw", "train"].includes(location.hash.slice(1)) ? location.hash.slice(1) : "ex3");
  loadEx3();
  clearPad();
})();
