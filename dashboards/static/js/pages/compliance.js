// Compliance: the scorecard per norm, measured vs required, with the source article.

import { API } from "../endpoints.js";
import { chosenSite, el, errorBox, formatNumber, getJSON, shell, sitePicker, siteList } from "../common.js";
import { currentLang, pick, t } from "../i18n.js";

const main = shell("compliance", "comp.title");

// Units come in Chinese from the rule packs; English readers get them in words.
const UNITS_EN = { "m²/100户": "m² per 100 households", "m²/床": "m² per bed", "m²/托位": "m² per place",
  "m²/人": "m² per person", "项": "functions", "层": "(floor)", "人": "people", "m²": "m²" };

function unit(text) {
  if (currentLang() !== "en" || !text) return text ?? "";
  return UNITS_EN[text] ?? text;
}

function figure(value, unitText) {
  return value === null || value === undefined ? "—" : `${formatNumber(value, 2)} ${unit(unitText)}`.trim();
}

function render(report, sites, siteId) {
  const counts = report.counts;
  const applicable = counts.pass + counts.fail + counts.unknown;
  const cards = el("div", { class: "cards" },
    el("div", { class: "card" }, el("div", { class: "label" }, t("comp.score")),
      el("div", { class: "value", "data-testid": "score" }, `${counts.pass} / ${applicable}`)),
    ...["pass", "fail", "unknown", "not_applicable"].map((s) => el("div", { class: "card" },
      el("div", { class: "label" }, t(`status.${s}`)), el("div", { class: `value status-${s}` }, counts[s]))),
    el("div", { class: "card" }, el("div", { class: "label" }, t("comp.pack")), el("div", { class: "value" }, `${report.pack} ${report.pack_version}`)));
  const head = el("tr", {}, ["comp.norm", "comp.status", "comp.measured", "comp.required", "comp.level", "comp.source", "comp.note"]
    .map((k) => el("th", {}, t(k))));
  const rows = report.results.map((r) => el("tr", { "data-norm": r.norm },
    el("td", {}, el("div", {}, pick(r.title_zh, r.title_en)), el("div", { class: "meta" }, r.norm, r.rooms.length ? ` · ${r.rooms.join(", ")}` : "")),
    el("td", { class: `status-${r.status} nowrap`, "data-testid": "verdict" }, t(`status.${r.status}`)),
    el("td", { class: "num" }, figure(r.measured, r.unit)),
    el("td", { class: "num" }, r.required === null ? "—" : `${r.comparison === ">=" ? "≥" : "≤"} ${figure(r.required, r.unit)}`),
    el("td", { class: "nowrap" }, t(`comp.${r.level}_level`)),
    el("td", {}, `${r.document_number} ${pick(r.source.article_zh, r.source.article_en)}`),
    el("td", {}, pick(r.note_zh, r.note_en))));
  main.replaceChildren(
    el("div", { class: "toolbar" }, sitePicker(sites, siteId, (id) => load(sites, id))),
    cards,
    el("div", { class: "table-wrap" }, el("table", { "data-testid": "scorecard" }, el("thead", {}, head), el("tbody", {}, rows))));
}

async function load(sites, siteId) {
  try {
    render(await getJSON(API.compliance(siteId)), sites, siteId);
  } catch (error) {
    main.replaceChildren(el("div", { class: "toolbar" }, sitePicker(sites, siteId, (id) => load(sites, id))), errorBox(error));
  }
}

async function start() {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    const sites = await siteList();
    const id = chosenSite(sites);
    if (!id) {
      main.replaceChildren(el("p", { class: "notice" }, t("overview.no_sites")));
      return;
    }
    await load(sites, id);
  } catch (error) {
    main.replaceChildren(errorBox(error));
  }
}

start();
