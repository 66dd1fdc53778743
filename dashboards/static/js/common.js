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

// Methods that change nothing: the server wants no CSRF token with them.
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
const CSRF_KEY = "linli.csrf";
const CSRF_HEADER = "X-CSRF-Token";
let csrfToken = sessionStorage.getItem(CSRF_KEY);
let leaving = false;

// The session's CSRF token, from the sign-in answer or /ui/api/me; kept for this tab only.
export function rememberCsrf(token) {
  csrfToken = token || null;
  if (csrfToken) sessionStorage.setItem(CSRF_KEY, csrfToken);
  else sessionStorage.removeItem(CSRF_KEY);
}

// Where the browser goes back to after signing in: this page, path and query only.
export function signInUrl() {
  const next = `${location.pathname}${location.search}`;
  return `/ui/signin?next=${encodeURIComponent(next)}`;
}

function toSignIn() {
  if (leaving || document.body.dataset.page === "signin") return;
  leaving = true;
  location.assign(signInUrl());
}

async function failure(response, url) {
  let detail = response.statusText;
  try {
    detail = (await response.json()).detail ?? detail;
  } catch {
    // Not JSON: keep the status text.
  }
  return new HttpError(response.status, typeof detail === "string" ? detail : JSON.stringify(detail), url);
}

// fetch + JSON. A 401 sends the browser to the sign-in page (and never settles, so the page
// shows no error while it leaves); a state-changing request carries the CSRF token, fetched
// again and retried once when the server refuses the one kept.
export async function getJSON(url, options = {}) {
  const { retried, ...init } = options;
  const method = (init.method ?? "GET").toUpperCase();
  const headers = { Accept: "application/json", ...init.headers };
  if (!SAFE_METHODS.has(method)) {
    if (!csrfToken) await session({ fresh: true });
    if (csrfToken) headers[CSRF_HEADER] = csrfToken;
  }
  const response = await fetch(url, { ...init, headers, credentials: "same-origin" });
  if (response.ok) return response.status === 204 ? null : response.json();
  const error = await failure(response, url);
  if (response.status === 401) {
    toSignIn();
    if (!leaving) throw error;
    return new Promise(() => {});
  }
  if (response.status === 403 && !SAFE_METHODS.has(method) && !retried && error.detail.includes(CSRF_HEADER)) {
    rememberCsrf(null);
    await session({ fresh: true });
    return getJSON(url, { ...options, retried: true });
  }
  throw error;
}

export function postJSON(url, body) {
  return getJSON(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
}

// Whether the signed-in user (as /ui/api/me gives it) holds `permission`, a name of
// ingest_server.auth.Permission ("alert.act", "log.export", ...). The server decides every
// request; the pages use this only to leave out what it would refuse.
export function can(me, permission) {
  return Boolean(me?.permissions?.includes(permission));
}

let current = null;

// The signed-in user from /ui/api/me, fetched once per page. `quiet`: null when not signed in
// instead of going to the sign-in page.
export function session({ fresh = false, quiet = false } = {}) {
  if (current === null || fresh) {
    current = fetch(API.me(), { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(async (response) => {
        if (response.status === 401) return null;
        if (!response.ok) throw await failure(response, API.me());
        const me = await response.json();
        if (me.csrf_token) rememberCsrf(me.csrf_token);
        return me;
      });
  }
  return current.then((me) => {
    if (me === null && !quiet) {
      toSignIn();
      return new Promise(() => {});
    }
    return me;
  });
}

export async function signOut() {
  // From here on a 401 (a stream or refresh racing the sign-out) must not send the browser to
  // the sign-in page with a "next": this one goes there plainly.
  leaving = true;
  try {
    await getJSON(API.logout(), { method: "POST" });
  } catch (error) {
    // The session is left to expire; this browser forgets it all the same.
    console.warn("sign-out failed", error);
  }
  rememberCsrf(null);
  location.assign("/ui/signin");
}

export function notAvailable(what) {
  return el("div", { class: "notice unavailable", "data-testid": "not-available" },
    `${what ? `${what}: ` : ""}${t("common.not_available")}`);
}

export function errorBox(error) {
  if (error.status === 403) {
    return el("div", { class: "notice error", role: "alert", "data-testid": "forbidden", title: error.detail }, t("common.forbidden"));
  }
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

const NAV_NEEDS = { utilization: "analytics.read", compliance: "analytics.read" };

function navLinks(page, me) {
  const site = new URLSearchParams(location.search).get("site");
  return NAV.filter((name) => !NAV_NEEDS[name] || can(me, NAV_NEEDS[name])).map((name) => el("a", {
    href: `/ui/${name === "overview" ? "" : name}${site && name !== "overview" ? `?site=${encodeURIComponent(site)}` : ""}`,
    class: name === page ? "active" : null,
    "data-i18n": `nav.${name}`,
  }, t(`nav.${name}`)));
}

function accountTools(me) {
  if (!me) return [];
  const role = me.roles?.[0];
  return [
    el("span", { class: "user", "data-testid": "user", "data-user": me.id, "data-role": role, title: me.id },
      me.name || me.id, role ? el("span", { class: "role", "data-testid": "user-role" }, t(`role.${role}`)) : null),
    el("button", { type: "button", class: "signout", "data-testid": "signout", onclick: signOut }, t("user.signout")),
  ];
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
  const nav = el("nav", { class: "nav" });
  const account = el("span", { class: "account" });
  session({ quiet: page === "signin" }).then((me) => {
    if (page !== "signin" || me) nav.replaceChildren(...navLinks(page, me));
    account.replaceChildren(...accountTools(me));
  }, (error) => account.replaceChildren(el("span", { class: "user", title: String(error.message ?? error) }, "—")));
  return el("header", { class: "top" },
    el("a", { class: "brand", href: "/ui/" }, "邻里 Linli"), nav,
    el("div", { class: "tools" },
      page === "signin" ? null : el("span", { class: "live-dot", id: "live-state", title: t("common.live") }),
      account, langButton));
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
  source.addEventListener("error", () => {
    setLive(false);
    // The browser retries a dropped stream by itself but gives up on a refusal (401 after the
    // session ended): ask who is signed in, which leads to the sign-in page if no one is.
    if (source.readyState === EventSource.CLOSED) session({ fresh: true });
  });
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
