// Inspections: due and overdue items (the schedule), the site's tamper-evident inspection log
// with filters, a form to record a patrol / periodic check / equipment test / maintenance with
// the real checklist items, exports (CSV / JSON / PDF) and a check of the log's hash chain.

import { API } from "../endpoints.js";
import {
  chosenSite, el, errorBox, formatTime, getJSON, notAvailable, postJSON, shell,
  sitePicker, siteList, user, zonedDay, zonedMidnight,
} from "../common.js";
import { currentLang, pick, t } from "../i18n.js";

const main = shell("inspections", "insp.title");
const DAY_MS = 86400e3;
// The record types a person enters (ingest_server.inspection_log.Category, manual ones).
const MANUAL = ["patrol", "periodic_check", "equipment_test", "maintenance"];
// Every category of the log, for the filter; the others are written by the server.
const CATEGORIES = [
  ...MANUAL, "drill", "alarm_raised", "alarm_acknowledged", "alarm_resolved", "detector_self_test",
  "test_mode_alarm", "fire_door_during_alarm", "device_silent", "device_back", "gateway_silent",
  "gateway_back", "inspection_overdue", "correction", "retention_purge",
];
const OUTCOMES = ["pass", "fail", "not_applicable"];
// One page of the log; "more" fetches the next one (the API allows up to 1,000).
const PAGE = 200;
const state = { sites: [], site: null, start: null, end: null, category: "", checklists: null };

function timeZone() {
  return state.sites.find((s) => s.id === state.site)?.timezone ?? "Asia/Shanghai";
}

// The log's range: whole local days of the site, the end date included.
function range() {
  const next = new Date(new Date(`${state.end}T12:00:00Z`).getTime() + DAY_MS).toISOString().slice(0, 10);
  return { from: zonedMidnight(state.start, timeZone()), to: zonedMidnight(next, timeZone()) };
}

function label(prefix, code) {
  const key = `${prefix}.${code}`;
  return t(key) === key ? String(code) : t(key);
}

function missing(error) {
  return error.status === 404 || error.status === 503;
}

function checklistLabel(category, item) {
  const known = state.checklists?.[category]?.find((c) => c.item === item);
  return known ? pick(known.zh, known.en) : item;
}

// One line saying what an entry records.
function summary(entry) {
  const p = entry.payload ?? {};
  if (MANUAL.includes(entry.category)) {
    const results = Object.entries(p.checklist ?? {});
    const failed = results.filter(([, r]) => r === "fail").map(([i]) => checklistLabel(entry.category, i));
    const passed = results.filter(([, r]) => r === "pass").length;
    const head = `${t("insp.outcome.pass")} ${passed} / ${results.length}`;
    return failed.length ? `${head} · ${t("insp.outcome.fail")}: ${failed.join("、")}` : head;
  }
  if (p.message) return String(p.message);
  const shown = ["item", "device", "gateway", "room", "alert_id", "result", "state", "reason"]
    .filter((k) => p[k] !== undefined && p[k] !== null).map((k) => `${k}: ${p[k]}`);
  return shown.join(" · ") || "—";
}

async function dueSection() {
  const section = el("section", { "data-testid": "due" }, el("h2", {}, t("insp.due")));
  try {
    const items = await getJSON(API.inspectionsDue(state.site));
    if (!items.length) {
      section.append(el("p", { class: "notice", "data-testid": "nothing-due" }, t("insp.nothing_due")));
      return section;
    }
    const head = el("tr", {}, ["insp.item", "alerts.subject", "insp.next_due", "insp.status"].map((k) => el("th", {}, t(k))));
    section.append(el("table", {}, el("thead", {}, head), el("tbody", {}, items.map((i) => el("tr", {
      "data-item": i.item, class: i.status === "overdue" || i.status === "never_done" ? "load-over" : null,
    },
    el("td", {}, pick(i.title_zh, i.title_en)),
    el("td", {}, `${i.subject}${i.room ? ` · ${i.room}` : ""}`),
    el("td", { title: i.last_done ? `${t("insp.last_done")}: ${formatTime(i.last_done, timeZone())}` : null },
      formatTime(i.due_at, timeZone())),
    el("td", {}, label("insp.state", i.status)))))));
  } catch (error) {
    section.append(missing(error) ? notAvailable(t("insp.due")) : errorBox(error));
  }
  return section;
}

