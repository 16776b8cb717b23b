// app.js — the review page: a reviewer decides the pairs the model is
// unsure of and moves findings through their states, through the same
// governed HTTP API as every other client (no other door: each call is
// authorized and audited by the server). No library, no network but the
// server's own origin (its Content-Security-Policy allows nothing else).
//
// Invariants:
//   1. The token lives in sessionStorage (this tab) and goes out only in
//      the Authorization header of same-origin requests.
//   2. Text from the server is put in the page as text (textContent,
//      never innerHTML), so a record's value cannot become markup.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { token: "", purpose: "", pairs: [], at: -1, busy: false, findings: [], finding: null };

async function api(method, path, body) {
  const headers = { Authorization: "Bearer " + state.token, "Dovetail-Purpose": state.purpose };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await resp.text();
  let json = null;
  try { json = JSON.parse(text); } catch (e) { json = null; }
  if (!resp.ok) {
    const msg = json && json.error ? json.error.message : text;
    throw new Error(resp.status + ": " + msg);
  }
  return json;
}

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}

// ---- sign in ------------------------------------------------------------

// A reviewer's token reads the queue; an auditor's, disclosures. Either
// proves the token and purpose; the server refuses what the role may not.
async function signIn(token, purpose) {
  state.token = token;
  state.purpose = purpose;
  let role = "reviewer";
  try {
    await loadQueue();
  } catch (e) {
    if (!e.message.startsWith("403")) throw e;
    await api("GET", "/v1/audit/head"); // an auditor's, or throws
    role = "auditor";
  }
  sessionStorage.setItem("dovetail", JSON.stringify({ token, purpose }));
  $("signin").hidden = true;
  $("review").hidden = false;
  $("signout").hidden = false;
  $("who").textContent = role + ", purpose: " + purpose;
  for (const id of ["tab-links", "tab-findings"]) $(id).hidden = role !== "reviewer";
  if (role === "auditor") showTab("disclosures");
  else $("queue").focus();
}

$("signin-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const token = $("token").value.trim(), purpose = $("purpose").value.trim();
  $("signin-error").textContent = "";
  if (!token || !/^[a-z0-9._-]{1,64}$/.test(purpose)) {
    $("signin-error").textContent = "Give your token and a purpose (a-z, 0-9, '.', '_', '-').";
    return;
  }
  try { await signIn(token, purpose); } catch (e) {
    state.token = "";
    $("signin-error").textContent = "Not signed in: " + e.message;
  }
});

$("signout").addEventListener("click", () => {
  sessionStorage.removeItem("dovetail");
  location.reload();
});

// ---- the queue of uncertain links -----------------------------------------

async function loadQueue() {
  const q = await api("GET", "/v1/review/queue?limit=200");
  state.pairs = q.pairs;
  renderQueue();
  select(state.pairs.length ? 0 : -1);
}

function renderQueue() {
  const ol = $("queue");
  ol.replaceChildren();
  state.pairs.forEach((p, i) => {
    const li = el("li");
    const b = el("button", p.a + " ~ " + p.b);
    b.type = "button";
    b.addEventListener("click", () => select(i));
    li.append(b, el("span", p.p === null ? "withheld" : (100 * p.p).toFixed(1) + "%", "p"));
    if (i === state.at) li.setAttribute("aria-current", "true");
    ol.append(li);
  });
  $("queue-count").textContent = "(" + state.pairs.length + ")";
  $("queue-empty").hidden = state.pairs.length > 0;
}

async function select(i) {
  state.at = i;
  renderQueue();
  const on = i >= 0 && i < state.pairs.length;
  for (const id of ["same", "different", "skip"]) $(id).disabled = !on;
  $("outcome").textContent = "";
  if (!on) {
    $("pair-title").textContent = "Pick a pair";
    $("rows").tBodies[0].replaceChildren();
    $("waterfall").replaceChildren();
    $("band").textContent = "";
    return;
  }
  const p = state.pairs[i];
  $("pair-title").textContent = p.a + " and " + p.b;
  $("effect").textContent = effectText(p);
  $("col-a").textContent = p.a;
  $("col-b").textContent = p.b;
  try {
    const ex = await api("GET", "/v1/explain?a=" + encodeURIComponent(p.a) + "&b=" + encodeURIComponent(p.b));
    if (state.at === i) renderExplanation(ex);
  } catch (e) {
    $("band").textContent = "No explanation: " + e.message;
  }
}

// What a decision would change, from the records' entities now (the
// server gives them only under a purpose that sees the whole store).
function effectText(p) {
  if (!p.entity_a || !p.entity_b) return "";
  if (p.entity_a === p.entity_b)
    return "Both are in entity " + p.entity_a + ": 'not the same' splits it; 'same' keeps it.";
  return p.a + " is in " + p.entity_a + ", " + p.b + " in " + p.entity_b +
    ": 'same' merges the two; 'not the same' keeps them apart from now on.";
}

