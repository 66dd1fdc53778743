// Utilization: range picker, hour-of-week heatmap, weekly trend, findings, capacity used.

import { API } from "../endpoints.js";
import {
  chart, chosenSite, el, errorBox, formatNumber, formatPct, formatTime, functionLabel, getJSON,
  shell, sitePicker, siteList, zonedDay, zonedMidnight,
} from "../common.js";
import { pick, t } from "../i18n.js";

const main = shell("utilization", "util.title");
const state = { sites: [], site: null, report: null, block: "site", days: 7, start: null, end: null, charts: [] };

function timeZone() {
  return state.sites.find((s) => s.id === state.site)?.timezone ?? "Asia/Shanghai";
}

// Whole local days of the site ending with today; the request stops at now.
function setPreset(days) {
  state.end = zonedDay(timeZone());
  state.start = zonedDay(timeZone(), 1 - days);
}

function range() {
  const start = zonedMidnight(state.start, timeZone());
  const next = new Date(new Date(`${state.end}T12:00:00Z`).getTime() + 86400e3).toISOString().slice(0, 10);
  const end = new Date(Math.min(Date.parse(zonedMidnight(next, timeZone())), Date.now())).toISOString();
  return [start, end];
}

function blocks(report) {
  return [["site", report.total], ...report.functions.map((b) => [`function:${b.id}`, b]), ...report.rooms.map((b) => [`room:${b.id}`, b])];
}

function blockLabel(key, block) {
  if (key === "site") return t("util.site_total");
  if (key.startsWith("function:")) return functionLabel(block.id);
  return pick(block.title_zh, block.title_en);
}

function kpi(labelKey, value, testid) {
  return el("div", { class: "card" }, el("div", { class: "label" }, t(labelKey)), el("div", { class: "value", "data-testid": testid }, value));
}

function heatmap(node, block) {
  const data = [];
  let max = 1;
  block.heatmap.forEach((row, day) => row.forEach((v, hour) => {
    if (v !== null) {
      data.push([hour, day, Math.round(v * 10) / 10]);
      max = Math.max(max, v);
    }
  }));
  const instance = chart(node);
  state.charts.push(instance);
  instance.setOption({
    animation: false,
    tooltip: { formatter: (p) => `${t(`weekday.${p.value[1]}`)} ${String(p.value[0]).padStart(2, "0")}:00 — ${formatNumber(p.value[2], 1)} ${t("common.persons")}` },
    grid: { left: 50, right: 20, top: 10, bottom: 60 },
    xAxis: { type: "category", data: [...Array(24).keys()].map((h) => `${h}`), splitArea: { show: true } },
    yAxis: { type: "category", data: [...Array(7).keys()].map((d) => t(`weekday.${d}`)), inverse: true, splitArea: { show: true } },
    // Sequential blues: readable for colour-blind users and in print.
    visualMap: { min: 0, max, calculable: true, orient: "horizontal", left: "center", bottom: 0,
      inRange: { color: ["#f0f5fb", "#9ecae1", "#2171b5", "#08306b"] } },
    series: [{ type: "heatmap", data, label: { show: false } }],
  });
}

function trend(node, block) {
  const weeks = block.by_week;
  const instance = chart(node);
  state.charts.push(instance);
  instance.setOption({
    animation: false,
    tooltip: { trigger: "axis", valueFormatter: (v) => (v === null ? "—" : `${formatNumber(v, 1)} %`) },
    legend: { top: 0 },
    grid: { left: 50, right: 20, top: 30, bottom: 30 },
    xAxis: { type: "category", data: weeks.map((w) => w.week) },
    yAxis: { type: "value", axisLabel: { formatter: "{value} %" }, min: 0 },
    series: [
      { name: t("util.utilisation_rate"), type: "line", data: weeks.map((w) => (w.stats.utilisation_rate === null ? null : w.stats.utilisation_rate * 100)) },
      { name: t("util.frequency"), type: "line", data: weeks.map((w) => (w.stats.frequency === null ? null : w.stats.frequency * 100)) },
    ],
  });
}

function roomName(report, id) {
  const room = state.sites.find((s) => s.id === report.site)?.rooms.find((r) => r.id === id);
  return room ? pick(room.name, room.name_en) : id;
}

