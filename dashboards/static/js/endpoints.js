// Every server path the pages call, in one place.

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
  // Alert lifecycle (ingest_server/alerts/api.py).
  alerts: (filters) => `/alerts${q({ limit: 1000, ...filters })}`,
  alert: (id) => `/alerts/${enc(id)}`, // with its history
  // action: acknowledge {actor, note} | assign {actor, assignee} | resolve {actor, note}
  alertAction: (id, action) => `/alerts/${enc(id)}/${action}`,
  alertNote: (id) => `/alerts/${enc(id)}/notes`, // {actor, text}
  alertStream: () => "/alerts/stream",
  // Inspection schedule (ingest_server/api/inspections.py) and log (ingest_server/inspection_log).
  inspectionsDue: (site, all = false) => `/sites/${enc(site)}/inspections/due${q({ all: all || undefined })}`,
  checklists: () => "/ui/api/checklists",
  inspectionLog: (site, filters) => `/inspection-log/${enc(site)}/entries${q(filters)}`,
  inspectionRecord: (site) => `/inspection-log/${enc(site)}/records`,
  inspectionVerify: (site) => `/inspection-log/${enc(site)}/verify`,
  inspectionExport: (site, filters) => `/inspection-log/export${q({ site, ...filters })}`,
};

// The `event:` names of /alerts/stream (ingest_server.alerts.EventKind); `data:` is
// {kind, alert, at, actor, note, ...} with `alert` as in GET /alerts.
export const ALERT_EVENTS = [
  "fired", "escalated", "reminder", "escalation", "updated", "resolved", "acknowledged",
  "assigned", "silenced", "note",
];