function renderExplanation(ex) {
  const tb = $("rows").tBodies[0];
  tb.replaceChildren();
  for (const r of ex.rows) {
    const tr = el("tr");
    tr.append(el("th", r.comparison), el("td", r.a === "" ? "—" : r.a), el("td", r.b === "" ? "—" : r.b),
              el("td", r.level), el("td", r.level === "withheld" ? "withheld" : r.weight.toFixed(2), "num"));
    tr.firstChild.scope = "row";
    tb.append(tr);
  }
  const rule = ex.blocking_rule ? "; compared because they share " + ex.blocking_rule : "";
  $("band").textContent = ex.withheld
    ? "Band: " + ex.band + " (a compared column is withheld under this purpose, so no weight is shown)"
    : "Band: " + ex.band + ", match probability " + (100 * ex.probability).toFixed(1) + "%" + rule;
  drawWaterfall($("waterfall"), ex);
}

// A waterfall of match weights: each comparison's weight as a bar that
// starts where the sum so far ended; green adds, red takes away.
function drawWaterfall(svg, ex) {
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  const rows = ex.rows.filter((r) => r.level !== "withheld");
  if (!rows.length) return;
  let sum = 0, lo = 0, hi = 0;
  for (const r of rows) { sum += r.weight; lo = Math.min(lo, sum); hi = Math.max(hi, sum); }
  const longest = Math.max(...rows.map((r) => (r.comparison + " (" + r.level + ")").length));
  const W = 640, rowH = 22, left = Math.min(330, 12 + 6.8 * longest), width = W - left - 60;
  const x = (v) => left + ((v - lo) / ((hi - lo) || 1)) * width;
  svg.setAttribute("height", String(rows.length * rowH + 30));
  svg.setAttribute("viewBox", "0 0 " + W + " " + (rows.length * rowH + 30));
  const zero = document.createElementNS(ns, "line");
  zero.setAttribute("x1", x(0)); zero.setAttribute("x2", x(0));
  zero.setAttribute("y1", 0); zero.setAttribute("y2", rows.length * rowH + 8);
  zero.setAttribute("class", "axis");
  svg.append(zero);
  sum = 0;
  rows.forEach((r, k) => {
    const from = sum, to = sum + r.weight;
    sum = to;
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", Math.min(x(from), x(to)));
    rect.setAttribute("y", k * rowH + 4);
    rect.setAttribute("width", Math.max(1, Math.abs(x(to) - x(from))));
    rect.setAttribute("height", rowH - 8);
    rect.setAttribute("class", r.weight >= 0 ? "up" : "down");
    const label = document.createElementNS(ns, "text");
    label.setAttribute("x", 4); label.setAttribute("y", k * rowH + 16);
    label.textContent = r.comparison + " (" + r.level + ")";
    const value = document.createElementNS(ns, "text");
    value.setAttribute("x", Math.max(x(from), x(to)) + 4); value.setAttribute("y", k * rowH + 16);
    value.textContent = (r.weight >= 0 ? "+" : "") + r.weight.toFixed(1);
    svg.append(rect, label, value);
  });
  const total = document.createElementNS(ns, "text");
  total.setAttribute("x", 4); total.setAttribute("y", rows.length * rowH + 22);
  total.textContent = "total " + sum.toFixed(1);
  total.setAttribute("class", "total");
  svg.append(total);
}

async function decide(same) {
  const i = state.at;
  if (state.busy || i < 0 || i >= state.pairs.length) return;
  state.busy = true;
  const p = state.pairs[i], note = $("note").value;
  try {
    const r = await api("POST", "/v1/review/decisions", { a: p.a, b: p.b, same, note: note || null });
    $("note").value = "";
    state.pairs.splice(i, 1);
    await select(Math.min(i, state.pairs.length - 1)); // the next pair first, then the outcome
    $("outcome").textContent = (same ? "Same person: " : "Not the same: ") + (r.a.entity
      ? r.a.record + " is in " + r.a.entity + ", " + r.b.record + " in " + r.b.entity + "."
      : "recorded (this purpose sees part of the store, so no entity is named).");
  } catch (e) {
    $("outcome").textContent = "Not recorded: " + e.message;
  } finally {
    state.busy = false;
  }
}

$("same").addEventListener("click", () => decide(true));
$("different").addEventListener("click", () => decide(false));
$("skip").addEventListener("click", () => select(Math.min(state.at + 1, state.pairs.length - 1)));

// ---- findings ---------------------------------------------------------------

async function loadFindings() {
  const r = await api("GET", "/v1/findings?state=" + encodeURIComponent($("state").value));
  state.findings = r.findings;
  const ol = $("finding-list");
  ol.replaceChildren();
  r.findings.forEach((f) => {
    const b = el("button", f.rule + " — " + f.detail);
    b.type = "button";
    b.addEventListener("click", () => showFinding(f.finding_id));
    const li = el("li");
    li.append(b);
    ol.append(li);
  });
  if (!r.findings.length) ol.append(el("li", "None in this state."));
}

