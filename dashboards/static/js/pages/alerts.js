// Alert console: live list (server-sent events), sound for new critical alerts, filters,
// acknowledge / assign / resolve with a note, and each alert's history.

import { ALERT_EVENTS, API } from "../endpoints.js";
import {
  SEVERITIES, el, errorBox, formatTime, getJSON, listen, notAvailable, postJSON, shell,
  siteList, user,
} from "../common.js";
import { pick, t } from "../i18n.js";

const main = shell("alerts", "alerts.title");
const STATES = ["pending", "firing", "acknowledged", "resolved"];
const params = new URLSearchParams(location.search);
const state = {
  alerts: new Map(),
  sites: [],
  filters: { site: params.get("site") ?? "", severity: params.get("severity") ?? "", state: params.get("state") ?? "" },
  sound: localStorage.getItem("linli.sound") !== "off",
  audio: null,
};
// Only a firing alert can be acknowledged (pending ones have not been announced yet).
const ACKABLE = new Set(["firing"]);
// Stream events that announce an alert (a new occurrence, or a severity raised to it).
const ANNOUNCING = new Set(["fired", "escalated"]);

// Browsers start audio only after a user gesture: the first click anywhere unlocks it.
function unlockAudio() {
  if (state.audio === null && window.AudioContext) state.audio = new AudioContext();
  state.audio?.resume();
}
document.addEventListener("click", unlockAudio, { once: true });

// Three short 880 Hz beeps: distinct from a phone ring, audible over a busy front desk.
function beep() {
  if (!state.sound || state.audio === null || state.audio.state !== "running") return;
  const ctx = state.audio;
  for (let i = 0; i < 3; i += 1) {
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.value = 0.2;
    osc.connect(gain).connect(ctx.destination);
    const at = ctx.currentTime + i * 0.3;
    osc.start(at);
    osc.stop(at + 0.18);
  }
  // Counted on the page so an operator (and a test) can see that the alarm sounded.
  document.body.dataset.beeps = String(Number(document.body.dataset.beeps ?? 0) + 1);
}

function siteName(id) {
  const s = state.sites.find((x) => x.id === id);
  return s ? pick(s.name, s.name_en) : id;
}

function timeZone(site) {
  return state.sites.find((x) => x.id === site)?.timezone ?? "Asia/Shanghai";
}

function message(a) {
  return pick(a.message?.zh, a.message?.en) ?? a.rule;
}

function matches(a) {
  const f = state.filters;
  return (!f.site || a.site === f.site) && (!f.severity || a.severity === f.severity) && (!f.state || a.state === f.state);
}

