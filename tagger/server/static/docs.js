"use strict";
// Offline API documentation: renders /openapi.json (routes, parameters, body fields) with a form to try each.

let spec = null;
let defaultProject = "";
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  Object.assign(node, props);
  node.append(...children.filter((c) => c !== null && c !== undefined));
  return node;
};

function resolve(schema) {
  for (let i = 0; schema && schema.$ref && i < 20; i++) {
    schema = schema.$ref.replace(/^#\//, "").split("/").reduce((o, k) => o[k], spec);
  }
  if (schema && schema.anyOf) {
    const options = schema.anyOf.map(resolve);
    const main = options.find((o) => o.type !== "null") || options[0];
    return { ...main, ...schema, anyOf: undefined, type: options.map((o) => o.type || "object").join(" | ") };
  }
  return schema || {};
}

function typeOf(s) {
  s = resolve(s);
  if (s.type === "array") return `array of ${typeOf(s.items)}`;
  return s.type || "object";
}

function constraints(s) {
  const out = [];
  for (const [k, label] of [["default", "default"], ["minimum", "≥"], ["maximum", "≤"], ["maxItems", "items ≤"],
                            ["exclusiveMinimum", ">"]]) {
    if (s[k] !== undefined && s[k] !== null) out.push(`${label} ${JSON.stringify(s[k])}`);
  }
  return out.join(", ");
}

function example(s, depth = 0) {
  s = resolve(s);
  if (s.example !== undefined) return s.example;
  if (s.default !== undefined && s.default !== null) return s.default;
  if (depth > 4) return null;
  const t = (s.type || "").split(" | ")[0];
  if (t === "object" || s.properties) {
    const o = {};
    for (const [k, v] of Object.entries(s.properties || {})) {
      if ((s.required || []).includes(k)) o[k] = example(v, depth + 1);
    }
    return o;
  }
  if (t === "array") return [example(s.items, depth + 1)];
  if (t === "string") return "Центральный банк повысил ключевую ставку.";
  if (t === "integer" || t === "number") return s.minimum ?? 1;
  if (t === "boolean") return false;
  return null;
}

function fieldTable(schema) {
  schema = resolve(schema);
  const rows = Object.entries(schema.properties || {}).map(([name, v]) => {
    const r = resolve(v);
    return el("tr", {}, el("td", {}, el("code", { textContent: name })),
              el("td", { textContent: typeOf(v) }),
              el("td", { textContent: (schema.required || []).includes(name) ? "required" : "" }),
              el("td", { textContent: [r.description || v.description || "", constraints(r)].filter(Boolean).join(" — ") }));
  });
  if (!rows.length) return null;
  return el("table", {}, el("thead", {}, el("tr", {}, ...["field", "type", "", "meaning"].map((h) => el("th", { textContent: h })))),
            el("tbody", {}, ...rows));
}

function operation(path, method, op) {
  const id = `${method}-${path}`.replace(/[^A-Za-z0-9]+/g, "-");
  const section = el("section", { className: "op", id });
  section.append(el("h2", {}, el("span", { className: `method ${method}`, textContent: method.toUpperCase() }), " ",
                    el("code", { textContent: path })));
  if (op.summary) section.append(el("p", { className: "summary", textContent: op.summary }));
  if (op.description) section.append(el("p", { textContent: op.description }));
  const inputs = {};
  const params = op.parameters || [];
  if (params.length) {
    section.append(el("h3", { textContent: "Parameters" }));
    const list = el("div", { className: "params" });
    for (const p of params) {
      const s = resolve(p.schema);
      const input = el("input", { id: `${id}-${p.name}`, placeholder: `${p.in}${p.required ? ", required" : ""}` });
      if (p.in === "path" && p.name === "project_id") input.value = defaultProject;
      inputs[`${p.in}:${p.name}`] = input;
      list.append(el("label", { htmlFor: input.id }, el("code", { textContent: p.name }),
                     ` (${p.in}, ${typeOf(s)}${constraints(s) ? "; " + constraints(s) : ""})`), input);
    }
    section.append(list);
  }
  let bodyKind = null;
  let bodyArea = null;
  const content = (op.requestBody || {}).content || {};
  const kind = Object.keys(content)[0];
  if (kind) {
    bodyKind = kind;
    const schema = content[kind].schema;
    section.append(el("h3", { textContent: `Request body (${kind})` }));
    const table = fieldTable(schema);
    if (table) section.append(table);
    const ex = example(schema);
    bodyArea = el("textarea", { rows: 5, id: `${id}-body`, spellcheck: false });
    bodyArea.value = kind.includes("json") ? JSON.stringify(ex, null, 1)
      : new URLSearchParams(Object.entries(ex || {}).map(([k, v]) => [k, String(v)])).toString();
    section.append(el("label", { htmlFor: bodyArea.id, textContent: "Body to send:" }), bodyArea);
  }
  const responses = Object.entries(op.responses || {}).map(([code, r]) => `${code} ${r.description || ""}`);
  if (responses.length) section.append(el("p", { className: "responses", textContent: "Responses: " + responses.join("; ") }));
  const out = el("pre", { className: "out", hidden: true });
  const send = el("button", { type: "button", textContent: "Send" });
  send.addEventListener("click", async () => {
    let url = path;
    const query = new URLSearchParams();
    for (const [key, input] of Object.entries(inputs)) {
      const [where, name] = key.split(":");
      if (where === "path") url = url.replace(`{${name}}`, encodeURIComponent(input.value));
      else if (where === "query" && input.value !== "") query.set(name, input.value);
    }
    if ([...query].length) url += "?" + query.toString();
    const init = { method: method.toUpperCase(), headers: {} };
    if (bodyArea) { init.body = bodyArea.value; init.headers["Content-Type"] = bodyKind; }
    out.hidden = false;
    out.textContent = "…";
    try {
      const r = await fetch(url, init);
      const text = await r.text();
      let shown = text;
      try { shown = JSON.stringify(JSON.parse(text), null, 1); } catch (e) { /* not JSON */ }
      out.textContent = `${r.status} ${r.statusText}\n${shown}`;
    } catch (e) {
      out.textContent = String(e);
    }
  });
  section.append(send, out);
  return section;
}

async function main() {
  const root = document.getElementById("routes");
  try {
    spec = await (await fetch("/openapi.json")).json();
    defaultProject = (await (await fetch("/v1/models")).json()).default;
  } catch (e) {
    root.replaceChildren(el("p", { textContent: "Could not read /openapi.json: " + e }));
    return;
  }
  const nav = el("nav", {}, el("h2", { textContent: `${spec.info.title} ${spec.info.version}` }),
                 el("p", { textContent: spec.info.description || "" }));
  const list = el("ul");
  const sections = [];
  for (const [path, methods] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(methods)) {
      const s = operation(path, method, op);
      sections.push(s);
      list.append(el("li", {}, el("a", { href: `#${s.id}`, textContent: `${method.toUpperCase()} ${path}` }),
                     op.summary ? ` — ${op.summary}` : ""));
    }
  }
  nav.append(list);
  root.replaceChildren(nav, ...sections);
}

document.addEventListener("DOMContentLoaded", main);