async function showFinding(id) {
  const f = await api("GET", "/v1/findings/" + encodeURIComponent(id));
  state.finding = f;
  $("finding-title").textContent = f.rule + " " + f.finding_id;
  const dl = $("finding-facts");
  dl.replaceChildren();
  const facts = [["State", f.state], ["Confidence", (100 * f.confidence).toFixed(1) + "%"],
                 ["What", f.evidence.detail], ["Date", f.evidence.date], ["Amount", f.evidence.amount]];
  for (const [k, v] of facts) if (v !== undefined && v !== null) dl.append(el("dt", k), el("dd", v));
  const ul = $("finding-records");
  ul.replaceChildren();
  for (const r of f.evidence.records) {
    const li = el("li", r.source + ":" + r.record_id);
    if (r.row) li.append(el("pre", JSON.stringify(r.row, null, 1)));
    ul.append(li);
  }
  const links = $("finding-links");
  links.replaceChildren();
  for (const l of f.evidence.links || []) {
    const a = l.a.source + ":" + l.a.record_id, b = l.b.source + ":" + l.b.record_id;
    const p = l.why && !l.why.withheld ? ", match probability " + (100 * l.probability).toFixed(1) + "%" : "";
    const fig = el("figure"), cap = el("figcaption", a + " ~ " + b + p);
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", "Match weights of " + a + " and " + b);
    svg.setAttribute("width", "640");
    fig.append(cap, svg);
    links.append(fig);
    if (l.why) drawWaterfall(svg, l.why);
  }
  const steps = $("finding-steps");
  steps.replaceChildren();
  for (const s of f.steps)
    steps.append(el("li", new Date(s.at * 1000).toISOString().slice(0, 19) + "Z " + s.action +
                          " by " + s.by + " → " + s.state + (s.reason ? ": " + s.reason : "")));
  for (const id2 of ["verify", "dismiss", "notify", "contest"]) $(id2).disabled = false;
  $("finding-outcome").textContent = "";
}

async function step(action) {
  if (!state.finding) return;
  const reason = $("reason").value.trim();
  try {
    const r = await api("POST", "/v1/findings/" + encodeURIComponent(state.finding.finding_id) + "/" + action,
                        reason ? { reason } : {});
    $("reason").value = "";
    await showFinding(state.finding.finding_id); // its history first, then the word that it is done
    $("finding-outcome").textContent = action + ": the finding is now " + r.state + ".";
  } catch (e) {
    $("finding-outcome").textContent = "Refused: " + e.message;
  }
}

for (const a of ["verify", "dismiss", "notify", "contest"]) $(a).addEventListener("click", () => step(a));
$("state").addEventListener("change", () => loadFindings().catch((e) => { $("finding-outcome").textContent = e.message; }));

function showTab(which) {
  for (const t of ["links", "findings", "disclosures"]) {
    $(t).hidden = t !== which;
    $("tab-" + t).setAttribute("aria-pressed", String(t === which));
  }
  if (which === "findings") loadFindings().catch((e) => { $("finding-outcome").textContent = e.message; });
  if (which === "disclosures") $("disc-record").focus();
}
$("tab-links").addEventListener("click", () => showTab("links"));
$("tab-findings").addEventListener("click", () => showTab("findings"));
$("tab-disclosures").addEventListener("click", () => showTab("disclosures"));

$("disc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const rec = $("disc-record").value.trim();
  const tb = $("disc-rows").tBodies[0];
  tb.replaceChildren();
  $("disc-outcome").textContent = "";
  try {
    const r = await api("GET", "/v1/disclosures?record=" + encodeURIComponent(rec));
    for (const d of r.disclosures) {
      const tr = el("tr");
      tr.append(el("td", d.seq), el("td", d.time), el("td", d.principal), el("td", d.purpose),
                el("td", d.action), el("td", (d.fields || []).join(", ")));
      tb.append(tr);
    }
    $("disc-outcome").textContent = r.disclosures.length + " entries for " + rec + ".";
  } catch (e) {
    $("disc-outcome").textContent = "Refused: " + e.message;
  }
});

// ---- keys: j/k move, y/n/s decide (not while typing) ---------------------------

document.addEventListener("keydown", (ev) => {
  const t = ev.target.tagName;
  if (t === "INPUT" || t === "TEXTAREA" || t === "SELECT" || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  if ($("review").hidden || $("links").hidden) return;
  const k = ev.key;
  if (k === "j") select(Math.min(state.at + 1, state.pairs.length - 1));
  else if (k === "k") select(Math.max(state.at - 1, 0));
  else if (k === "y") decide(true);
  else if (k === "n") decide(false);
  else if (k === "s") select(Math.min(state.at + 1, state.pairs.length - 1));
  else return;
  ev.preventDefault();
});

// ---- a tab already signed in ------------------------------------------------------

(async () => {
  const saved = sessionStorage.getItem("dovetail");
  if (!saved) return;
  try {
    const { token, purpose } = JSON.parse(saved);
    await signIn(token, purpose);
  } catch (e) {
    sessionStorage.removeItem("dovetail");
  }
})();