function logRow(e) {
  return el("tr", { "data-seq": e.seq, "data-category": e.category },
    el("td", { class: "num" }, e.seq),
    el("td", {}, formatTime(e.occurred_at, timeZone())),
    el("td", {}, label("insp.category", e.category)),
    el("td", {}, summary(e)),
    el("td", {}, e.actor),
    el("td", {}, e.payload?.remarks || e.payload?.resolution || "—"));
}

async function logSection() {
  const section = el("section", { "data-testid": "log" }, el("h2", {}, t("insp.log")));
  const filters = el("div", { class: "toolbar" },
    el("label", {}, `${t("util.start")} `, el("input", { type: "date", "data-testid": "log-start", value: state.start, onchange: (e) => { state.start = e.target.value; } })),
    el("label", {}, `${t("util.end")} `, el("input", { type: "date", "data-testid": "log-end", value: state.end, onchange: (e) => { state.end = e.target.value; } })),
    el("label", {}, `${t("insp.kind")} `, el("select", { "data-testid": "log-category", onchange: (e) => { state.category = e.target.value; } },
      el("option", { value: "" }, t("common.all")),
      CATEGORIES.map((c) => el("option", { value: c, selected: state.category === c }, label("insp.category", c))))),
    el("button", { type: "button", class: "primary", onclick: () => render() }, t("common.apply")));
  const lang = currentLang() === "en" ? "en" : "zh";
  const exportFilters = { ...range(), category: state.category || undefined, lang };
  const verdict = el("span", { "data-testid": "verify-result" });
  section.append(filters, el("div", { class: "toolbar", "data-testid": "exports" }, `${t("insp.export")}: `,
    ["csv", "json", "pdf"].map((format) => el("a", {
      class: "button", href: API.inspectionExport(state.site, { ...exportFilters, format }), download: "", "data-format": format,
    }, t(`insp.export_${format}`))),
    el("button", { type: "button", "data-testid": "verify", onclick: () => verify(verdict) }, t("insp.verify")),
    verdict));
  const holder = el("div", { class: "table-wrap" });
  section.append(holder);
  try {
    await loadLog(holder, 0);
  } catch (error) {
    holder.replaceChildren(missing(error) ? notAvailable(t("insp.log")) : errorBox(error));
  }
  return section;
}

// Appends a page of entries after `afterSeq` to the table in `holder` (creating it).
async function loadLog(holder, afterSeq) {
  const page = await getJSON(API.inspectionLog(state.site, {
    ...range(), category: state.category || undefined, after_seq: afterSeq || undefined, limit: PAGE,
  }));
  holder.querySelector("[data-testid='log-more']")?.remove();
  let body = holder.querySelector("tbody");
  if (!body) {
    if (!page.entries.length) {
      holder.replaceChildren(el("p", { class: "notice" }, t("insp.empty")));
      return;
    }
    const head = el("tr", {}, ["insp.seq", "insp.when", "insp.kind", "insp.summary", "insp.by", "insp.remarks"].map((k) => el("th", {}, t(k))));
    body = el("tbody");
    holder.replaceChildren(el("table", {}, el("thead", {}, head), body));
  }
  body.append(...page.entries.map(logRow));
  if (page.next_after_seq !== null) {
    holder.append(el("button", { type: "button", "data-testid": "log-more", onclick: () => loadLog(holder, page.next_after_seq).catch((error) => holder.append(errorBox(error))) }, t("insp.more")));
  }
}

