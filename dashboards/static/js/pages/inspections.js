// Inspections: due and overdue items, the log with filters, a form to record a patrol or a
// check, and exports (CSV / JSON / PDF). The inspection service is built separately: every
// section shows "not available" until its endpoint exists.

import { API } from "../endpoints.js";
import {
  chosenSite, el, errorBox, formatTime, getJSON, notAvailable, offers, postJSON, shell,
  sitePicker, siteList, user, zonedDay, zonedMidnight,
} from "../common.js";
import { pick, t } from "../i18n.js";

const main = shell("inspections", "insp.title");
const DAY_MS = 86400e3;
const KINDS = ["patrol", "check", "drill"];
const state = { sites: [], site: null, start: null, end: null, kind: "" };

// The log's range: whole local days of the site, the end date included.
function range() {
  const next = new Date(new Date(`${state.end}T12:00:00Z`).getTime() + DAY_MS).toISOString().slice(0, 10);
  return [zonedMidnight(state.start, timeZone()), zonedMidnight(next, timeZone())];
}

function timeZone() {
  return state.sites.find((s) => s.id === state.site)?.timezone ?? "Asia/Shanghai";
}

// A known code in the reader's language, else the code itself.
function label(prefix, code) {
  const key = `${prefix}.${code}`;
  return t(key) === key ? String(code) : t(key);
}

// Field names of the pending API may differ a little; show what is there.
function text(item, ...names) {
  for (const n of names) if (item[n] !== undefined && item[n] !== null) return item[n];
  return "—";
}

async function dueSection() {
  const section = el("section", { "data-testid": "due" }, el("h2", {}, t("insp.due")));
  if (!(await offers("inspectionsDue"))) {
    section.append(notAvailable(t("insp.due")));
    return section;
  }
  try {
    const items = await getJSON(API.inspectionsDue(state.site));
    const head = el("tr", {}, ["insp.item", "alerts.subject", "insp.next_due", "insp.status"].map((k) => el("th", {}, t(k))));
    section.append(el("table", {}, el("thead", {}, head), el("tbody", {}, items.map((i) => el("tr", { class: i.status === "overdue" || i.status === "never_done" ? "load-over" : null },
      el("td", {}, pick(i.title_zh, i.title_en) ?? text(i, "item", "id")),
      el("td", {}, `${text(i, "subject")}${i.room ? ` · ${i.room}` : ""}`),
      el("td", {}, formatTime(i.due_at ?? i.due ?? i.next_due, timeZone())),
      el("td", {}, label("insp.state", text(i, "status"))))))));
  } catch (error) {
    section.append(error.status === 404 ? notAvailable(t("insp.due")) : errorBox(error));
  }
  return section;
}

async function logSection() {
  const section = el("section", { "data-testid": "log" }, el("h2", {}, t("insp.log")));
  const filters = el("div", { class: "toolbar" },
    el("label", {}, `${t("util.start")} `, el("input", { type: "date", value: state.start, onchange: (e) => { state.start = e.target.value; } })),
    el("label", {}, `${t("util.end")} `, el("input", { type: "date", value: state.end, onchange: (e) => { state.end = e.target.value; } })),
    el("label", {}, `${t("insp.kind")} `, el("select", { onchange: (e) => { state.kind = e.target.value; } },
      el("option", { value: "" }, t("common.all")), KINDS.map((k) => el("option", { value: k, selected: state.kind === k }, t(`insp.kind.${k}`))))),
    el("button", { type: "button", class: "primary", onclick: () => render() }, t("common.apply")));
  section.append(filters);
  const exports = await offers("inspectionExport");
  section.append(el("div", { class: "toolbar", "data-testid": "exports" }, `${t("insp.export")}: `,
    ["csv", "json", "pdf"].map((format) => exports
      ? el("a", { class: "button", href: API.inspectionExport(state.site, format, ...range()), download: "", "data-format": format }, t(`insp.export_${format}`))
      : el("button", { type: "button", disabled: true, title: t("common.not_available"), "data-format": format }, t(`insp.export_${format}`)))));
  if (!(await offers("inspectionLog"))) {
    section.append(notAvailable(t("insp.log")));
    return section;
  }
  try {
    const [start, end] = range();
    const entries = await getJSON(API.inspectionLog(state.site, { start, end, kind: state.kind }));
    const list = Array.isArray(entries) ? entries : entries.items ?? [];
    if (!list.length) {
      section.append(el("p", { class: "notice" }, t("insp.empty")));
      return section;
    }
    const head = el("tr", {}, ["insp.when", "insp.kind", "insp.item", "insp.result", "insp.by", "alerts.note"].map((k) => el("th", {}, t(k))));
    section.append(el("div", { class: "table-wrap" }, el("table", {}, el("thead", {}, head), el("tbody", {}, list.map((e) => el("tr", {},
      el("td", {}, formatTime(text(e, "at", "ts", "recorded_at"), timeZone())),
      el("td", {}, label("insp.kind", text(e, "kind", "type"))),
      el("td", {}, pick(e.title_zh, e.title_en) ?? String(text(e, "item", "subject"))),
      el("td", {}, label("insp.result", text(e, "result", "outcome"))),
      el("td", {}, String(text(e, "by", "inspector"))),
      el("td", {}, String(text(e, "note", "notes")))))))));
  } catch (error) {
    section.append(error.status === 404 ? notAvailable(t("insp.log")) : errorBox(error));
  }
  return section;
}

async function recordSection() {
  const section = el("section", { "data-testid": "record" }, el("h2", {}, t("insp.record")));
  const available = await offers("inspectionLog");
  const kind = el("select", { name: "kind" }, KINDS.map((k) => el("option", { value: k }, t(`insp.kind.${k}`))));
  const result = el("select", { name: "result" }, ["ok", "issue"].map((r) => el("option", { value: r }, t(`insp.result.${r}`))));
  const by = el("input", { name: "by", value: user()?.name ?? "demo", required: true });
  const note = el("textarea", { name: "note", rows: 3 });
  const form = el("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    try {
      await postJSON(API.inspectionRecord(state.site), { kind: kind.value, result: result.value, by: by.value, note: note.value });
      form.append(el("p", { class: "notice" }, t("insp.recorded")));
      render();
    } catch (error) {
      form.append(errorBox(error));
    }
  } },
  el("label", {}, t("insp.kind"), kind), el("label", {}, t("insp.result"), result),
  el("label", {}, t("insp.by"), by), el("label", {}, t("alerts.note"), note),
  el("button", { type: "submit", class: "primary", disabled: !available }, t("common.save")));
  section.append(form);
  if (!available) section.append(notAvailable(t("insp.record")));
  return section;
}

async function render() {
  const picker = el("div", { class: "toolbar" }, sitePicker(state.sites, state.site, (id) => { state.site = id; render(); }));
  const [due, log, record] = await Promise.all([dueSection(), logSection(), recordSection()]);
  main.replaceChildren(picker, el("div", { class: "grid2" }, due, record), log);
}

async function start() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    state.sites = await siteList();
    state.site = chosenSite(state.sites);
    if (!state.site) {
      main.replaceChildren(el("p", { class: "notice" }, t("overview.no_sites")));
      return;
    }
    state.end = zonedDay(timeZone());
    state.start = zonedDay(timeZone(), -30);
    await render();
  } catch (error) {
    main.replaceChildren(errorBox(error));
  }
}

start();
