// What every page shares: the header, fetching, feature detection, formatting, live streams.

import { API } from "./endpoints.js";
import { currentLang, setLang, t } from "./i18n.js";

export const NAV = ["overview", "site", "alerts", "utilization", "compliance", "inspections"];
export const SEVERITIES = ["critical", "major", "minor", "warning"];

// Creates an element: el("div", {class: "x", onclick: f}, child, "text", ...).
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export class HttpError extends Error {
  constructor(status, detail, url) {
    super(`${status} ${detail}`);
    this.status = status;
    this.detail = detail;
    this.url = url;
  }
}

export async function getJSON(url, options) {
  const response = await fetch(url, { headers: { Accept: "application/json" }, ...options });
  if (!response.ok) {
    let detail = response.statusText;
    try {
      detail = (await response.json()).detail ?? detail;
    } catch {
      // Not JSON: keep the status text.
    }
    throw new HttpError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail), url);
  }
  return response.status === 204 ? null : response.json();
}

export function postJSON(url, body) {
  return getJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
  });
}

export function notAvailable(what) {
  return el("div", { class: "notice unavailable", "data-testid": "not-available" },
    `${what ? `${what}: ` : ""}${t("common.not_available")}`);
}

export function errorBox(error) {
  return el("div", { class: "notice error", role: "alert" }, `${t("common.error")}: ${error.message ?? error}`);
}

// Timestamps in the site's time zone.
export function formatTime(iso, timeZone, withDate = true) {
  if (!iso) return "—";
  const options = { hour: "2-digit", minute: "2-digit", hour12: false, timeZone };
  if (withDate) Object.assign(options, { year: "numeric", month: "2-digit", day: "2-digit" });
  return new Intl.DateTimeFormat(currentLang(), options).format(new Date(iso));
}

export function localHour(iso, timeZone) {
  const parts = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", hour12: false, timeZone })
    .formatToParts(new Date(iso));
  return Number(parts.find((p) => p.type === "hour").value) % 24;
}

// "YYYY-MM-DD" at 00:00 in `timeZone`, as ISO 8601 with that zone's offset on that day.
export function zonedMidnight(day, timeZone) {
  const noon = new Date(`${day}T12:00:00Z`);
  const name = new Intl.DateTimeFormat("en-US", { timeZone, timeZoneName: "longOffset" })
    .formatToParts(noon).find((p) => p.type === "timeZoneName").value;
  const offset = name === "GMT" ? "+00:00" : name.replace("GMT", "");
  return `${day}T00:00:00${offset}`;
}

// Today's date in `timeZone` as "YYYY-MM-DD", shifted by `days`.
export function zonedDay(timeZone, days = 0) {
  const when = new Date(Date.now() + days * 86400e3);
  return new Intl.DateTimeFormat("en-CA", { timeZone, year: "numeric", month: "2-digit", day: "2-digit" }).format(when);
}

export function formatNumber(value, digits = 0) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  return new Intl.NumberFormat(currentLang(), { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(value);
}

export function formatPct(ratio, digits = 0) {
  if (ratio === null || ratio === undefined) return "—";
  return `${formatNumber(ratio * 100, digits)} %`;
}

export function floorLabel(floor) {
  return floor < 0 ? t("common.basement_n", { n: -floor }) : t("common.floor_n", { n: floor });
}

export function functionLabel(fn) {
  return fn ? t(`function.${fn}`) : t("site.no_function");
}

// Colour of a load ratio (occupancy ÷ capacity): readable on light and dark backgrounds.
export function loadClass(ratio) {
  if (ratio === null || ratio === undefined) return "load-unknown";
  if (ratio > 1) return "load-over";
  if (ratio >= 0.85) return "load-high";
  return "load-ok";
}

export function user() {
  try {
    return JSON.parse(localStorage.getItem("linli.user") || "null");
  } catch {
    return null;
  }
}

function header(page) {
  const langButton = el("button", {
    class: "lang", type: "button", "data-testid": "lang-switch",
    onclick: () => {
      setLang(currentLang() === "en" ? "zh-CN" : "en");
      const url = new URL(location.href);
      url.searchParams.delete("lang");
      location.href = url.toString();
    },
  }, t("lang.switch"));
  const who = user();
  const site = new URLSearchParams(location.search).get("site");
  const nav = el("nav", { class: "nav" }, NAV.map((name) => el("a", {
    href: `/ui/${name === "overview" ? "" : name}${site && name !== "overview" ? `?site=${encodeURIComponent(site)}` : ""}`,
    class: name === page ? "active" : null,
    "data-i18n": `nav.${name}`,
  }, t(`nav.${name}`))));
  const account = el("a", { class: "user", href: "/ui/signin", "data-testid": "user" },
    who ? who.name : t("user.demo"));
  return el("header", { class: "top" },
    el("a", { class: "brand", href: "/ui/" }, "邻里 Linli"), nav,
    el("div", { class: "tools" }, el("span", { class: "live-dot", id: "live-state", title: t("common.live") }), account, langButton));
}

// Builds the shell around a page and returns the page's main element.
export function shell(page, titleKey) {
  document.documentElement.lang = currentLang();
  document.title = `${t(titleKey)} · ${t("app.title")}`;
  const main = el("main", { id: "main" });
  document.body.replaceChildren(header(page), el("h1", { "data-i18n": titleKey }, t(titleKey)), main);
  return main;
}

export function setLive(ok) {
  const dot = document.getElementById("live-state");
  if (!dot) return;
  dot.classList.toggle("on", ok);
  dot.title = ok ? t("common.live") : t("common.reconnecting");
}

// An EventSource with named handlers; the browser reconnects by itself after an error.
export function listen(url, handlers, onOpen) {
  const source = new EventSource(url);
  source.addEventListener("open", () => { setLive(true); onOpen?.(); });
  source.addEventListener("error", () => setLive(false));
  for (const [name, fn] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => fn(JSON.parse(event.data)));
  }
  window.addEventListener("pagehide", () => source.close());
  return source;
}

// Calls fn at most once per `ms`, trailing: for refreshes triggered by bursts of events.
export function throttle(fn, ms) {
  let timer = null;
  return () => {
    if (timer !== null) return;
    timer = setTimeout(() => { timer = null; fn(); }, ms);
  };
}

export async function siteList() {
  const page = await getJSON(API.sites(0, 500));
  return page.items;
}

// A <select> of the sites; keeps ?site= in the URL.
export function sitePicker(sites, selected, onChange) {
  const select = el("select", { "aria-label": t("site.choose"), "data-testid": "site-picker",
    onchange: (event) => {
      const url = new URL(location.href);
      url.searchParams.set("site", event.target.value);
      history.replaceState(null, "", url);
      onChange(event.target.value);
    } },
  sites.map((s) => el("option", { value: s.id, selected: s.id === selected }, `${s.name}${s.name_en && currentLang() === "en" ? ` (${s.name_en})` : ""}`)));
  return el("label", { class: "picker" }, `${t("common.site")} `, select);
}

export function chosenSite(sites) {
  const wanted = new URLSearchParams(location.search).get("site");
  return sites.find((s) => s.id === wanted)?.id ?? sites[0]?.id ?? null;
}

// The ECharts instance on a node, resized with the window.
export function chart(node) {
  const instance = window.echarts.init(node, null, { renderer: "canvas" });
  const observer = new ResizeObserver(() => instance.resize());
  observer.observe(node);
  const dispose = instance.dispose.bind(instance);
  instance.dispose = () => { observer.disconnect(); dispose(); };
  return instance;
}
