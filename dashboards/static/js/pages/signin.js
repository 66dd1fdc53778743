// Sign-in: user name and password to /auth/login, which sets the session cookie (HttpOnly, so
// no script reads it); then on to the page that sent the browser here (?next=, a path of this
// site only) or to the overview.

import { API } from "../endpoints.js";
import { el, rememberCsrf, session, shell } from "../common.js";
import { t } from "../i18n.js";

const main = shell("signin", "signin.title");
const HOME = "/ui/";
// Above this the throttle's wait is shown but not counted down second by second.
const COUNTDOWN_MAX_S = 3600;

// `raw` when it is a path of this site, else the overview: never another origin (no
// "https://x", "//x", "/\x" or "/\t/x", which browsers read as another host).
function safeNext(raw) {
  if (!raw || !raw.startsWith("/") || raw.startsWith("//") || raw.startsWith("/\\")) return HOME;
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch {
    return HOME;
  }
  if (url.origin !== location.origin || url.pathname === "/ui/signin") return HOME;
  return `${url.pathname}${url.search}${url.hash}`;
}

const next = safeNext(new URLSearchParams(location.search).get("next"));

function countdown(button, message, seconds) {
  let left = Math.max(1, Math.round(seconds));
  button.disabled = true;
  message.replaceChildren(t("signin.throttled", { s: left }));
  if (left > COUNTDOWN_MAX_S) return;
  const timer = setInterval(() => {
    left -= 1;
    if (left > 0) {
      message.replaceChildren(t("signin.throttled", { s: left }));
      return;
    }
    clearInterval(timer);
    button.disabled = false;
    message.replaceChildren();
  }, 1000);
}

async function submit(username, password, button, message) {
  button.disabled = true;
  message.replaceChildren();
  let response;
  try {
    response = await fetch(API.login(), {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      credentials: "same-origin",
      body: JSON.stringify({ username, password }),
    });
  } catch {
    message.replaceChildren(t("signin.unreachable"));
    button.disabled = false;
    return;
  }
  if (response.ok) {
    const result = await response.json();
    rememberCsrf(result.csrf_token);
    location.assign(next);
    return;
  }
  if (response.status === 429) {
    countdown(button, message, Number(response.headers.get("Retry-After")) || 60);
    return;
  }
  message.replaceChildren(response.status === 401 || response.status === 422
    ? t("signin.bad_credentials") : t("signin.failed", { status: response.status }));
  button.disabled = false;
}

async function start() {
  const me = await session({ quiet: true }).catch(() => null);
  const username = el("input", { name: "username", required: true, maxlength: 64, autocomplete: "username",
    autocapitalize: "none", spellcheck: "false", autofocus: true, "data-testid": "signin-user" });
  const password = el("input", { name: "password", type: "password", required: true, maxlength: 1024,
    autocomplete: "current-password", "data-testid": "signin-password" });
  const button = el("button", { type: "submit", class: "primary", "data-testid": "signin-submit" }, t("signin.submit"));
  const message = el("p", { class: "notice error", role: "alert", "aria-live": "assertive", "data-testid": "signin-error" });
  const form = el("form", { class: "stack", "data-testid": "signin-form", onsubmit: (event) => {
    event.preventDefault();
    submit(username.value.trim(), password.value, button, message);
  } },
  el("label", {}, t("signin.user"), username),
  el("label", {}, t("signin.password"), password),
  button,
  message);
  const already = me ? el("p", { class: "notice", "data-testid": "signed-in" },
    t("signin.already", { name: me.name || me.id }), " ", el("a", { href: next }, t("signin.continue"))) : null;
  main.replaceChildren(el("div", { class: "signin" }, already, form));
  username.focus();
}

start();
