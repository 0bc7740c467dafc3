"use strict";
// The editors' page: tag a pasted article, show why, pick tags, copy them as hashtags.
// Talks only to this server (/v1/models, /v1/tags, /v1/explain); builds the DOM without innerHTML.

const $ = (id) => document.getElementById(id);
const state = { text: "", items: [], current: null };

function hashtag(tag) { return "#" + tag.trim().replace(/\s+/g, "_"); }
function percent(p) { return (100 * p).toFixed(p >= 0.995 || p < 0.001 ? 1 : 0) + "%"; }

function problemText(status, body) {
  if (body && typeof body.detail === "string") return body.detail;
  if (body && Array.isArray(body.detail)) {
    return body.detail.map((e) => `${(e.loc || []).filter((p) => p !== "body").join(".")}: ${e.msg}`).join("; ");
  }
  return `HTTP ${status}`;
}

async function post(path, payload) {
  const r = await fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                                body: JSON.stringify(payload) });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new Error(problemText(r.status, body));
  return body;
}

function setStatus(message, error = false) {
  const s = $("status");
  s.textContent = message;
  s.classList.toggle("error", error);
}

async function loadModels() {
  const select = $("model");
  try {
    const r = await fetch("/v1/models");
    const data = await r.json();
    for (const m of data.models) {
      const o = document.createElement("option");
      o.value = m.name;
      o.textContent = `${m.name} (${m.tags} тегов)`;
      o.selected = m.name === data.default;
      select.appendChild(o);
    }
  } catch (e) {
    setStatus("Не удалось узнать модели сервера: " + e.message, true);
  }
}

async function tag() {
  const text = $("text").value;
  if (!text.trim()) { setStatus("Вставьте текст статьи.", true); $("text").focus(); return; }
  const payload = { text, page: $("page").checked, model: $("model").value || null };
  document.dispatchEvent(new CustomEvent("tagger:tag", { detail: payload }));  // (similar.js: the similar articles)
  const button = $("tag");
  button.disabled = true;
  setStatus("Подбираю теги…");
  try {
    const [tagged, explained] = await Promise.all([
      post("/v1/tags", payload), post("/v1/explain", { ...payload, top_k: 10, terms: 12 })]);
    const chosen = new Map(tagged.tags.map((t) => [t.tag, t.score]));
    const items = explained.explanations.map((e) => ({
      tag: e.tag, score: e.score, suggested: chosen.has(e.tag),
      phrases: e.pushed_up.map((p) => ({ phrase: p.phrase, c: p.contribution, kind: "up" }))
        .concat(e.pushed_down.map((p) => ({ phrase: p.phrase, c: p.contribution, kind: "down" }))) }));
    for (const [t, s] of chosen) {
      if (!items.some((i) => i.tag === t)) items.push({ tag: t, score: s, suggested: true, phrases: [] });
    }
    state.text = tagged.page ? `${tagged.page.title}\n\n${tagged.page.text}` : text;
    state.items = items;
    render();
    const n = chosen.size;
    setStatus(n ? `Предложено тегов: ${n}. Отметьте нужные и скопируйте.`
                : "Модель не уверена ни в одном теге; ниже — самые вероятные.");
  } catch (e) {
    setStatus("Ошибка: " + e.message, true);
  } finally {
    button.disabled = false;
  }
}

function render() {
  const list = $("tags");
  list.replaceChildren();
  state.items.forEach((item, i) => {
    const li = document.createElement("li");
    li.dataset.tag = item.tag;
    const box = document.createElement("input");
    box.type = "checkbox";
    box.id = `tag-${i}`;
    box.checked = item.suggested;
    box.setAttribute("aria-label", `${item.tag}, ${percent(item.score)}`);
    box.addEventListener("change", updateHashtags);
    const label = document.createElement("label");
    label.htmlFor = box.id;
    label.textContent = item.tag;
    if (item.suggested) {
      const s = document.createElement("span");
      s.className = "suggested";
      s.textContent = "предложен";
      label.appendChild(s);
    }
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("span");
    fill.style.width = `${Math.max(1, Math.round(100 * item.score))}%`;
    bar.appendChild(fill);
    const score = document.createElement("span");
    score.className = "score";
    score.textContent = percent(item.score);
    li.append(box, label, bar, score);
    for (const ev of ["mouseenter", "focusin"]) li.addEventListener(ev, () => highlight(item.tag));
    list.appendChild(li);
  });
  $("result").hidden = false;
  updateHashtags();
  highlight(state.items.length ? state.items[0].tag : null);
}

function updateHashtags() {
  const ticked = [...$("tags").querySelectorAll("input[type=checkbox]")]
    .map((box, i) => (box.checked ? state.items[i].tag : null)).filter(Boolean);
  $("hashtags").value = ticked.map(hashtag).join(" ");
}

// A phrase as a literal inside a regular expression with the u flag, which allows only the syntax characters
// (and "/") to be escaped: "\-" is an error there, and "-" outside a class needs no escape.
function escapeRegExp(s) { return s.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&"); }

// A word of an explanation as a pattern that also finds it written with characters invisible inside words
// (a soft hyphen, a zero-width space, a stress mark), which the model reads the word without.
const INVISIBLE = "[\\p{Default_Ignorable_Code_Point}\\p{Mn}]*";
function wordPattern(word) { return [...word].map(escapeRegExp).join(INVISIBLE); }

// Where each phrase of the explanation occurs in the text: [start, end, kind, contribution].
function spans(text, phrases) {
  const out = [];
  for (const p of phrases) {
    const words = p.phrase.split(/\s+/).filter(Boolean).map(wordPattern);
    if (!words.length) continue;
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${words.join("[\\s\\p{P}]+")}(?![\\p{L}\\p{N}])`, "giu");
    for (const m of text.matchAll(re)) out.push([m.index, m.index + m[0].length, p.kind, p.c]);
  }
  out.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const kept = [];
  for (const s of out) if (!kept.length || s[0] >= kept[kept.length - 1][1]) kept.push(s);
  return kept;
}

function highlight(tag) {
  const item = state.items.find((i) => i.tag === tag);
  state.current = tag;
  for (const li of $("tags").children) li.classList.toggle("current", li.dataset.tag === tag);
  $("highlight-tag").textContent = item ? `— почему ${item.tag}` : "";
  const box = $("highlighted");
  box.replaceChildren();
  const text = state.text;
  let at = 0;
  for (const [start, end, kind, c] of item ? spans(text, item.phrases) : []) {
    box.append(document.createTextNode(text.slice(at, start)));
    const mark = document.createElement("mark");
    mark.className = kind;
    mark.title = `${c > 0 ? "+" : ""}${c.toFixed(3)}`;
    mark.textContent = text.slice(start, end);
    box.append(mark);
    at = end;
  }
  box.append(document.createTextNode(text.slice(at)));
}

async function copy() {
  const field = $("hashtags");
  const value = field.value;
  if (!value) { setStatus("Не отмечено ни одного тега.", true); return; }
  let copied = false;
  try {
    await navigator.clipboard.writeText(value);
    copied = true;
  } catch (e) {
    field.focus();
    field.select();
    try { copied = document.execCommand("copy"); } catch (e2) { copied = false; }
  }
  setStatus(copied ? `Скопировано: ${value}` : `Скопируйте вручную (Ctrl+C): ${value}`, !copied);
  if (!copied) { field.focus(); field.select(); }
}

document.addEventListener("DOMContentLoaded", () => {
  loadModels();
  $("tag").addEventListener("click", tag);
  $("copy").addEventListener("click", copy);
  $("text").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) { e.preventDefault(); tag(); }
  });
});
