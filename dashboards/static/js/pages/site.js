// Site: rooms floor by floor with live occupancy (server-sent events), doors, detectors, and
// today's occupancy curve per room.

import { API } from "../endpoints.js";
import {
  chart, chosenSite, el, errorBox, floorLabel, formatNumber, formatTime, functionLabel, getJSON,
  listen, loadClass, localHour, shell, sitePicker, siteList,
} from "../common.js";
import { pick, t } from "../i18n.js";

const main = shell("site", "site.title");
// Quarter-hour points: 96 per day, fine enough to see the lunch peak of a canteen.
const CURVE_STEP_S = 900;
const state = { view: null, charts: new Map(), curves: new Map(), source: null };

function deviceBadge(d, timeZone) {
  let text;
  let cls = "badge";
  if (d.kind === "door") {
    text = `${d.role ? t(`door.${d.role}`) : t("site.doors")} ${d.id}: ${d.state ? t(`state.${d.state}`) : "—"}`;
    if (d.state === "open" && (d.role === "fire_door")) cls += " warn";
    else if (d.state === "closed") cls += " good";
  } else if (d.kind === "smoke" || d.kind === "heat") {
    text = `${t("site.detectors")} ${d.id}: ${d.state ? t(`state.${d.state}`) : "—"}`;
    if (d.state === "alarm") cls += " bad";
    else if (d.state === "fault") cls += " warn";
    else if (d.state === "normal") cls += " good";
  } else if ((d.kind === "counter" || d.kind === "presence") && d.silent) {
    // Counters only show up when silent: their value is the room's occupancy.
    text = `${t("site.counter")} ${d.id}`;
  } else {
    return null;
  }
  if (d.silent) {
    text += ` (${t("site.silent")})`;
    cls += " warn";
  }
  return el("span", { class: cls, "data-device": d.id, title: formatTime(d.last_seen, timeZone) }, text);
}

function occupancyText(room) {
  if (room.occupancy === null || room.occupancy === undefined) {
    if (room.occupied === true) return t("site.occupied");
    if (room.occupied === false) return t("site.vacant");
    return "—";
  }
  return formatNumber(room.occupancy);
}

function roomCard(room, view) {
  const ratio = room.capacity && room.occupancy !== null ? room.occupancy / room.capacity : null;
  const spark = el("div", { class: "spark", "aria-label": t("site.today") });
  const badges = view.devices.filter((d) => d.room === room.id).map((d) => deviceBadge(d, view.timezone)).filter(Boolean);
  const node = el("section", { class: "room", "data-room": room.id },
    el("h3", {}, pick(room.name, room.name_en)),
    el("div", { class: "meta" }, functionLabel(room.function)),
    el("div", {},
      el("span", { class: `occ ${loadClass(ratio)}`, "data-testid": `room-occupancy-${room.id}`, "aria-live": "polite",
        title: room.updated ? `${t("common.updated")} ${formatTime(room.updated, view.timezone)}` : null }, occupancyText(room)),
      el("span", { class: "meta", title: pick(room.capacity_basis_zh, room.capacity_basis_en) ?? "" },
        ` / ${room.capacity ?? "—"} ${t("common.persons")} (${t("site.capacity")})`)),
    el("div", { class: "bar" }, el("span", { class: loadClass(ratio), style: `width:${Math.min(100, (ratio ?? 0) * 100)}%` })),
    el("div", { class: "badges" }, badges),
    el("div", { class: "meta" }, t("site.today")),
    spark);
  return { node, spark };
}

// Today's curve: the room's count (count sensors) or entries − exits since the 03:00 reset.
function curve(buckets, source, timeZone) {
  const points = [];
  let level = 0;
  let resetDone = false;
  for (const b of buckets) {
    if (b.max_count !== null) {
      points.push([b.start, b.max_count]);
    } else if (b.entries !== null || b.exits !== null) {
      if (!resetDone && localHour(b.start, timeZone) >= 3) { level = 0; resetDone = true; }
      level = Math.max(0, level + (b.entries ?? 0) - (b.exits ?? 0));
      points.push([b.start, level]);
    }
  }
  return points;
}

function drawCurve(roomId, spark, points, capacity) {
  const instance = chart(spark);
  state.charts.set(roomId, instance);
  state.curves.set(roomId, points);
  instance.setOption({
    animation: false,
    grid: { left: 30, right: 8, top: 8, bottom: 20 },
    tooltip: { trigger: "axis" },
    xAxis: { type: "time", min: state.view.day_start, max: new Date(new Date(state.view.day_start).getTime() + 86400e3).toISOString(),
      axisLabel: { hideOverlap: true, formatter: (v) => formatTime(new Date(v).toISOString(), state.view.timezone, false) } },
    yAxis: { type: "value", min: 0, minInterval: 1, max: capacity ? (v) => Math.max(v.max, capacity) : null },
    series: [{ type: "line", step: "end", showSymbol: points.length < 24, data: points, areaStyle: { opacity: 0.15 },
      markLine: capacity ? { symbol: "none", silent: true, data: [{ yAxis: capacity }], lineStyle: { color: "#b3261e", type: "dashed" }, label: { show: false } } : undefined }],
  });
}

