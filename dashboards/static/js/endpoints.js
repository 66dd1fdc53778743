// Every server path the pages call, in one place. Paths marked "pending" belong to parts of
// the server that are being built (alerts, inspections); pages probe /openapi.json and show
// "not available" while a path is missing.

const q = (params) => {
  const usp = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => usp.append(k, x));
    else usp.append(k, String(v));
  }
  const s = usp.toString();
  return s ? `?${s}` : "";
};
const enc = encodeURIComponent;

export const API = {
  openapi: () => "/openapi.json",
  // Page data and live stream served by dashboards/web.py.
  me: () => "/ui/api/me",
  overview: () => "/ui/api/overview",
  siteLive: (site) => `/ui/api/sites/${enc(site)}/live`,
  stream: (site) => `/ui/api/stream${q({ site })}`,
  // The ingest server's API.
  sites: (offset = 0, limit = 500) => `/sites${q({ offset, limit })}`,
  site: (site) => `/sites/${enc(site)}`,
  roomOccupancy: (site, room, start, end, step) =>
    `/sites/${enc(site)}/rooms/${enc(room)}/occupancy${q({ start, end, step })}`,
  compliance: (site) => `/sites/${enc(site)}/compliance`,
  utilization: (site, start, end, rooms) =>
    `/sites/${enc(site)}/utilization${q({ start, end, rooms })}`,
  // Alerts (pending).
  alerts: (filters) => `/alerts${q(filters)}`,
  alertAction: (id, action) => `/alerts/${enc(id)}/${action}`, // action: ack | assign | resolve
  alertHistory: (id) => `/alerts/${enc(id)}/history`,
  alertStream: () => "/alerts/stream",
  // Inspections (pending).
  inspectionsDue: (site) => `/sites/${enc(site)}/inspections/due`,
  inspectionLog: (site, filters) => `/sites/${enc(site)}/inspection-log${q(filters)}`,
  inspectionRecord: (site) => `/sites/${enc(site)}/inspection-log`,
  inspectionExport: (site, format, start, end) =>
    `/sites/${enc(site)}/inspection-log/export${q({ format, start, end })}`,
};

// OpenAPI path templates of the pending endpoints ("{}" stands for any path parameter), used
// to detect whether they exist yet.
export const PENDING = {
  alerts: "/alerts",
  alertStream: "/alerts/stream",
  alertAction: "/alerts/{}/ack",
  alertHistory: "/alerts/{}/history",
  inspectionsDue: "/sites/{}/inspections/due",
  inspectionLog: "/sites/{}/inspection-log",
  inspectionExport: "/sites/{}/inspection-log/export",
};
