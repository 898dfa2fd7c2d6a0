// 跑单哨兵 live board: connects to /ws with the access token, renders the snapshot, then applies
// each {"type":"alert"} in place (keyed by alert_id). All alert text is set with textContent, so
// message content can never inject markup.
"use strict";

const I18N = {
  "zh-CN": {
    title: "跑单哨兵 · 实时告警", connected: "已连接", disconnected: "未连接", reconnecting: "重新连接中…",
    tokenLabel: "访问令牌", signin: "登录", tokenHint: "令牌由管理员通过 paodan token issue 签发。",
    refused: "令牌无效或已过期，请重新登录。", alerts: "条告警", critical: "严重", high: "高",
    time: "时间", severity: "级别", employee: "员工", team: "团队", rule: "规则", what: "告警", score: "分值",
    empty: "暂无告警。新告警会实时出现在这里。", langSwitch: "English",
    sev: { info: "提示", low: "低", medium: "中", high: "高", critical: "严重" },
    role: { supervisor: "主管", compliance: "合规", admin: "管理员" },
  },
  en: {
    title: "Paodan Sentinel · Live alerts", connected: "Connected", disconnected: "Disconnected",
    reconnecting: "Reconnecting…", tokenLabel: "Access token", signin: "Sign in",
    tokenHint: "Tokens are issued by an admin with paodan token issue.",
    refused: "The token is invalid or expired; please sign in again.", alerts: "alerts", critical: "critical",
    high: "high", time: "Time", severity: "Severity", employee: "Employee", team: "Team", rule: "Rule",
    what: "Alert", score: "Score", empty: "No alerts yet. New alerts appear here live.", langSwitch: "中文",
    sev: { info: "info", low: "low", medium: "medium", high: "high", critical: "critical" },
    role: { supervisor: "supervisor", compliance: "compliance", admin: "admin" },
  },
};

const state = { lang: localStorage.getItem("paodan.lang") || "zh-CN", alerts: new Map(), hello: null, retry: 500 };
const $ = (id) => document.getElementById(id);
const t = (key) => I18N[state.lang][key];

function applyLang() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
  $("lang").textContent = t("langSwitch");
  document.title = t("title");
  renderAll();
}

function fmtTime(ms) {
  const d = new Date(ms);
  return d.toLocaleString(state.lang, { hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function cell(label, text) {
  const td = document.createElement("td");
  td.dataset.label = t(label);
  if (text !== undefined) td.textContent = text;
  return td;
}

function row(alert) {
  const tr = document.createElement("tr");
  tr.dataset.id = alert.alert_id;
  tr.appendChild(cell("time", fmtTime(alert.ts)));
  const sev = cell("severity");
  const badge = document.createElement("span");
  badge.className = "sev " + alert.severity;
  badge.textContent = t("sev")[alert.severity] || alert.severity;
  sev.appendChild(badge);
  tr.appendChild(sev);
  tr.appendChild(cell("employee", alert.employee_id));
  tr.appendChild(cell("team", alert.team || "—"));
  tr.appendChild(cell("rule", alert.rule));
  const what = cell("what");
  const title = document.createElement("div");
  title.textContent = alert.title;
  const explain = document.createElement("div");
  explain.className = "explain";
  explain.textContent = alert.explanation;
  what.append(title, explain);
  tr.appendChild(what);
  tr.appendChild(cell("score", Number(alert.score).toFixed(1)));
  return tr;
}

function sorted() {
  return [...state.alerts.values()].sort((a, b) => b.ts - a.ts || (a.alert_id < b.alert_id ? -1 : 1));
}

function renderCounters() {
  const all = [...state.alerts.values()];
  $("count-total").textContent = all.length;
  $("count-critical").textContent = all.filter((a) => a.severity === "critical").length;
  $("count-high").textContent = all.filter((a) => a.severity === "high").length;
  $("empty").hidden = all.length > 0;
  if (state.hello) $("who").textContent = `${t("role")[state.hello.role] || state.hello.role}${state.hello.team ? " · " + state.hello.team : ""}`;
}

function renderAll() {
  const body = $("alerts");
  body.replaceChildren(...sorted().map(row));
  renderCounters();
}

function upsert(alert) {
  const prev = state.alerts.get(alert.alert_id);
  if (prev && (prev.revision || 1) > (alert.revision || 1)) return;
  state.alerts.set(alert.alert_id, alert);
  const body = $("alerts");
  const old = body.querySelector(`tr[data-id="${CSS.escape(alert.alert_id)}"]`);
  if (old) old.remove();
  const tr = row(alert);
  tr.classList.add("fresh");
  const next = [...body.children].find((r) => (state.alerts.get(r.dataset.id) || {}).ts < alert.ts);
  body.insertBefore(tr, next || null);
  renderCounters();
}

function setConn(on, label) {
  $("conn").className = "dot " + (on ? "on" : "off");
  $("conn-text").textContent = t(label);
}

function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) sessionStorage.setItem("paodan.token", fromUrl);
  return fromUrl || sessionStorage.getItem("paodan.token");
}

function showSignin(error) {
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = error ? t("refused") : "";
}

function connect() {
  const tok = token();
  if (!tok) return showSignin(false);
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws?token=${encodeURIComponent(tok)}`);
  let opened = false;
  ws.onopen = () => { opened = true; state.retry = 500; setConn(true, "connected"); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "hello") {
      state.hello = msg;
      $("signin").hidden = true;
      $("board").hidden = false;
    } else if (msg.type === "snapshot") {
      state.alerts = new Map(msg.alerts.map((a) => [a.alert_id, a]));
      renderAll();
    } else if (msg.type === "alert") {
      upsert(msg.alert);
    }
  };
  ws.onclose = () => {
    setConn(false, opened ? "reconnecting" : "disconnected");
    if (!opened) { sessionStorage.removeItem("paodan.token"); return showSignin(true); }
    setTimeout(connect, state.retry);
    state.retry = Math.min(10000, state.retry * 2);
  };
}

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("paodan.lang", state.lang);
  applyLang();
});
$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem("paodan.token", value);
  history.replaceState(null, "", location.pathname);
  connect();
});
applyLang();
connect();
