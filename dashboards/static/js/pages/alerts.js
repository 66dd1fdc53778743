// Alert console: live list (server-sent events), sound for new critical alerts, filters,
// acknowledge / assign / resolve with a note, and each alert's history.

import { API } from "../endpoints.js";
import {
  SEVERITIES, el, errorBox, formatTime, getJSON, listen, notAvailable, offers, postJSON, shell,
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
  canHistory: false,
  canAct: false,
};

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

function matches(a) {
  const f = state.filters;
  return (!f.site || a.site === f.site) && (!f.severity || a.severity === f.severity) && (!f.state || a.state === f.state);
}

function actionDialog(alert, action) {
  const note = el("textarea", { name: "note", rows: 3, "data-testid": "note" });
  const assignee = el("input", { name: "assignee", "data-testid": "assignee", value: alert.assignee ?? "" });
  const dialog = el("dialog", { "data-testid": "action-dialog" },
    el("form", { method: "dialog", class: "stack" },
      el("h3", {}, `${t(`alerts.${action}`)} · ${pick(alert.message_zh, alert.message_en)}`),
      action === "assign" ? el("label", {}, t("alerts.assignee"), assignee) : null,
      el("label", {}, t("alerts.note"), note),
      el("div", { class: "toolbar" },
        el("button", { value: "cancel", type: "submit" }, t("common.cancel")),
        el("button", { value: "ok", type: "submit", class: "primary", "data-testid": "confirm" }, t(`alerts.${action}`)))));
  dialog.addEventListener("close", async () => {
    dialog.remove();
    if (dialog.returnValue !== "ok") return;
    const by = user()?.name ?? "demo";
    try {
      const updated = await postJSON(API.alertAction(alert.id, action), {
        by, note: note.value, assignee: action === "assign" ? assignee.value : undefined,
      });
      upsert(updated && updated.id ? updated : { ...alert, state: action === "resolve" ? "resolved" : action === "ack" ? "acknowledged" : alert.state });
    } catch (error) {
      main.prepend(errorBox(error));
    }
  });
  document.body.append(dialog);
  dialog.showModal();
}

function actionLabel(action) {
  if (!action) return "";
  const key = `alerts.action.${action}`;
  return t(key) === key ? action : t(key);
}

async function showHistory(alert, row) {
  const next = row.nextElementSibling;
  if (next?.classList.contains("history")) {
    next.remove();
    return;
  }
  const cell = el("td", { colspan: 10 }, t("common.loading"));
  row.after(el("tr", { class: "history" }, cell));
  if (!state.canHistory) {
    cell.replaceChildren(notAvailable(t("alerts.history")));
    return;
  }
  try {
    const events = await getJSON(API.alertHistory(alert.id));
    cell.replaceChildren(el("ul", {}, events.map((e) => el("li", {},
      `${formatTime(e.at ?? e.ts, timeZone(alert.site))} · ${actionLabel(e.action ?? e.state)} · ${e.by ?? ""}${e.assignee ? ` → ${e.assignee}` : ""} ${e.note ?? ""}`))));
  } catch (error) {
    cell.replaceChildren(error.status === 404 ? notAvailable(t("alerts.history")) : errorBox(error));
  }
}

function row(a) {
  const tz = timeZone(a.site);
  const tr = el("tr", { "data-alert": a.id, "data-severity": a.severity, "data-state": a.state },
    el("td", {}, el("span", { class: `sev ${a.severity}` }, t(`severity.${a.severity}`))),
    el("td", { "data-testid": "alert-state" }, t(`alerts.state.${a.state}`)),
    el("td", {}, siteName(a.site)),
    el("td", {}, el("div", {}, pick(a.message_zh, a.message_en)), el("div", { class: "meta" }, `${a.rule} · ${a.subject}`)),
    el("td", {}, formatTime(a.first_seen, tz)),
    el("td", {}, formatTime(a.last_seen, tz)),
    el("td", { class: "num" }, a.occurrences ?? 1),
    el("td", {}, a.assignee ?? "—"),
    el("td", {}, el("div", { class: "toolbar" },
      state.canAct && a.state !== "resolved" && a.state !== "acknowledged"
        ? el("button", { type: "button", "data-action": "ack", onclick: () => actionDialog(a, "ack") }, t("alerts.ack")) : null,
      state.canAct && a.state !== "resolved"
        ? el("button", { type: "button", "data-action": "assign", onclick: () => actionDialog(a, "assign") }, t("alerts.assign")) : null,
      state.canAct && a.state !== "resolved"
        ? el("button", { type: "button", "data-action": "resolve", onclick: () => actionDialog(a, "resolve") }, t("alerts.resolve")) : null,
      el("button", { type: "button", "data-action": "history", onclick: (e) => showHistory(a, e.target.closest("tr")) }, t("alerts.history")))));
  return tr;
}

const ORDER = Object.fromEntries(SEVERITIES.map((s, i) => [s, i]));

function renderTable() {
  const holder = document.getElementById("alert-table");
  if (!holder) return;
  const list = [...state.alerts.values()].filter(matches)
    .sort((a, b) => (a.state === "resolved") - (b.state === "resolved") || ORDER[a.severity] - ORDER[b.severity] || b.last_seen.localeCompare(a.last_seen));
  if (!list.length) {
    holder.replaceChildren(el("p", { class: "notice", "data-testid": "no-alerts" }, t("alerts.none")));
    return;
  }
  const head = el("tr", {}, ["alerts.severity", "alerts.state", "common.site", "alerts.message", "alerts.first_seen", "alerts.last_seen", "alerts.occurrences", "alerts.assignee", "alerts.actions"]
    .map((k) => el("th", {}, t(k))));
  holder.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, list.map(row))));
}

function upsert(alert, live = false) {
  const isNew = !state.alerts.has(alert.id);
  state.alerts.set(alert.id, alert);
  renderTable();
  if (live && isNew) {
    document.querySelector(`tr[data-alert="${CSS.escape(alert.id)}"]`)?.classList.add("new");
    if (alert.severity === "critical" && alert.state !== "resolved" && matches(alert)) beep();
  }
}

function select(name, values, label) {
  return el("label", {}, `${t(label)} `, el("select", { "data-testid": `filter-${name}`, onchange: async (e) => {
    state.filters[name] = e.target.value;
    await load();
  } }, el("option", { value: "" }, t("common.all")), values.map(([v, text]) => el("option", { value: v, selected: state.filters[name] === v }, text))));
}

async function load() {
  try {
    const list = await getJSON(API.alerts(state.filters));
    state.alerts = new Map(list.map((a) => [a.id, a]));
    renderTable();
  } catch (error) {
    document.getElementById("alert-table")?.replaceChildren(error.status === 404 ? notAvailable(t("alerts.title")) : errorBox(error));
  }
}

async function start() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    state.sites = await siteList();
    if (!(await offers("alerts"))) {
      main.replaceChildren(notAvailable(t("alerts.title")));
      return;
    }
    state.canAct = await offers("alertAction");
    state.canHistory = await offers("alertHistory");
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
      select("severity", SEVERITIES.map((s) => [s, t(`severity.${s}`)]), "alerts.severity"),
      select("state", STATES.map((s) => [s, t(`alerts.state.${s}`)]), "alerts.state"),
      soundButton),
    el("div", { class: "table-wrap", id: "alert-table" }));
  await load();
  if (await offers("alertStream")) {
    listen(API.alertStream(), { alert: (a) => upsert(a, true) }, () => load());
  }
}

start();