async function loadCurves(view, sparks) {
  const end = new Date(view.now).toISOString();
  await Promise.all(view.rooms.map(async (room) => {
    try {
      const buckets = await getJSON(API.roomOccupancy(view.id, room.id, view.day_start, end, CURVE_STEP_S));
      drawCurve(room.id, sparks.get(room.id), curve(buckets, room.source, view.timezone), room.capacity);
    } catch (error) {
      sparks.get(room.id).replaceChildren(errorBox(error));
    }
  }));
}

function render(view, sites) {
  state.charts.forEach((c) => c.dispose());
  state.charts.clear();
  const floors = new Map();
  for (const room of view.rooms) {
    if (!floors.has(room.floor)) floors.set(room.floor, []);
    floors.get(room.floor).push(room);
  }
  const sparks = new Map();
  const sections = [...floors.entries()].sort((a, b) => b[0] - a[0]).map(([floor, rooms]) =>
    el("section", { class: "floor" }, el("h2", {}, floorLabel(floor)),
      el("div", { class: "rooms" }, rooms.map((room) => {
        const { node, spark } = roomCard(room, view);
        sparks.set(room.id, spark);
        return node;
      }))));
  const loose = view.devices.filter((d) => !d.room).map((d) => deviceBadge(d, view.timezone)).filter(Boolean);
  const gateways = el("section", {}, el("h2", {}, t("site.gateways")),
    el("div", { class: "badges" }, view.gateways.map((g) => el("span", {
      class: `badge ${g.offline ? "bad" : "good"}`, "data-gateway": g.id, title: formatTime(g.last_seen, view.timezone),
    }, `${g.name ?? g.id}: ${g.offline ? t("site.offline") : t("site.online")}`))),
    loose.length ? el("div", { class: "badges" }, loose) : null);
  main.replaceChildren(
    el("div", { class: "toolbar" }, sitePicker(sites, view.id, (id) => start(id)),
      el("span", { class: "meta" }, `${pick(view.name, view.name_en)} · ${t("common.timezone")} ${view.timezone} · ${t("common.updated")} `,
        el("span", { id: "updated" }, formatTime(view.now, view.timezone)))),
    ...(view.rooms.length ? sections : [el("p", { class: "notice" }, t("site.no_rooms"))]),
    gateways);
  loadCurves(view, sparks);
}

function onRoom(event) {
  const room = state.view?.rooms.find((r) => r.id === event.room);
  if (!room || (event.occupancy === null && event.occupied === null)) return;
  room.occupancy = event.occupancy;
  room.occupied = event.occupied;
  const node = document.querySelector(`[data-room="${CSS.escape(room.id)}"]`);
  if (!node) return;
  const ratio = room.capacity && room.occupancy !== null ? room.occupancy / room.capacity : null;
  const occ = node.querySelector(".occ");
  occ.textContent = occupancyText(room);
  occ.className = `occ ${loadClass(ratio)}`;
  const bar = node.querySelector(".bar > span");
  bar.className = loadClass(ratio);
  bar.style.width = `${Math.min(100, (ratio ?? 0) * 100)}%`;
  document.getElementById("updated").textContent = formatTime(event.ts, state.view.timezone);
  // A new local day: reload the snapshot so the curves start again at midnight (by the
  // browser's clock too, so a gateway with a clock ahead cannot cause a reload per event).
  const dayEnd = Date.parse(state.view.day_start) + 86400e3;
  if (event.ts && Date.parse(event.ts) >= dayEnd && Date.now() >= dayEnd) {
    start(state.view.id);
    return;
  }
  const instance = state.charts.get(room.id);
  if (instance && event.occupancy !== null && event.ts) {
    const points = state.curves.get(room.id);
    points.push([event.ts, event.occupancy]);
    instance.setOption({ series: [{ data: points }] });
  }
}

function onDevice(event) {
  const device = state.view?.devices.find((d) => d.id === event.device);
  if (!device) return;
  if (event.fields.state !== undefined) device.state = String(event.fields.state);
  device.last_seen = event.ts;
  device.silent = false;
  const old = document.querySelector(`[data-device="${CSS.escape(device.id)}"]`);
  const fresh = deviceBadge(device, state.view.timezone);
  if (old && fresh) old.replaceWith(fresh);
}

function onGateway(event) {
  const node = document.querySelector(`[data-gateway="${CSS.escape(event.gateway)}"]`);
  if (!node) return;
  const online = event.state === "online";
  node.className = `badge ${online ? "good" : "bad"}`;
  node.textContent = `${event.gateway}: ${online ? t("site.online") : t("site.offline")}`;
}

let sitesCache = null;

async function start(siteId) {
  main.replaceChildren(el("p", {}, t("common.loading")));
  try {
    sitesCache ??= await siteList();
    const id = siteId ?? chosenSite(sitesCache);
    if (!id) {
      main.replaceChildren(el("p", { class: "notice" }, t("overview.no_sites")));
      return;
    }
    state.source?.close();
    // Subscribe first, then load the snapshot: events that arrive meanwhile carry absolute
    // values, so applying them after the snapshot is harmless.
    const pending = [];
    let ready = false;
    const handle = (fn) => (event) => (ready ? fn(event) : pending.push(() => fn(event)));
    state.source = listen(API.stream(id), {
      room: handle(onRoom),
      device: handle(onDevice),
      gateway: handle(onGateway),
      resync: () => start(id),
    });
    state.view = await getJSON(API.siteLive(id));
    render(state.view, sitesCache);
    ready = true;
    pending.forEach((fn) => fn());
  } catch (error) {
    main.replaceChildren(errorBox(error));
  }
}

start();
