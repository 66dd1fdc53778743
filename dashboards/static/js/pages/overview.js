// Overview: every site with live occupancy vs capacity, open alerts, device health, compliance.

import { ALERT_EVENTS, API } from "../endpoints.js";
import {
  SEVERITIES, el, errorBox, formatNumber, formatTime, getJSON, listen, loadClass, shell,
  throttle,
} from "../common.js";
import { pick, t } from "../i18n.js";

const main = shell("overview", "overview.title");
const state = { view: null, alerts: null, alertsAvailable: true, filter: "", sort: "name" };

// Open alerts per site and severity; "not available" when the alert service does not answer.
async function loadAlerts() {
  try {
    const list = await getJSON(API.alerts({ active: true }));
    const counts = {};
    for (const a of list) {
      if (a.state === "resolved") continue;
      counts[a.site] ??= Object.fromEntries(SEVERITIES.map((s) => [s, 0]));
      counts[a.site][a.severity] = (counts[a.site][a.severity] ?? 0) + 1;
    }
    state.alerts = counts;
    state.alertsAvailable = true;
  } catch (error) {
    state.alerts = null;
    state.alertsAvailable = false;
  }
}

async function loadView() {
  state.view = await getJSON(API.overview());
}

function severityCells(siteId) {
  if (!state.alertsAvailable) return el("span", { class: "muted", title: t("common.not_available") }, "—");
  const counts = state.alerts?.[siteId] ?? {};
  return SEVERITIES.map((s) => el("span", {
    class: `sev ${counts[s] ? s : "zero"}`, title: t(`severity.${s}`),
  }, counts[s] ?? 0));
}

function occupancyCell(site) {
  const ratio = site.capacity ? site.occupancy / site.capacity : null;
  return el("div", {},
    el("span", { class: loadClass(ratio), "data-testid": "site-occupancy" },
      `${formatNumber(site.occupancy)} / ${site.capacity === null ? "—" : formatNumber(site.capacity)}`),
    el("div", { class: "bar" }, el("span", { class: loadClass(ratio), style: `width:${Math.min(100, (ratio ?? 0) * 100)}%` })));
}

function sorted(sites) {
  const by = {
    name: (a, b) => a.name.localeCompare(b.name, "zh-CN"),
    load: (a, b) => (b.capacity ? b.occupancy / b.capacity : -1) - (a.capacity ? a.occupancy / a.capacity : -1),
    silent: (a, b) => b.devices_silent + b.gateways_offline - (a.devices_silent + a.gateways_offline),
  }[state.sort];
  return [...sites].sort(by);
}

function render() {
  const view = state.view;
  if (!view) return;
  const total = view.sites.reduce((n, s) => n + s.occupancy, 0);
  const silent = view.sites.reduce((n, s) => n + s.devices_silent, 0);
  const offline = view.sites.reduce((n, s) => n + s.gateways_offline, 0);
  const openAlerts = state.alerts ? Object.values(state.alerts).reduce((n, c) => n + Object.values(c).reduce((x, y) => x + y, 0), 0) : null;
  const cards = el("div", { class: "cards" },
    card("overview.sites", formatNumber(view.sites.length)),
    card("overview.total_occupancy", formatNumber(total), "total-occupancy"),
    card("overview.alerts", state.alertsAvailable ? formatNumber(openAlerts ?? 0) : "—"),
    card("overview.silent", formatNumber(silent)),
    card("overview.offline", formatNumber(offline)));
  const search = el("input", { type: "search", placeholder: t("common.search"), value: state.filter,
    "aria-label": t("common.search"),
    oninput: (e) => { state.filter = e.target.value; renderTable(); } });
  const sortButtons = ["name", "load", "silent"].map((key) => el("button", {
    type: "button", class: state.sort === key ? "primary" : null,
    onclick: () => { state.sort = key; render(); },
  }, { name: t("common.site"), load: t("overview.occupancy"), silent: t("overview.silent") }[key]));
  const tableHolder = el("div", { class: "table-wrap", id: "site-table" });
  const parts = [cards, el("div", { class: "toolbar" }, search, ...sortButtons), tableHolder];
  if (!state.alertsAvailable) parts.splice(1, 0, el("div", { class: "notice unavailable", "data-testid": "not-available" }, `${t("overview.alerts")}: ${t("common.not_available")}`));
  main.replaceChildren(...parts);
  renderTable();

  function renderTable() {
    const shown = sorted(view.sites.filter((s) => {
      const f = state.filter.trim().toLowerCase();
      return !f || s.name.toLowerCase().includes(f) || (s.name_en ?? "").toLowerCase().includes(f) || s.id.includes(f);
    }));
    if (!view.sites.length) {
      tableHolder.replaceChildren(el("p", { class: "notice" }, t("overview.no_sites")));
      return;
    }
    const head = el("tr", {}, ["common.site", "overview.occupancy", "overview.alerts", "overview.silent", "overview.offline", "overview.compliance", "overview.last_seen"]
      .map((k, i) => el("th", { class: i >= 3 && i <= 4 ? "num" : null }, t(k))));
    const rows = shown.map((s) => el("tr", { "data-site": s.id },
      el("td", {}, el("a", { href: `/ui/site?site=${encodeURIComponent(s.id)}` }, pick(s.name, s.name_en))),
      el("td", {}, occupancyCell(s)),
      el("td", {}, severityCells(s.id)),
      el("td", { class: `num ${s.devices_silent ? "load-over" : ""}` }, `${s.devices_silent} / ${s.devices}`),
      el("td", { class: `num ${s.gateways_offline ? "load-over" : ""}` }, `${s.gateways_offline} / ${s.gateways}`),
      el("td", {}, s.compliance_pass === null ? "—" : el("a", { href: `/ui/compliance?site=${encodeURIComponent(s.id)}` },
        el("span", { class: "status-pass" }, s.compliance_pass), " / ",
        el("span", { class: s.compliance_fail ? "status-fail" : "" }, s.compliance_fail))),
      el("td", {}, formatTime(s.last_seen, s.timezone))));
    tableHolder.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, rows)));
  }
}

function card(labelKey, value, testid) {
  return el("div", { class: "card" }, el("div", { class: "label" }, t(labelKey)),
    el("div", { class: "value", "data-testid": testid }, value));
}

async function start() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    await Promise.all([loadView(), loadAlerts()]);
    render();
  } catch (error) {
    main.replaceChildren(errorBox(error));
    return;
  }
  // Occupancy events of every site trigger a refresh of the summary, at most every 3 s.
  const refresh = throttle(async () => { await loadView(); render(); }, 3000);
  listen(API.stream(), { room: refresh, gateway: refresh, resync: refresh });
  const refreshAlerts = throttle(async () => { await loadAlerts(); render(); }, 1000);
  listen(API.alertStream(), Object.fromEntries(ALERT_EVENTS.map((kind) => [kind, refreshAlerts])));
}

start();
