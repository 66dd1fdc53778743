// Sign-in shell. Until access control exists the server answers /ui/api/me with the demo
// user; the form records the name and role chosen so pages can show who acts.

import { API } from "../endpoints.js";
import { el, errorBox, getJSON, shell, user } from "../common.js";
import { t } from "../i18n.js";

const ROLES = ["operator", "manager", "inspector", "admin"];
const main = shell("signin", "signin.title");

async function start() {
  let me;
  try {
    me = await getJSON(API.me());
  } catch (error) {
    main.replaceChildren(errorBox(error));
    return;
  }
  const current = user();
  const name = el("input", { name: "user", required: true, autocomplete: "username", value: current?.name ?? me.name, "data-testid": "signin-user" });
  const password = el("input", { name: "password", type: "password", autocomplete: "current-password", disabled: me.demo });
  const role = el("select", { name: "role", "data-testid": "signin-role" }, ROLES.map((r) => el("option", { value: r, selected: current?.role === r }, t(`role.${r}`))));
  const form = el("form", { class: "stack", onsubmit: (event) => {
    event.preventDefault();
    localStorage.setItem("linli.user", JSON.stringify({ id: me.id, name: name.value, role: role.value, demo: me.demo }));
    location.href = "/ui/";
  } },
  el("label", {}, t("signin.user"), name),
  el("label", {}, t("signin.password"), password),
  el("label", {}, t("signin.role"), role),
  el("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, t("signin.submit")),
  current ? el("button", { type: "button", onclick: () => { localStorage.removeItem("linli.user"); location.reload(); } }, t("user.signout")) : null);
  main.replaceChildren(el("div", { class: "signin" }, me.demo ? el("p", { class: "notice unavailable", "data-testid": "demo-notice" }, t("signin.demo")) : null, form));
}

start();
