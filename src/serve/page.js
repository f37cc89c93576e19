"use strict";
const $ = (id) => document.getElementById(id);
const fields = ["q", "mode", "path", "since", "until"];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = text;
  return e;
}

// The passage with its answer sentence marked (text nodes only: nothing from the index is HTML).
function passageText(hit) {
  const p = el("p", "text");
  const at = hit.answer ? hit.text.indexOf(hit.answer) : -1;
  if (at < 0) { p.textContent = hit.text; return p; }
  p.append(hit.text.slice(0, at), el("mark", "", hit.answer), hit.text.slice(at + hit.answer.length));
  return p;
}

// Where a passage is: `path:12-14`, for a PDF (whose places are pages) `path:page 3`, for Word,
// OpenDocument and EPUB (paragraphs) `path:¶12-14`.
function lines(h) {
  const range = h.line_start === h.line_end ? `${h.line_start}` : `${h.line_start}-${h.line_end}`;
  if (h.place === "paragraph") return `¶${range}`;
  if (h.place !== "page") return range;
  return h.line_start === h.line_end ? `page ${range}` : `pages ${range}`;
}

function card(hit) {
  // A result more likely irrelevant than relevant (confidence under 0.5) is drawn faint.
  const c = el("article", hit.confidence < 0.5 ? "card weak" : "card");
  c.tabIndex = -1;
  c.dataset.id = hit.id;
  c.append(el("p", "title", hit.section || hit.title || hit.path));
  const where = el("div", "where");
  where.append(el("span", "path", `${hit.path}:${lines(hit)}`));
  if (hit.date) where.append(el("span", "date", hit.date));
  // A server's collection: whose push the passage came from.
  if (hit.source) where.append(el("span", "from", "from " + hit.source));
  where.append(el("span", "score", `score ${hit.score.toFixed(3)}`));
  where.append(el("span", "confidence", `confidence ${hit.confidence.toFixed(2)}`));
  // Only web links: a stored url is a document's say, and `javascript:` would run in this page.
  if (hit.url && /^https?:\/\//i.test(hit.url)) { const a = el("a", "", "source"); a.href = hit.url; a.rel = "noreferrer noopener"; where.append(a); }
  c.append(where, passageText(hit));
  if (hit.also && hit.also.length) {
    c.append(el("div", "also", "also in " + hit.also.map((a) => `${a.path}:${a.place === "page" ? "page " : a.place === "paragraph" ? "¶" : ""}${a.line_start}` + (a.date ? ` (${a.date})` : "")).join(", ")));
  }
  const actions = el("div", "actions");
  const rel = el("a", "related", "related");
  rel.href = "?related=" + encodeURIComponent(hit.id);
  rel.addEventListener("click", (e) => { e.preventDefault(); related(hit.id); });
  actions.append(rel);
  c.append(actions);
  return c;
}

function show(results, note) {
  const box = $("results");
  box.replaceChildren(...results.map(card));
  $("note").textContent = note;
}

async function fetchJson(url) {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(body.error || `HTTP ${r.status}`);
  return body;
}

function params() {
  const p = new URLSearchParams();
  // An empty mode is the server's default (SEMSEARCH_MODE, else hybrid).
  for (const f of fields) { const v = $(f).value.trim(); if (v) p.set(f, v); }
  return p;
}

async function search(push) {
  const p = params();
  if (!p.get("q")) { show([], ""); return; }
  if (push) history.pushState(null, "", "?" + p);
  $("note").textContent = "Searching…";
  try {
    const body = await fetchJson("/api/ask?" + p);
    const n = body.results.length;
    let note = n ? `${n} result${n > 1 ? "s" : ""}` : "Nothing answers that.";
    if (body.undated_left_out) note += ` · ${body.undated_left_out} undated documents left out`;
    // Why nothing came back, or that a quoted phrase was dropped (text, never markup).
    for (const line of body.notices || []) note += ` · ${line}`;
    show(body.results, note);
  } catch (e) { show([], e.message); }
}

async function related(id, push = true) {
  const p = new URLSearchParams({ id, k: "5" });
  if (push) history.pushState(null, "", "?related=" + encodeURIComponent(id));
  $("note").textContent = "Finding related passages…";
  try {
    const body = await fetchJson("/api/related?" + p);
    show(body.results, [`Related to passage ${id}`, ...(body.notices || [])].join(" · "));
  } catch (e) { show([], e.message); }
}

function fromUrl() {
  const u = new URLSearchParams(location.search);
  for (const f of fields) $(f).value = u.get(f) || "";
  if (u.get("related")) related(u.get("related"), false); else search(false);
}

$("form").addEventListener("submit", (e) => { e.preventDefault(); search(true); $("q").blur(); focusCard(0); });
window.addEventListener("popstate", fromUrl);

function cards() { return [...document.querySelectorAll(".card")]; }
function focusCard(i) {
  const cs = cards();
  if (!cs.length) return;
  i = Math.max(0, Math.min(cs.length - 1, i));
  cs.forEach((c, j) => c.classList.toggle("selected", j === i));
  cs[i].focus();
  cs[i].scrollIntoView({ block: "nearest" });
}
document.addEventListener("keydown", (e) => {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (e.key === "/" && !typing) { e.preventDefault(); $("q").focus(); $("q").select(); return; }
  if (e.key === "Escape" && typing) { document.activeElement.blur(); return; }
  if (typing) return;
  const cs = cards();
  const at = cs.indexOf(document.activeElement);
  if (e.key === "ArrowDown" || e.key === "j") { e.preventDefault(); focusCard(at + 1); }
  else if (e.key === "ArrowUp" || e.key === "k") { e.preventDefault(); if (at <= 0) $("q").focus(); else focusCard(at - 1); }
  else if (e.key === "r" && at >= 0) { related(cs[at].dataset.id); }
});

fromUrl();