async function verify(verdict) {
  verdict.replaceChildren(t("common.loading"));
  try {
    const result = await getJSON(API.inspectionVerify(state.site));
    verdict.className = result.ok ? "ok" : "error";
    verdict.dataset.ok = String(result.ok);
    verdict.replaceChildren(result.ok
      ? t("insp.verify_ok", { n: result.checked })
      : t("insp.verify_bad", { seq: result.bad_seq ?? "—", reason: result.reason ?? result.problem ?? "" }));
  } catch (error) {
    verdict.replaceChildren(errorBox(error));
  }
}

// "YYYY-MM-DDTHH:MM" now in the site's time zone, for a datetime-local input.
function localNow() {
  const parts = Object.fromEntries(new Intl.DateTimeFormat("en-CA", {
    timeZone: timeZone(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hourCycle: "h23",
  }).formatToParts(new Date()).map((p) => [p.type, p.value]));
  return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}`;
}

// A datetime-local value read in the site's time zone, as ISO 8601 with the zone's offset.
function zonedIso(local) {
  const [day, time] = local.split("T");
  return zonedMidnight(day, timeZone()).replace("T00:00:00", `T${time}:00`);
}

function checklistFields(category) {
  const items = state.checklists?.[category] ?? [];
  return el("fieldset", { "data-testid": "checklist" }, el("legend", {}, t("insp.checklist")),
    items.map((c) => el("label", { class: "check-item" }, pick(c.zh, c.en),
      el("select", { name: `item:${c.item}`, "data-item": c.item },
        el("option", { value: "" }, t("insp.outcome.skip")),
        OUTCOMES.map((o) => el("option", { value: o }, t(`insp.outcome.${o}`)))))));
}

async function recordSection() {
  const section = el("section", { "data-testid": "record" }, el("h2", {}, t("insp.record")));
  if (state.checklists === null) {
    try {
      state.checklists = await getJSON(API.checklists());
    } catch (error) {
      section.append(errorBox(error));
      return section;
    }
  }
  let checklist = checklistFields(MANUAL[0]);
  const category = el("select", { name: "category", onchange: () => {
    const next = checklistFields(category.value);
    checklist.replaceWith(next);
    checklist = next;
  } }, MANUAL.map((c) => el("option", { value: c }, label("insp.category", c))));
  const occurred = el("input", { type: "datetime-local", name: "occurred_at", value: localNow(), required: true });
  const inspector = el("input", { name: "inspector", value: user()?.name ?? "demo", required: true, maxlength: 64 });
  const subject = el("input", { name: "subject", maxlength: 64 });
  const remarks = el("textarea", { name: "remarks", rows: 3 });
  const status = el("div", { "data-testid": "record-status" });
  const form = el("form", { class: "stack", onsubmit: async (event) => {
    event.preventDefault();
    const results = {};
    for (const select of checklist.querySelectorAll("select[data-item]")) {
      if (select.value) results[select.dataset.item] = select.value;
    }
    if (!Object.keys(results).length) {
      status.replaceChildren(el("p", { class: "notice error" }, t("insp.checklist_empty")));
      return;
    }
    try {
      await postJSON(API.inspectionRecord(state.site), {
        category: category.value,
        occurred_at: zonedIso(occurred.value),
        inspector: inspector.value.trim(),
        checklist: results,
        remarks: remarks.value.trim() || undefined,
        subject: subject.value.trim() || undefined,
      });
      status.replaceChildren(el("p", { class: "notice" }, t("insp.recorded")));
      render();
    } catch (error) {
      status.replaceChildren(errorBox(error));
    }
  } },
  el("label", {}, t("insp.kind"), category),
  el("label", {}, t("insp.when"), occurred),
  el("label", {}, t("insp.by"), inspector),
  el("label", {}, t("insp.subject"), subject),
  checklist,
  el("label", {}, t("insp.remarks"), remarks),
  el("button", { type: "submit", class: "primary" }, t("common.save")),
  status);
  section.append(form);
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