function findings(report) {
  const items = [];
  for (const u of report.underused) items.push(el("li", { "data-finding": "underused" }, `${t("util.underused")}: ${pick(u.message_zh, u.message_en)}`));
  for (const c of report.complementary) items.push(el("li", { "data-finding": "complementary" }, `${t("util.complementary")}: ${pick(c.message_zh, c.message_en)}`));
  for (const d of report.drift) items.push(el("li", { "data-finding": "drift" }, `${t("util.drift")}: ${roomName(report, d.room)} × ${d.corrections.length}`));
  if (report.no_data.length) items.push(el("li", { "data-finding": "no_data" }, `${t("util.no_data")}: ${report.no_data.map((id) => roomName(report, id)).join(", ")}`));
  return items.length ? el("ul", {}, items) : el("p", {}, t("util.no_findings"));
}

function render() {
  state.charts.splice(0).forEach((c) => c.dispose());
  const report = state.report;
  const controls = el("div", { class: "toolbar" },
    sitePicker(state.sites, state.site, (id) => { state.site = id; state.block = "site"; setPreset(state.days); load(); }),
    el("label", {}, `${t("util.start")} `, el("input", { type: "date", value: state.start, "data-testid": "start", onchange: (e) => { state.start = e.target.value; } })),
    el("label", {}, `${t("util.end")} `, el("input", { type: "date", value: state.end, "data-testid": "end", onchange: (e) => { state.end = e.target.value; } })),
    el("button", { type: "button", class: "primary", onclick: () => load() }, t("common.apply")),
    el("button", { type: "button", onclick: () => { state.days = 7; setPreset(7); load(); } }, t("util.last7")),
    el("button", { type: "button", onclick: () => { state.days = 30; setPreset(30); load(); } }, t("util.last30")));
  if (!report) {
    main.replaceChildren(controls);
    return;
  }
  const all = blocks(report);
  const [, block] = all.find(([k]) => k === state.block) ?? all[0];
  const picker = el("label", {}, `${t("util.block")} `, el("select", { "data-testid": "block", onchange: (e) => { state.block = e.target.value; render(); } },
    all.map(([k, b]) => el("option", { value: k, selected: k === state.block }, blockLabel(k, b)))));
  const s = block.summary;
  const cards = el("div", { class: "cards" },
    kpi("util.utilisation_rate", formatPct(s.utilisation_rate, 1), "utilisation"),
    kpi("util.frequency", formatPct(s.frequency, 1)),
    kpi("util.average", `${formatNumber(s.average, 1)} ${t("common.persons")}`),
    kpi("util.peak", s.peak === null ? "—" : `${formatNumber(s.peak)} · ${formatTime(s.peak_at, report.timezone)}`),
    kpi("util.person_hours", formatNumber(s.person_hours, 1)),
    kpi("util.visits", formatNumber(s.visits)),
    kpi("util.over_capacity", `${formatNumber(s.minutes_over_capacity)} ${t("common.minutes")}`));
  const capacity = el("section", {}, el("h2", {}, t("util.capacity_used")),
    el("table", {}, el("tbody", {}, block.capacities.map((c) => el("tr", {},
      el("td", {}, roomName(report, c.room)), el("td", { class: "num" }, `${c.value} ${t("common.persons")}`), el("td", {}, pick(c.basis_zh, c.basis_en)))))),
    block.capacity_unknown.length ? el("p", {}, `${t("util.capacity_unknown")}: ${block.capacity_unknown.map((id) => roomName(report, id)).join(", ")}`) : null);
  const heat = el("div", { class: "chart", "data-testid": "heatmap" });
  const line = el("div", { class: "chart", "data-testid": "trend" });
  main.replaceChildren(controls,
    el("div", { class: "toolbar" }, picker, el("span", { class: "meta" }, `${t(`util.hours_basis.${report.hours_basis}`)} · ${t("common.timezone")} ${report.timezone}`)),
    cards,
    el("div", { class: "grid2" },
      el("section", {}, el("h2", {}, t("util.heatmap")), heat),
      el("section", {}, el("h2", {}, t("util.trend")), line)),
    el("div", { class: "grid2" },
      el("section", { "data-testid": "findings" }, el("h2", {}, t("util.findings")), findings(report)),
      capacity));
  heatmap(heat, block);
  trend(line, block);
}

async function load() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    const [start, end] = range();
    state.report = await getJSON(API.utilization(state.site, start, end));
    render();
  } catch (error) {
    state.report = null;
    render();
    main.append(errorBox(error));
  }
}

async function start() {
  try {
    state.sites = await siteList();
    state.site = chosenSite(state.sites);
    if (!state.site) {
      main.replaceChildren(el("p", { class: "notice" }, t("overview.no_sites")));
      return;
    }
    setPreset(state.days);
    await load();
  } catch (error) {
    main.replaceChildren(errorBox(error));
  }
}

start();
