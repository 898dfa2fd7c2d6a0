// 跑单哨兵 live board. Connects to /ws with the access token, renders the snapshot, then applies each
// change in place: `alert` (new or revised), `action` (triage state), `silence`. It remembers the last
// `seq` and resumes from it after a reconnect, so nothing is missed and nothing is reloaded.
// Every piece of alert or message text is set with textContent (never innerHTML): chat content cannot
// inject markup or script.
"use strict";

const I18N = {
  "zh-CN": {
    title: "跑单哨兵 · 实时告警", connected: "已连接", disconnected: "未连接", reconnecting: "重新连接中…",
    tokenLabel: "访问令牌", signin: "登录", tokenHint: "令牌由管理员通过 paodan token issue 签发。", wecomSignin: "通过企业微信登录",
    refused: "令牌无效、已过期或已吊销，请重新登录。", all: "全部", total: "全部告警",
    time: "时间", severity: "级别", status: "状态", employee: "员工", team: "团队", branch: "分支机构", rule: "规则",
    what: "告警", score: "分值", empty: "暂无告警。新告警会实时出现在这里。",
    resyncing: "正在从 Kafka 恢复 Redis 丢失的告警，看板数据可能不完整。", langSwitch: "English",
    leaderboard: "员工风险排行", perDay: "每日告警（按规则）", precision: "规则准确率", silences: "静默",
    noSilences: "无", close: "关闭", evidence: "证据", comments: "备注", history: "处理记录", addComment: "添加备注",
    viewerTime: "本地时间", branchTime: "分支时间", assignee: "处理人", resolution: "结论", window: "时间窗口",
    acknowledge: "确认", claim: "认领", assign: "指派…", resolveTP: "属实", resolveFP: "误报", resolveBenign: "无害",
    reopen: "重新打开", escalate: "升级至合规", silenceRule: "静默规则…", silenceEmployee: "静默员工…",
    wecomMessage: "企业微信官方消息…", wecomTransfer: "转接客户…", wecomNotify: "通知主管…", wecomIntercept: "聊天拦截…",
    textPrompt: "发给客户的官方消息：", reasonPrompt: "原因（将记录在审计中）：", takerPrompt: "接替成员的 userid：",
    privileges: "管理员与合规名单", requestPrivilege: "申请变更…", approve: "批准", requestedBy: "申请人",
    userPrompt: "成员 userid：", rolePrompt: "角色（admin、compliance，或 none 表示取消）：",
    handovers: "离职交接", handOver: "一键转接", lastDay: "最后工作日", overdue: "已逾期", days: "天",
    noTaker: "同组无可接替成员", customersN: "位客户", startedN: "已发起", goneN: "已删除联系", noHandovers: "暂无待交接的离职员工。",
    caseFiles: "证据包", requestCaseFile: "申请证据包…", noCaseFiles: "暂无证据包申请。", approvedBy: "批准人",
    awaitingApproval: "待另一位管理员批准", download: "下载", caseFileRequested: "证据包申请已提交：",
    daysPrompt: "拦截多少天？", confirmPrompt: "确认通过企业微信执行：", wecomDone: "企业微信已受理：", signout: "退出",
    lift: "解除", tokens: "访问令牌", revoke: "吊销", revoked: "已吊销", expires: "到期", assignPrompt: "指派给（用户名）：", silencePrompt: "静默多少分钟？", until: "至",
    metadataOnly: "仅显示元数据：您的角色无权查看消息内容。", loading: "加载中…", noEvidence: "没有找到消息记录。",
    pendingEvidence: "部分证据消息尚未归档，稍后自动刷新…",
    timeline: "员工时间线", chars: "字", precisionCol: "准确率", tp: "属实", fp: "误报", benign: "无害",
    sev: { info: "提示", low: "低", medium: "中", high: "高", critical: "严重" },
    st: { new: "新告警", acknowledged: "已确认", assigned: "处理中", escalated: "已升级", resolved: "已处理" },
    res: { true_positive: "属实", false_positive: "误报", benign: "无害" },
    act: { acknowledge: "确认", assign: "指派", claim: "认领", comment: "备注", resolve: "处理", reopen: "重新打开", escalate: "升级", silence: "静默" },
    role: { supervisor: "主管", compliance: "合规", admin: "管理员" },
  },
  en: {
    title: "Paodan Sentinel · Live alerts", connected: "Connected", disconnected: "Disconnected",
    reconnecting: "Reconnecting…", tokenLabel: "Access token", signin: "Sign in",
    tokenHint: "Tokens are issued by an admin with paodan token issue.", wecomSignin: "Sign in with WeCom",
    refused: "The token is invalid, expired or revoked; please sign in again.", all: "All", total: "All alerts",
    time: "Time", severity: "Severity", status: "Status", employee: "Employee", team: "Team", branch: "Branch",
    rule: "Rule", what: "Alert", score: "Score", empty: "No alerts yet. New alerts appear here live.",
    resyncing: "Restoring alerts Redis lost from Kafka: the board may be incomplete.",
    langSwitch: "中文", leaderboard: "Employee risk", perDay: "Alerts per day by rule", precision: "Rule precision",
    silences: "Silences", noSilences: "None", close: "Close", evidence: "Evidence", comments: "Comments",
    history: "History", addComment: "Add comment", viewerTime: "Your time", branchTime: "Branch time",
    assignee: "Assignee", resolution: "Resolution", window: "Window", acknowledge: "Acknowledge", claim: "Claim",
    assign: "Assign…", resolveTP: "True positive", resolveFP: "False positive", resolveBenign: "Benign",
    reopen: "Reopen", escalate: "Escalate to compliance", silenceRule: "Silence rule…",
    silenceEmployee: "Silence employee…", wecomMessage: "Official WeCom message…", wecomTransfer: "Hand customers over…",
    wecomNotify: "Tell the manager…", wecomIntercept: "Intercept chats…", textPrompt: "Official message to the customers:",
    reasonPrompt: "Reason (kept in the audit trail):", takerPrompt: "userid of the member taking over:",
    privileges: "Admins and compliance", requestPrivilege: "Request a change…", approve: "Approve",
    requestedBy: "requested by", userPrompt: "Member's userid:", rolePrompt: "Role (admin, compliance, or none to remove):",
    handovers: "Resignation hand-over", handOver: "Hand over", lastDay: "last day", overdue: "overdue", days: "days",
    noTaker: "nobody in the team can take over", customersN: "customers", startedN: "started", goneN: "contact deleted",
    noHandovers: "No leavers waiting for a hand-over.",
    caseFiles: "Case files", requestCaseFile: "Request a case file…", noCaseFiles: "No case-file requests.",
    approvedBy: "approved by", awaitingApproval: "awaiting a second admin's approval", download: "Download",
    caseFileRequested: "Case file requested:",
    daysPrompt: "Intercept for how many days?", confirmPrompt: "Confirm, through WeCom:", wecomDone: "WeCom accepted:",
    signout: "Sign out", lift: "Lift", tokens: "Access tokens", revoke: "Revoke",
    revoked: "revoked", expires: "expires", assignPrompt: "Assign to (user name):",
    silencePrompt: "Silence for how many minutes?", until: "until",
    metadataOnly: "Metadata only: your role may not read message content.", loading: "Loading…",
    noEvidence: "No messages found.", pendingEvidence: "Some evidence is not archived yet; refreshing shortly…", timeline: "Employee timeline", chars: "chars", precisionCol: "Precision",
    tp: "TP", fp: "FP", benign: "Benign",
    sev: { info: "info", low: "low", medium: "medium", high: "high", critical: "critical" },
    st: { new: "new", acknowledged: "acknowledged", assigned: "assigned", escalated: "escalated", resolved: "resolved" },
    res: { true_positive: "true positive", false_positive: "false positive", benign: "benign" },
    act: { acknowledge: "acknowledged", assign: "assigned", claim: "claimed", comment: "commented", resolve: "resolved", reopen: "reopened", escalate: "escalated", silence: "silenced" },
    role: { supervisor: "supervisor", compliance: "compliance", admin: "admin" },
  },
};
const SEVERITIES = ["critical", "high", "medium", "low", "info"];
const STATUSES = ["new", "acknowledged", "assigned", "escalated", "resolved"];
const PALETTE = ["#1976d2", "#e65100", "#2e7d32", "#6a1b9a", "#00838f", "#c62828", "#5d4037", "#f9a825"];
const DAY = 86400000;

