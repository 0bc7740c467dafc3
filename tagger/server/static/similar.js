"use strict";
// The editors' page, "similar articles" panel: the training articles most like the one being tagged, with the
// tags their editors gave them (POST /v1/similar).  Listens for app.js's "tagger:tag" event (the text, page flag
// and model of each tagging); shown only for a model with a neighbour index.  No innerHTML.

(() => {
  const $ = (id) => document.getElementById(id);
  const counts = new Map();  // model name -> articles of its neighbour index (0: none)
  let asked = 0;  // the latest request wins

  function percent(p) { return Math.round(100 * p) + "%"; }

  async function loadCounts() {
    try {
      const data = await (await fetch("/v1/models")).json();
      for (const m of data.models) counts.set(m.name, m.similar_articles || 0);
    } catch (e) { /* the panel stays hidden */ }
  }

  function render(articles) {
    const list = $("similar");
    list.replaceChildren();
    for (const a of articles) {
      const li = document.createElement("li");
      const head = document.createElement("div");
      const score = document.createElement("span");
      score.className = "similarity";
      score.textContent = percent(a.similarity);
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = a.title || a.id;
      const id = document.createElement("span");
      id.className = "id";
      id.textContent = a.id;
      head.append(score, title, id);
      const tags = document.createElement("ul");
      tags.className = "chips";
      tags.setAttribute("aria-label", "теги статьи");
      for (const t of a.tags) {
        const chip = document.createElement("li");
        chip.textContent = t;
        tags.appendChild(chip);
      }
      li.append(head, tags);
      list.appendChild(li);
    }
    $("similar-panel").hidden = articles.length === 0;
  }

  async function similar(event) {
    const { text, page, model } = event.detail;
    const mine = ++asked;
    const name = model || (counts.size ? counts.keys().next().value : null);
    if (!counts.get(name)) { $("similar-panel").hidden = true; return; }
    try {
      const r = await fetch("/v1/similar", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ text, page, model, k: 5 }) });
      if (!r.ok) throw new Error(`HTTP ${r.status}`);
      const body = await r.json();
      if (mine === asked) render(body.similar);
    } catch (e) {
      if (mine === asked) $("similar-panel").hidden = true;
    }
  }

  document.addEventListener("DOMContentLoaded", loadCounts);
  document.addEventListener("tagger:tag", similar);
})();