// What each action posts (ingest_server/alerts/api.py): resolving by hand needs a note;
// assigning takes no note, so a note given with it is added to the alert afterwards.
function actionDialog(alert, action) {
  const note = el("textarea", { name: "note", rows: 3, "data-testid": "note", required: action === "resolve" });
  const assignee = el("input", { name: "assignee", "data-testid": "assignee", value: alert.assignee ?? "", required: true });
  const form = el("form", { method: "dialog", class: "stack" },
    el("h3", {}, `${t(`alerts.${action}`)} · ${message(alert)}`),
    action === "assign" ? el("label", {}, t("alerts.assignee"), assignee) : null,
    el("label", {}, t("alerts.note"), note),
    el("div", { class: "toolbar" },
      el("button", { value: "cancel", type: "submit", formnovalidate: true }, t("common.cancel")),
      el("button", { value: "ok", type: "submit", class: "primary", "data-testid": "confirm" }, t(`alerts.${action}`))));
  const dialog = el("dialog", { "data-testid": "action-dialog" }, form);
  dialog.addEventListener("close", async () => {
    dialog.remove();
    if (dialog.returnValue !== "ok") return;
    const actor = user()?.name ?? "demo";
    const text = note.value.trim();
    try {
      let updated;
      if (action === "assign") {
        updated = await postJSON(API.alertAction(alert.id, "assign"), { actor, assignee: assignee.value.trim() });
        if (text) updated = await postJSON(API.alertNote(alert.id), { actor, text });
      } else {
        updated = await postJSON(API.alertAction(alert.id, action), { actor, note: text || undefined });
      }
      upsert(updated);
    } catch (error) {
      main.prepend(errorBox(error));
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

function actionLabel(action) {
  const key = `alerts.action.${action}`;
  return t(key) === key ? action : t(key);
}

function historyItem(h, site) {
  const change = h.to_state && h.from_state !== h.to_state ? ` (${t(`alerts.state.${h.to_state}`)})` : "";
  const severity = h.severity ? ` · ${t(`severity.${h.severity}`)}` : "";
  return el("li", { "data-action": h.action },
    `${formatTime(h.at, timeZone(site))} · ${actionLabel(h.action)}${change}${severity} · ${h.actor}${h.note ? ` · ${h.note}` : ""}`);
}

async function fillHistory(id, cell) {
  try {
    const detail = await getJSON(API.alert(id));
    cell.replaceChildren(el("ul", { "data-testid": "history" }, detail.history.map((h) => historyItem(h, detail.site))));
  } catch (error) {
    cell.replaceChildren(error.status === 404 ? notAvailable(t("alerts.history")) : errorBox(error));
  }
}

// Open history rows, by alert id; they are kept open (and refreshed) when the table redraws.
const openHistory = new Set();
// Alerts announced since the page opened, highlighted until reload.
const fresh = new Set();

function toggleHistory(alert, tr) {
  const next = tr.nextElementSibling;
  if (next?.classList.contains("history")) {
    next.remove();
    openHistory.delete(alert.id);
    return;
  }
  openHistory.add(alert.id);
  const cell = el("td", { colspan: 9 }, t("common.loading"));
  tr.after(el("tr", { class: "history", "data-history": alert.id }, cell));
  fillHistory(alert.id, cell);
}

function row(a) {
  const tz = timeZone(a.site);
  const tr = el("tr", { "data-alert": a.id, "data-severity": a.severity, "data-state": a.state, class: fresh.has(a.id) ? "new" : null },
    el("td", {}, el("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`))),
    el("td", { "data-testid": "alert-state" }, t(`alerts.state.${a.state}`)),
    el("td", {}, siteName(a.site)),
    el("td", {}, el("div", {}, message(a)), el("div", { class: "meta" }, [a.rule, a.subject, a.room].filter(Boolean).join(" · "))),
    el("td", {}, formatTime(a.first_seen, tz)),
    el("td", {}, formatTime(a.last_seen, tz)),
    el("td", { class: "num" }, a.occurrences ?? 1),
    el("td", {}, a.assignee ?? "—"),
    el("td", {}, el("div", { class: "toolbar" },
      ACKABLE.has(a.state)
        ? el("button", { type: "button", "data-action": "acknowledge", onclick: () => actionDialog(a, "acknowledge") }, t("alerts.acknowledge")) : null,
      a.state !== "resolved"
        ? el("button", { type: "button", "data-action": "assign", onclick: () => actionDialog(a, "assign") }, t("alerts.assign")) : null,
      a.state !== "resolved"
        ? el("button", { type: "button", "data-action": "resolve", onclick: () => actionDialog(a, "resolve") }, t("alerts.resolve")) : null,
      el("button", { type: "button", "data-action": "history", onclick: (e) => toggleHistory(a, e.target.closest("tr")) }, t("alerts.history")))));
  return tr;
}

const ORDER = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));
const rank = (a) => ORDER[a.severity] ?? SEVERITIES.length;

function renderTable() {
  const holder = document.getElementById("alert-table");
  if (!holder) return;
  const list = [...state.alerts.values()].filter(matches)
    .sort((a, b) => (a.state === "resolved") - (b.state === "resolved") || rank(a) - rank(b) || b.last_seen.localeCompare(a.last_seen));
  if (!list.length) {
    holder.replaceChildren(el("p", { class: "notice", "data-testid": "no-alerts" }, t("alerts.none")));
    return;
  }
  const head = el("tr", {}, ["alerts.severity", "alerts.state", "common.site", "alerts.message", "alerts.first_seen", "alerts.last_seen", "alerts.occurrences", "alerts.assignee", "alerts.actions"]
    .map((k) => el("th", {}, t(k))));
  holder.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, list.map(row))));
  for (const id of openHistory) {
    const tr = holder.querySelector(`tr[data-alert="${CSS.escape(String(id))}"]`);
    if (!tr) continue;
    const cell = el("td", { colspan: 9 }, t("common.loading"));
    tr.after(el("tr", { class: "history", "data-history": id }, cell));
    fillHistory(id, cell);
  }
}

function upsert(alert) {
  state.alerts.set(alert.id, alert);
  renderTable();
}

// One stream event: `kind` is the event name, `data.alert` the alert after it.
function onEvent(kind, data) {
  const alert = data.alert;
  if (!alert) return;
  if (ANNOUNCING.has(kind)) fresh.add(alert.id);
  upsert(alert);
  if (!ANNOUNCING.has(kind)) return;
  if (alert.severity === "critical" && alert.state !== "resolved" && matches(alert)) beep();
}

function select(name, values, label) {
  return el("label", {}, `${t(label)} `, el("select", { "data-testid": `filter-${name}`, onchange: async (e) => {
    state.filters[name] = e.target.value;
    await load();
  } }, el("option", { value: "" }, t("common.all")), values.map(([v, text]) => el("option", { value: v, selected: state.filters[name] === v }, text))));
}

async function load() {
  try {
    // Severity is filtered here: the API filters by a minimum severity, the console by one.
    const list = await getJSON(API.alerts({ site: state.filters.site, state: state.filters.state }));
    state.alerts = new Map(list.map((a) => [a.id, a]));
    renderTable();
  } catch (error) {
    const missing = error.status === 404 || error.status === 503;
    document.getElementById("alert-table")?.replaceChildren(missing ? notAvailable(t("alerts.title")) : errorBox(error));
  }
}

async function start() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    state.sites = await siteList();
  } catch (error) {
    main.replaceChildren(errorBox(error));
    return;
  }
  const soundButton = el("button", { type: "button", "data-testid": "sound", onclick: (e) => {
    state.sound = !state.sound;
    localStorage.setItem("linli.sound", state.sound ? "on" : "off");
    e.target.textContent = state.sound ? t("alerts.sound_off") : t("alerts.sound_on");
    unlockAudio();
  } }, state.sound ? t("alerts.sound_off") : t("alerts.sound_on"));
  main.replaceChildren(
    el("div", { class: "toolbar" },
      select("site", state.sites.map((s) => [s.id, pick(s.name, s.name_en)]), "common.site"),
      select("severity", [...SEVERITIES, "info"].map((s) => [s, t(`severity.${s}`)]), "alerts.severity"),
      select("state", STATES.map((s) => [s, t(`alerts.state.${s}`)]), "alerts.state"),
      soundButton),
    el("div", { class: "table-wrap", id: "alert-table" }));
  await load();
  // On (re)connect the list is reloaded: events missed while disconnected are not replayed.
  listen(API.alertStream(), Object.fromEntries(ALERT_EVENTS.map((kind) => [kind, (data) => onEvent(kind, data)])), () => load());
}

start();