const state = {
  lang: localStorage.getItem("paodan.lang") || "zh-CN", alerts: new Map(), hello: null, retry: 500,
  seq: null, epoch: null, silences: new Map(), precision: {}, risk: new Map(), filters: {}, selected: null,
  ws: null, requests: 0,
};
const $ = (id) => document.getElementById(id);
const t = (key) => I18N[state.lang][key];
const el = (tag, props = {}, ...children) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "text") node.textContent = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
};
const svg = (tag, attrs = {}) => {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
};
const statusOf = (a) => (a.state && a.state.status) || "new";

// --- time: the viewer's zone and the branch's zone -------------------------------------------------
const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone;
const branchZone = (a) => a.timezone || "Asia/Shanghai";
function fmtTime(ms, zone) {
  return new Date(ms).toLocaleString(state.lang, { timeZone: zone, hour12: false, month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

// --- silences --------------------------------------------------------------------------------------
function silencedBy(a) {
  const now = Date.now();
  for (const s of state.silences.values()) {
    if (s.until > now && ((s.target === "rule" && s.value === a.rule) || (s.target === "employee" && s.value === a.employee_id))) return s;
  }
  return null;
}

// --- filters and counters --------------------------------------------------------------------------
function matches(a, skip) {
  for (const [key, value] of Object.entries(state.filters)) {
    if (!value || key === skip) continue;
    const have = key === "status" ? statusOf(a) : a[key];
    if (have !== value) return false;
  }
  return true;
}
function visible() {
  return [...state.alerts.values()].filter((a) => matches(a)).sort((a, b) => b.ts - a.ts || (a.alert_id < b.alert_id ? -1 : 1));
}
function renderFilters() {
  const all = [...state.alerts.values()];
  const options = {
    branch: [...new Set(all.map((a) => a.branch).filter(Boolean))].sort(),
    team: [...new Set(all.map((a) => a.team).filter(Boolean))].sort(),
    rule: [...new Set(all.map((a) => a.rule))].sort(),
    severity: SEVERITIES, status: STATUSES,
  };
  for (const select of document.querySelectorAll("#filters select")) {
    const key = select.dataset.filter;
    const current = state.filters[key] || "";
    const label = (v) => (key === "severity" ? t("sev")[v] : key === "status" ? t("st")[v] : v);
    select.replaceChildren(el("option", { value: "", text: `${t(key)}：${t("all")}` }),
      ...options[key].map((v) => el("option", { value: v, text: label(v) })));
    select.value = current;
  }
}
function renderCounters() {
  const all = [...state.alerts.values()].filter((a) => matches(a, "status"));
  const box = $("counters");
  const counter = (key, label, n) => el("span", { class: "counter" + ((state.filters.status || "") === key ? " active" : ""), "data-status": key || "all", onclick: () => { state.filters.status = key; renderAll(); } }, el("b", { text: String(n) }), label);
  box.replaceChildren(counter("", t("total"), all.length),
    ...STATUSES.map((s) => counter(s, t("st")[s], all.filter((a) => statusOf(a) === s).length)));
  $("empty").hidden = visible().length > 0;
  if (state.hello) $("who").textContent = `${state.hello.actor} · ${t("role")[state.hello.role] || state.hello.role}${state.hello.team ? " · " + state.hello.team : ""}`;
}

// --- the alert table -------------------------------------------------------------------------------
function cell(label, ...children) { return el("td", { "data-label": t(label), class: "c-" + label }, ...children); }
function row(a) {
  const st = statusOf(a);
  const tr = el("tr", { "data-id": a.alert_id, "data-status": st, onclick: () => openDetail(a.alert_id) });
  if (silencedBy(a)) tr.classList.add("silenced");
  if (state.selected === a.alert_id) tr.classList.add("selected");
  const when = [document.createTextNode(fmtTime(a.ts, viewerZone))];
  if (branchZone(a) !== viewerZone) when.push(el("div", { class: "sub", text: `${a.branch || ""} ${fmtTime(a.ts, branchZone(a))}` }));
  tr.append(
    cell("time", ...when),
    cell("severity", el("span", { class: "sev " + a.severity, text: t("sev")[a.severity] || a.severity })),
    cell("status", el("span", { class: "st " + st, text: t("st")[st] || st }),
      ...(a.state && a.state.assignee ? [el("div", { class: "sub", text: a.state.assignee })] : [])),
    cell("employee", document.createTextNode(a.employee_id)),
    cell("team", document.createTextNode(a.team || "—")),
    cell("what", el("div", { class: "alert-title", text: a.title }), el("div", { class: "explain", text: a.explanation }), el("div", { class: "sub", text: a.rule })),
    cell("score", document.createTextNode(Number(a.score).toFixed(1))));
  return tr;
}
// Rows are kept and reused while what they show is unchanged: rebuilding 500 rows took ~100 ms per
// render, and a render follows every change. The key is everything a row shows (the alert with its
// triage state, its silence, the selection and the language).
const keptRows = new Map();  // alert_id -> { key, tr }
function rowFor(a) {
  const key = `${state.lang}|${state.selected === a.alert_id}|${!!silencedBy(a)}|${JSON.stringify(a)}`;
  const kept = keptRows.get(a.alert_id);
  if (kept && kept.key === key) return kept.tr;
  const tr = row(a);
  keptRows.set(a.alert_id, { key, tr });
  return tr;
}
function renderTable() {
  const list = visible();
  $("alerts").replaceChildren(...list.map(rowFor));
  if (keptRows.size > 2 * state.alerts.size + 100) {  // forget rows of alerts the board no longer holds
    for (const id of keptRows.keys()) if (!state.alerts.has(id)) keptRows.delete(id);
  }
}

// --- risk leaderboard with sparklines (risk updates if the worker publishes them, else alert scores) --
function dailyMax(alerts, days, now) {
  const out = new Array(days).fill(0);
  for (const a of alerts) {
    const i = days - 1 - Math.floor((now - a.ts) / DAY);
    if (i >= 0 && i < days) out[i] = Math.max(out[i], Number(a.score) || 0);
  }
  return out;
}
function sparkline(values) {
  const w = 80, h = 20, max = Math.max(100, ...values);
  const pts = values.map((v, i) => `${(i * w / Math.max(1, values.length - 1)).toFixed(1)},${(h - 1 - v * (h - 2) / max).toFixed(1)}`).join(" ");
  const s = svg("svg", { width: w, height: h, viewBox: `0 0 ${w} ${h}`, class: "spark" });
  s.append(svg("polyline", { points: pts, fill: "none", stroke: "#e65100", "stroke-width": "1.5" }));
  return s;
}
function renderLeaders() {
  const now = Date.now();
  const byEmployee = new Map();
  for (const a of state.alerts.values()) {
    if (!matches(a, "status")) continue;
    if (!byEmployee.has(a.employee_id)) byEmployee.set(a.employee_id, []);
    byEmployee.get(a.employee_id).push(a);
  }
  // The behaviour engine's risk score where it publishes one; else the highest alert score of the last
  // 7 days. The sparkline: the risk scores seen on this page, or the daily highest alert score.
  const employees = new Set([...byEmployee.keys(), ...state.risk.keys()]);
  const rows = [...employees].map((emp) => {
    const alerts = byEmployee.get(emp) || [];
    const derived = dailyMax(alerts, 14, now);
    const r = state.risk.get(emp);
    const series = r && r.series.length > 1 ? r.series : derived;
    return { emp, team: r ? r.team : alerts[0].team, risk: r ? r.score : Math.max(...derived.slice(-7)), series };
  }).filter((row) => !state.filters.team || row.team === state.filters.team)
    .sort((x, y) => y.risk - x.risk).slice(0, 10);
  $("leaders").replaceChildren(...rows.map((r) => el("li", { "data-employee": r.emp },
    el("span", { class: "name", text: `${r.emp}${r.team ? " · " + r.team : ""}` }), sparkline(r.series),
    el("span", { class: "risk", text: r.risk.toFixed(0) }))));
}

// --- alerts per day by rule (stacked bars, last 14 days) --------------------------------------------
function renderChart() {
  const days = 14, now = Date.now(), today = Math.floor(now / DAY);
  const rules = [...new Set([...state.alerts.values()].map((a) => a.rule))].sort();
  const counts = rules.map(() => new Array(days).fill(0));
  for (const a of state.alerts.values()) {
    if (!matches(a, "rule")) continue;
    const i = days - 1 - (today - Math.floor(a.ts / DAY));
    if (i >= 0 && i < days) counts[rules.indexOf(a.rule)][i] += 1;
  }
  const totals = counts[0] ? counts[0].map((_, i) => counts.reduce((s, c) => s + c[i], 0)) : [];
  const max = Math.max(1, ...totals), w = 290, h = 90, bw = w / days;
  const chart = svg("svg", { width: "100%", viewBox: `0 0 ${w} ${h + 14}`, role: "img" });
  for (let i = 0; i < days; i++) {
    let y = h;
    rules.forEach((rule, r) => {
      const bh = counts[r][i] * (h - 4) / max;
      if (bh > 0) { y -= bh; chart.append(svg("rect", { x: (i * bw + 1).toFixed(1), y: y.toFixed(1), width: (bw - 2).toFixed(1), height: bh.toFixed(1), fill: PALETTE[r % PALETTE.length] })); }
    });
    if (i % 3 === 1 || i === days - 1) {
      const label = svg("text", { x: (i * bw + bw / 2).toFixed(1), y: h + 11, "font-size": 8, "text-anchor": "middle", fill: "#86909c" });
      const d = new Date((today - (days - 1 - i)) * DAY);
      label.textContent = `${d.getUTCMonth() + 1}/${d.getUTCDate()}`;
      chart.append(label);
    }
  }
  $("chart").replaceChildren(chart);
  $("legend").replaceChildren(...rules.map((rule, r) => el("span", {}, el("i", { style: `background:${PALETTE[r % PALETTE.length]}` }), rule)));
}

function renderPrecision() {
  const rows = Object.entries(state.precision).sort();
  $("precision").replaceChildren(el("tr", {}, el("td", { text: t("rule") }), el("td", { text: t("tp") }), el("td", { text: t("fp") }), el("td", { text: t("benign") }), el("td", { text: t("precisionCol") })),
    ...rows.map(([rule, c]) => {
      const judged = c.true_positive + c.false_positive;
      return el("tr", { "data-rule": rule }, el("td", { text: rule }), el("td", { text: String(c.true_positive) }), el("td", { text: String(c.false_positive) }), el("td", { text: String(c.benign) }),
        el("td", { class: "precision-value", text: judged ? `${Math.round(100 * c.true_positive / judged)}%` : "—" }));
    }));
}
function renderSilences() {
  const now = Date.now();
  const live = [...state.silences.values()].filter((s) => s.until > now);
  const admin = state.hello && state.hello.role === "admin";
  $("silences").replaceChildren(...(live.length ? live.map((s) => el("li", {},
    `${t(s.target === "rule" ? "rule" : "employee")} ${s.value} ${t("until")} ${fmtTime(s.until, viewerZone)}`,
    ...(admin ? [" ", el("button", { type: "button", text: t("lift"), onclick: () => send("silence", null, { target: s.target, value: s.value, minutes: 0 }) })] : [])))
    : [el("li", { class: "hint", text: t("noSilences") })]));
}

function renderTokens(tokens) {  // admin only: ids and scopes of issued tokens, never the tokens
  $("tokens").replaceChildren(...tokens.map((k) => el("li", { "data-jti": k.jti },
    `${k.sub || "—"} · ${t("role")[k.role] || k.role}${k.team ? " · " + k.team : ""} · ${t("expires")} ${fmtTime(k.exp * 1000, viewerZone)} `,
    k.revoked ? el("span", { class: "hint", text: t("revoked") })
      : el("button", { type: "button", text: t("revoke"), onclick: () => send("revoke_token", null, { jti: k.jti }) }))));
}

function renderAll() {
  renderFilters(); renderCounters(); renderTable(); renderLeaders(); renderChart(); renderPrecision(); renderSilences();
  if (state.selected) renderDetail();
}
let pending = null;
function scheduleRender() {  // bursts of changes render once per frame
  if (pending) return;
  pending = requestAnimationFrame(() => { pending = null; renderAll(); });
}

// --- the detail panel: actions, comments, evidence --------------------------------------------------
function openDetail(id) { state.selected = id; $("detail").hidden = false; renderDetail(); loadEvidence(id); renderTable(); }
function closeDetail() { state.selected = null; $("detail").hidden = true; renderTable(); }
function renderDetail() {
  const a = state.alerts.get(state.selected);
  if (!a) return closeDetail();
  const st = statusOf(a), s = a.state || {};
  $("d-title").textContent = a.title;
  const dl = el("dl", { class: "meta" });
  const item = (k, v) => dl.append(el("dt", { text: t(k) }), el("dd", { text: v }));
  item("severity", t("sev")[a.severity]); item("status", t("st")[st] + (s.resolution ? ` · ${t("res")[s.resolution]}` : ""));
  item("employee", a.employee_id); item("team", a.team || "—"); item("branch", a.branch || "—"); item("rule", a.rule);
  item("score", Number(a.score).toFixed(1)); item("assignee", s.assignee || "—");
  item("viewerTime", `${fmtTime(a.ts, viewerZone)} (${viewerZone})`); item("branchTime", `${fmtTime(a.ts, branchZone(a))} (${branchZone(a)})`);
  $("d-meta").replaceChildren(dl);
  $("d-explain").textContent = a.explanation;
  const open = st !== "resolved";
  const b = (key, action, detail, enabled, primary) => el("button", { type: "button", "data-action": key, class: primary ? "primary" : "", text: t(key), ...(enabled ? {} : { disabled: "" }), onclick: () => {
    const d = typeof detail === "function" ? detail() : detail;
    if (d !== null) send(action, a.alert_id, d);
  } });
  const buttons = [
    b("acknowledge", "acknowledge", {}, st === "new", true), b("claim", "claim", {}, open),
    b("assign", "assign", () => { const who = prompt(t("assignPrompt")); return who ? { assignee: who } : null; }, open),
    b("resolveTP", "resolve", { resolution: "true_positive" }, open), b("resolveFP", "resolve", { resolution: "false_positive" }, open),
    b("resolveBenign", "resolve", { resolution: "benign" }, open), b("escalate", "escalate", {}, open && st !== "escalated"),
    b("reopen", "reopen", {}, !open),
  ];
  if (state.hello && state.hello.role === "admin") {
    const minutes = () => { const m = Number(prompt(t("silencePrompt"), "60")); return m > 0 ? m : null; };
    buttons.push(b("silenceRule", "silence", () => { const m = minutes(); return m ? { target: "rule", minutes: m } : null; }, true),
      b("silenceEmployee", "silence", () => { const m = minutes(); return m ? { target: "employee", minutes: m } : null; }, true));
  }
  if (state.hello && state.hello.wecom) buttons.push(...wecomButtons(a));
  if (state.hello && state.hello.role === "compliance")
    buttons.push(b("requestCaseFile", "evidence_request", () => { const reason = prompt(t("reasonPrompt")); return reason ? { reason } : null; }, true));
  $("d-actions").replaceChildren(...buttons);
  $("d-comments").replaceChildren(...(s.comments || []).map((c) => el("li", {}, el("b", { text: c.by }), ` ${fmtTime(c.ts, viewerZone)}：`, el("span", { class: "comment-text", text: c.text }))));
  $("d-history").replaceChildren(...(s.history || []).slice().reverse().map((h) => el("li", { text: `${fmtTime(h.ts, viewerZone)} ${h.by} ${t("act")[h.action] || h.action}` })));
}

// Actions through WeCom's API: each asks for its input and a reason, then an explicit confirmation; the
// key makes a double click (or a resend after a reconnect) one action.
function wecomButtons(a) {
  const ask = (label, detail) => {
    const reason = prompt(t("reasonPrompt"));
    if (!reason || !confirm(`${t("confirmPrompt")} ${label}\n${reason}`)) return null;
    return { ...detail, reason, confirm: true, key: `${a.alert_id}:${Date.now()}:${Math.random().toString(36).slice(2)}` };
  };
  const w = (key, action, build) => el("button", { type: "button", "data-action": key, text: t(key), onclick: () => {
    const d = build();
    if (d) send(action, a.alert_id, d);
  } });
  return [
    w("wecomMessage", "wecom_message", () => { const text = prompt(t("textPrompt")); return text ? ask(t("wecomMessage"), { text }) : null; }),
    w("wecomTransfer", "wecom_transfer", () => { const to = prompt(t("takerPrompt")); return to ? ask(`${a.employee_id} → ${to}`, { from: a.employee_id, to }) : null; }),
    w("wecomNotify", "wecom_notify", () => ask(t("wecomNotify"), {})),
    w("wecomIntercept", "wecom_intercept", () => { const days = Number(prompt(t("daysPrompt"), "7")); return days > 0 ? ask(`${a.employee_id} · ${days}`, { employee: a.employee_id, days }) : null; }),
  ];
}
function renderPrivileges(msg) {  // admin only; a change applies once a second admin approves it
  $("privileges").replaceChildren(...Object.entries(msg.privileges).sort().map(([u, r]) => el("li", { text: `${u} · ${r}` })));
  $("privilege-requests").replaceChildren(...msg.requests.map((q) => el("li", { "data-request": q.request_id },
    `${q.userid}: ${q.from} → ${q.role} · ${t("requestedBy")} ${q.requested_by} · ${q.reason} `,
    q.requested_by === state.hello.actor ? "" : el("button", { type: "button", text: t("approve"),
      onclick: () => send("approve_privilege", null, { request_id: q.request_id }) }))));
}
function renderHandovers(list) {  // leavers' customers, a suggested taker, one click to hand them over
  state.handovers = list;
  $("handovers").replaceChildren(...(list.length ? list.map((h) => el("li", { "data-employee": h.employee },
    el("b", { text: `${h.name || h.employee} · ${h.team}` }),
    ` ${t("lastDay")} ${h.last_day ? fmtTime(h.last_day, viewerZone) : "—"} · ${h.customers.length} ${t("customersN")}`,
    h.started.length ? ` · ${t("startedN")} ${h.started.length}` : "",
    h.gone && h.gone.length ? ` · ${t("goneN")} ${h.gone.length}` : "",
    h.overdue_days ? el("span", { class: "error", text: ` ${t("overdue")} ${h.overdue_days} ${t("days")}` }) : "",
    h.customers.length && h.suggested
      ? el("button", { type: "button", "data-action": "handOver", text: `${t("handOver")} → ${h.suggested}`, onclick: () => {
        const reason = prompt(t("reasonPrompt"), "离职交接");
        if (!reason || !confirm(`${t("confirmPrompt")} ${h.employee} → ${h.suggested} (${h.customers.length})`)) return;
        send("wecom_transfer", null, { from: h.employee, to: h.suggested, customers: h.customers, reason, confirm: true,
          key: `handover:${h.employee}:${Date.now()}` });
      } })
      : el("span", { class: "hint", text: h.customers.length ? ` ${t("noTaker")}` : "" })))
    : [el("li", { class: "hint", text: t("noHandovers") })]));
}
function renderCaseFiles(list) {  // compliance requests, a second admin approves, the requester downloads
  const me = state.hello && state.hello.actor, tok = token();
  $("case-files").replaceChildren(...(list.length ? list.map((c) => el("li", { "data-request": c.request_id },
    el("b", { text: c.scope.alert || c.scope.employee }), ` · ${c.requester} · ${c.reason} · `,
    c.approved_by ? `${t("approvedBy")} ${c.approved_by} ` : el("span", { class: "hint", text: `${t("awaitingApproval")} ` }),
    !c.approved_by && state.hello.role === "admin" && c.requester !== me
      ? el("button", { type: "button", "data-action": "approveCaseFile", text: t("approve"),
        onclick: () => send("evidence_approve", null, { request_id: c.request_id }) }) : "",
    c.approved_by && c.requester === me
      ? el("a", { href: `/api/evidence/${c.request_id}.zip${tok ? `?token=${encodeURIComponent(tok)}` : ""}`,
        download: `case-${c.request_id}.zip`, text: t("download") }) : ""))
    : [el("li", { class: "hint", text: t("noCaseFiles") })]));
}
function wecomSummary(r) {
  if (r.case_file) return `${t("caseFileRequested")} ${r.case_file.request_id}`;
  if (r.sent_to) return `${r.sent_to.length} ✓${r.failed.length ? ` · ${r.failed.length} ✗` : ""} — ${r.note}`;
  if (r.customers) return r.customers.map((c) => `${c.customer}: ${c.result}`).join("; ");
  if (r.rule_id) return `${r.employee} → ${fmtTime(r.until, viewerZone)}`;
  return r.to || "";
}

function highlighted(text, spans) {
  // Offsets are in code points (Python's), so slice an array of code points, not UTF-16 units.
  const chars = Array.from(text || "");
  const out = [];
  let at = 0;
  for (const { start, end } of spans.slice().sort((x, y) => x.start - y.start)) {
    if (start < at || end > chars.length) continue;
    out.push(document.createTextNode(chars.slice(at, start).join("")), el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  out.push(document.createTextNode(chars.slice(at).join("")));
  return out;
}
const EVIDENCE_RETRIES = 30;  // about half a minute of archive lag before the page stops asking
async function loadEvidence(id, attempt = 0) {
  const box = $("d-evidence");
  if (!attempt) box.replaceChildren(el("p", { class: "hint", text: t("loading") }));
  try {
    const res = await fetch(`/api/alerts/${encodeURIComponent(id)}/evidence`, { headers: token() ? { Authorization: `Bearer ${token()}` } : {} });
    if (!res.ok) throw new Error(await res.text());
    const ev = await res.json();
    if (state.selected !== id) return;
    const parts = [];
    if (!ev.content) parts.push(el("p", { class: "hint", text: t("metadataOnly") }));
    const waiting = (ev.pending || []).length > 0 && attempt < EVIDENCE_RETRIES;
    if (waiting) {
      parts.push(el("p", { class: "hint pending", text: t("pendingEvidence") }));
      setTimeout(() => { if (state.selected === id) loadEvidence(id, attempt + 1); }, 1000);
    } else if (!ev.messages.length) parts.push(el("p", { class: "hint", text: t("noEvidence") }));
    for (const m of ev.messages) {
      const head = el("div", { class: "who-line", text: `${fmtTime(m.msgtime, viewerZone)} · ${m.sender} → ${m.roomid || (m.tolist || []).join(", ")} · ${m.msgtype}` });
      const body = ev.content ? el("div", { class: "body" }, ...highlighted(m.content, m.highlights || [])) : el("div", { class: "body hint", text: `${m.length} ${t("chars")}` });
      parts.push(el("div", { class: "msg" + (m.hit ? " hit" : ""), "data-msgid": m.msgid }, head, body));
    }
    if (ev.timeline && ev.timeline.length) {
      parts.push(el("h3", { text: t("timeline") }),
        el("ul", { class: "history" }, ...ev.timeline.map((e) => el("li", { text: `${fmtTime(e.ts, viewerZone)} ${e.kind} ${e.summary || ""}` }))));
    }
    box.replaceChildren(...parts);
  } catch (err) {
    box.replaceChildren(el("p", { class: "error", text: String(err.message || err) }));
  }
}

function send(action, alertId, detail) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) return;
  $("d-error").textContent = "";
  state.ws.send(JSON.stringify({ type: "action", action, alert_id: alertId, detail, request_id: ++state.requests }));
}

// --- applying server messages -----------------------------------------------------------------------
function setRisk(update) {  // the behaviour engine's score; its series is what this page has seen of it
  const prev = state.risk.get(update.employee_id);
  const series = prev ? prev.series.concat([update.score]).slice(-30) : [update.score];
  state.risk.set(update.employee_id, { score: update.score, team: update.team, level: update.level, series });
}
function upsertAlert(alert) {
  const prev = state.alerts.get(alert.alert_id);
  if (prev && (prev.revision || 1) > (alert.revision || 1)) return;
  if (prev && prev.state && !alert.state) alert.state = prev.state;
  state.alerts.set(alert.alert_id, alert);
}
function apply(msg) {
  if (typeof msg.seq === "number") {
    if (state.seq !== null && msg.seq <= state.seq) return;
    state.seq = msg.seq;
  }
  if (msg.type === "alert") {
    const isNew = !state.alerts.has(msg.alert.alert_id);
    upsertAlert(msg.alert);
    scheduleRender();
    if (isNew) requestAnimationFrame(() => {
      const tr = document.querySelector(`tr[data-id="${CSS.escape(msg.alert.alert_id)}"]`);
      // Once: a kept row is moved again on later renders, which would replay the animation.
      if (tr) { tr.classList.add("fresh"); tr.addEventListener("animationend", () => tr.classList.remove("fresh"), { once: true }); }
    });
  } else if (msg.type === "action") {
    const a = state.alerts.get(msg.alert_id);
    if (a) a.state = msg.state;
    if (msg.precision) { const { rule, ...counts } = msg.precision; state.precision[rule] = counts; }
    scheduleRender();
  } else if (msg.type === "silence") {
    state.silences.set(`${msg.silence.target}:${msg.silence.value}`, msg.silence);
    scheduleRender();
  } else if (msg.type === "risk") {
    setRisk(msg);
    scheduleRender();
  }
}

function setConn(on, label) {
  $("conn").className = "dot " + (on ? "on" : "off");
  $("conn-text").textContent = t(label);
  $("conn-text").dataset.i18n = label;
}
// WeCom's OAuth page ends its URL with #wechat_redirect and browsers carry a fragment through redirects.
if (location.hash === "#wechat_redirect") history.replaceState(null, "", location.pathname + location.search);

function token() {
  const fromUrl = new URLSearchParams(location.search).get("token");
  if (fromUrl) {
    sessionStorage.setItem("paodan.token", fromUrl);
    history.replaceState(null, "", location.pathname);  // keep the token out of the address bar and history
  }
  return fromUrl || sessionStorage.getItem("paodan.token");
}
function showSignin(error) {
  $("board").hidden = true;
  $("signin").hidden = false;
  $("signin-error").textContent = error ? t("refused") : "";
}

function connect() {
  const tok = token();  // none: the WeCom sign-in's session cookie goes with the request
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const resume = state.seq !== null && state.epoch ? `&since=${state.seq}&epoch=${encodeURIComponent(state.epoch)}` : "";
  const auth = tok ? `token=${encodeURIComponent(tok)}` : "session=1";
  const ws = new WebSocket(`${proto}//${location.host}/ws?${auth}${resume}`);
  state.ws = ws;
  let opened = false;
  ws.onopen = () => { opened = true; state.retry = 500; setConn(true, "connected"); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type === "hello") {
      state.hello = msg;
      $("signin").hidden = true;
      $("board").hidden = false;
      $("tokens-card").hidden = msg.role !== "admin";
      if (msg.role === "admin") ws.send(JSON.stringify({ type: "action", action: "list_tokens", detail: {} }));
      $("signout").hidden = !!token();
      $("handover-card").hidden = !msg.wecom;
      $("privileges-card").hidden = !(msg.wecom && msg.role === "admin" && !token());
      if (!$("privileges-card").hidden) ws.send(JSON.stringify({ type: "action", action: "list_privileges", detail: {} }));
      if (msg.wecom) ws.send(JSON.stringify({ type: "action", action: "list_handovers", detail: {} }));
      $("case-files-card").hidden = !["compliance", "admin"].includes(msg.role);
      if (!$("case-files-card").hidden) ws.send(JSON.stringify({ type: "action", action: "evidence_requests", detail: {} }));
      renderCounters();
    } else if (msg.type === "snapshot") {
      state.alerts = new Map(msg.alerts.map((a) => [a.alert_id, a]));
      state.silences = new Map(msg.silences.map((s) => [`${s.target}:${s.value}`, s]));
      state.precision = msg.precision || {};
      (msg.risk || []).forEach(setRisk);
      state.seq = msg.seq; state.epoch = msg.epoch;
      $("resync-banner").hidden = !msg.resync;
      scheduleRender();
      const linked = location.hash.match(/^#alert=(.+)$/);  // a WeCom text card links here
      if (linked && state.alerts.has(decodeURIComponent(linked[1]))) openDetail(decodeURIComponent(linked[1]));
    } else if (msg.type === "resync") {  // the live feed is re-reading what Redis lost, or is done
      $("resync-banner").hidden = !msg.resync;
    } else if (msg.type === "snapshot_more") {  // a large snapshot comes in several frames
      for (const a of msg.alerts) state.alerts.set(a.alert_id, a);
      scheduleRender();
    } else if (msg.type === "resume") {
      state.seq = msg.seq; state.epoch = msg.epoch;
      (msg.risk || []).forEach(setRisk);
      scheduleRender();
    } else if (msg.type === "action_result") {
      if (!msg.ok) $("d-error").textContent = msg.message;
      $("d-note").textContent = msg.ok && msg.result ? `${t("wecomDone")} ${wecomSummary(msg.result)}` : "";
      if (msg.tokens) renderTokens(msg.tokens);
      if (msg.handovers) renderHandovers(msg.handovers);
      if (msg.privileges) renderPrivileges(msg);
      if (msg.case_files) renderCaseFiles(msg.case_files);
      if (msg.ok && msg.result && msg.result.case_file && state.ws)  // requested or approved: refresh the list
        state.ws.send(JSON.stringify({ type: "action", action: "evidence_requests", detail: {} }));
      if (msg.ok && msg.result && msg.result.customers && state.ws)  // a hand-over began: refresh the list
        state.ws.send(JSON.stringify({ type: "action", action: "list_handovers", detail: {} }));
    } else {
      apply(msg);
    }
  };
  ws.onclose = (ev) => {
    state.ws = null;
    setConn(false, opened ? "reconnecting" : "disconnected");
    if (!opened || ev.code === 4401) { sessionStorage.removeItem("paodan.token"); return showSignin(!!tok || opened); }
    setTimeout(connect, state.retry);
    state.retry = Math.min(10000, state.retry * 2);
  };
}

function applyLang() {
  document.documentElement.lang = state.lang;
  document.querySelectorAll("[data-i18n]").forEach((node) => { node.textContent = t(node.dataset.i18n); });
  $("lang").textContent = t("langSwitch");
  document.title = t("title");
  renderAll();
}

$("lang").addEventListener("click", () => {
  state.lang = state.lang === "zh-CN" ? "en" : "zh-CN";
  localStorage.setItem("paodan.lang", state.lang);
  applyLang();
});
$("filters").addEventListener("change", (ev) => { state.filters[ev.target.dataset.filter] = ev.target.value; renderAll(); });
$("d-close").addEventListener("click", closeDetail);
$("d-comment-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const text = $("d-comment").value.trim();
  if (!text || !state.selected) return;
  send("comment", state.selected, { text });
  $("d-comment").value = "";
});
$("privilege-request").addEventListener("click", () => {
  const userid = prompt(t("userPrompt"));
  const role = userid && prompt(t("rolePrompt"), "compliance");
  const reason = role && prompt(t("reasonPrompt"));
  if (reason) send("request_privilege", null, { userid, role, reason });
});
$("signin-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const value = $("token-input").value.trim();
  if (!value) return;
  sessionStorage.setItem("paodan.token", value);
  connect();
});
applyLang();
connect();
