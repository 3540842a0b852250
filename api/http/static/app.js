// The judge's page: vanilla JS, same origin only (the CSP forbids anything else).
// Every text from the server goes through textContent, never innerHTML: judgments are untrusted text.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "leian.token";

function $(id) { return document.getElementById(id); }

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === "string" ? document.createTextNode(child) : child);
  }
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY) || ""; }

function showError(box, error) {
  box.hidden = false;
  box.textContent = error;
}

// The judge reads Chinese only: the server's message_zh, else a Chinese text by status; never the
// English message_en or the browser's own (English) network error.
const STATUS_ZH = {
  401: "登录已失效，请重新登录", 403: "无权进行此操作", 404: "未找到", 409: "操作与当前状态冲突",
  413: "提交的内容过长", 422: "填写的内容有误", 429: "操作过于频繁，请稍后再试",
  500: "服务器内部错误", 501: "服务器不支持该功能", 503: "服务暂不可用，请稍后再试",
};

function zhError(status, data) {
  const err = data && data.error ? data.error : null;
  if (err && err.message_zh) return new Error(err.message_zh);
  return new Error((STATUS_ZH[status] || "请求失败") + "（" + status + "）");
}

async function send(path, options) {
  try {
    return await fetch(API + path, options);
  } catch (e) {
    throw new Error("无法连接检索服务，请检查网络后重试");
  }
}

async function api(method, path, body) {
  const headers = { "Authorization": "Bearer " + token() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await send(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw zhError(response.status, data);
  return data;
}

// A file the server makes (a report, a summary, an export): fetched with the token, saved under the
// name the server gives in Content-Disposition. Returns that name.
async function download(path, fallbackName) {
  const response = await send(path, { headers: { "Authorization": "Bearer " + token() } });
  if (!response.ok) {
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    throw zhError(response.status, data);
  }
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const name = match ? match[1] : fallbackName;
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
  return name;
}

const CASEWORK_ROLES = ["承办法官", "法官助理", "院长/庭长"];
const SUMMARY_ROLES = ["审判管理", "院长/庭长", "admin"];
const EXPORT_ROLES = ["审判管理", "admin"];

function splitList(text) {
  return text.split(/[,，;；、\n]/).map((s) => s.trim()).filter((s) => s);
}

// ---------------------------------------------------------------- sign in

async function signIn(event) {
  if (event) event.preventDefault();
  const box = $("signin-error");
  box.hidden = true;
  const value = $("token").value.trim();
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  if (!token()) return;
  try {
    const me = await api("GET", "/me");
    $("who").textContent = me.name + "（" + me.role + "，" + (me.court || "全部法院") + "）";
    $("token").value = "";
    $("signout-button").hidden = false;
    // Each role sees what it may do: casework roles search and mark; 审判管理 reads the summary and exports.
    $("search").hidden = !CASEWORK_ROLES.includes(me.role);
    $("management").hidden = !SUMMARY_ROLES.includes(me.role);
    $("export-actions").hidden = !EXPORT_ROLES.includes(me.role);
    // 审判管理 has no search form: the page opens on this month's summary.
    if (!$("management").hidden && $("search").hidden) showSummary();
  } catch (e) {
    sessionStorage.removeItem(TOKEN_KEY);
    showError(box, "登录失败：" + e.message);
  }
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  $("who").textContent = "未登录";
  $("signout-button").hidden = true;
  for (const id of ["search", "results", "case", "management"]) $(id).hidden = true;
}

// ---------------------------------------------------------------- search

function searchBody(form) {
  const data = new FormData(form);
  const methods = data.getAll("method");
  const parties = (data.get("parties") || "").split("\n").map((line) => line.trim()).filter((l) => l)
    .map((line) => {
      const [name, role] = line.split("/");
      return role ? { name: name.trim(), role: role.trim() } : { name: name.trim() };
    });
  const body = {
    case_number: data.get("case_number").trim(),
    trigger: data.get("trigger"),
    facts: data.get("facts"),
    dispute_focus: (data.get("dispute_focus") || "").trim() || null,
    charges: splitList(data.get("charges") || ""),
    articles: splitList(data.get("articles") || ""),
    keywords: { must: splitList(data.get("must") || ""), must_not: splitList(data.get("must_not") || "") },
    parties,
    filters: { court_levels: data.getAll("level") },
    k: parseInt(data.get("k") || "10", 10),
  };
  const note = (data.get("trigger_note") || "").trim();
  if (note) body.trigger_note = note;
  const seed = (data.get("seed_case") || "").trim();
  if (seed) body.seed_case = seed;
  if (methods.length) body.methods = methods;
  if (data.get("date_from")) body.filters.date_from = data.get("date_from");
  if (data.get("date_to")) body.filters.date_to = data.get("date_to");
  return body;
}

// 检索情形 has no default (a default would be counted in the Art. 13 summary as if chosen): the
// browser refuses the form without one, with this Chinese message in its bubble and on the page.
const TRIGGER_MISSING = "请选择检索情形（指导意见第二条），未选择不能检索";

function triggerInvalid() {
  $("trigger").setCustomValidity(TRIGGER_MISSING);
  showError($("search-error"), TRIGGER_MISSING);
}

function triggerChosen() {
  $("trigger").setCustomValidity("");
  if ($("search-error").textContent === TRIGGER_MISSING) $("search-error").hidden = true;
}

async function runSearch(event) {
  event.preventDefault();
  const box = $("search-error");
  box.hidden = true;
  if (!$("trigger").value) {  // also when a script submits the form without the browser's check
    triggerInvalid();
    return;
  }
  const button = $("search-button");
  button.disabled = true;
  try {
    const result = await api("POST", "/searches", searchBody(event.target));
    renderResults(result);
  } catch (e) {
    $("results").hidden = true;
    showError(box, e.message);
  } finally {
    button.disabled = false;
  }
}

function highlighted(passage) {
  // Offsets are relative to passage.text and count code points (Python), not UTF-16 units (JS):
  // Array.from splits by code point, so rare characters outside the BMP do not shift the marks.
  const chars = Array.from(passage.text);
  const node = el("div", { class: "passage" });
  let at = 0;
  const spans = passage.highlights.slice().sort((a, b) => a[0] - b[0]);
  for (const [start, end] of spans) {
    if (start < at) continue;
    node.append(document.createTextNode(chars.slice(at, start).join("")));
    node.append(el("mark", { text: chars.slice(start, end).join("") }));
    at = end;
  }
  node.append(document.createTextNode(chars.slice(at).join("")));
  return node;
}

function effectBadge(effect) {
  const cls = effect.includes("应当参照") ? "effect must" : effect === "不再参照" ? "effect withdrawn" : "effect";
  return el("span", { class: cls, text: effect });
}

function markForm(searchId, result) {
  const name = "mark-" + searchId + "-" + result.rank;
  const status = el("span", { class: "marked" });
  const reason = el("input", { type: "text", placeholder: "理由（必填）", "aria-label": "标注理由" });
  const similar = el("input", { type: "radio", name, value: "类案" });
  const notSimilar = el("input", { type: "radio", name, value: "非类案" });
  const submit = el("button", { type: "submit", text: "提交标注" });
  const form = el("form", { class: "mark-form" },
    el("label", {}, similar, " 类案"), el("label", {}, notSimilar, " 非类案"), reason, " ", submit, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const label = similar.checked ? "类案" : notSimilar.checked ? "非类案" : "";
    if (!label || !reason.value.trim()) {
      status.textContent = "请选择类案/非类案并填写理由";
      return;
    }
    submit.disabled = true;
    try {
      const out = await api("POST", "/searches/" + searchId + "/decisions", {
        marks: [{ doc_id: result.doc_id, label, reason: reason.value.trim() }],
      });
      status.textContent = "已标注为" + label + "（审计记录 " + out.audit.seq + "）";
    } catch (e) {
      status.textContent = "标注失败：" + e.message;
    } finally {
      submit.disabled = false;
    }
  });
  return form;
}

function resultCard(searchId, result) {
  const court = result.court ? result.court.name : "";
  const open = el("button", { type: "button", class: "link", text: result.title || result.doc_id });
  open.addEventListener("click", () => openCase(result.doc_id));
  const card = el("div", { class: "result" },
    el("div", { class: "title" }, String(result.rank) + ". ", open, effectBadge(result.effect)),
    el("div", { class: "meta", text: [result.citation || result.case_number, court, result.decision_date,
      (result.causes || []).join("、"), result.authority.kind, result.recent ? "近三年" : ""]
      .filter((s) => s).join(" | ") }));
  if (result.citable === false) {
    card.append(el("div", { class: "uncitable",
      text: "不可引用（缺少" + (result.uncitable_missing || []).join("、") + "）" }));
  }
  if (result.explanation) {
    card.append(el("div", { class: "summary", text: "相似点：" + result.explanation.summary }));
    // Art. 6 比对 asks for what differs as well as what is the same; null is "not stated", not "absent".
    const differences = result.explanation.differences || [];
    if (differences.length) {
      card.append(el("div", { class: "differences", text: "不同之处：" + differences.map((d) =>
        d.aspect + "（待决案件：" + (d.query_value || "未见") + "；本案例：" + (d.case_value || "未见") + "）")
        .join("；") }));
    }
    for (const passage of result.explanation.passages) card.append(highlighted(passage));
  }
  if (result.holding) card.append(el("div", { class: "meta", text: "裁判要点：" + result.holding }));
  card.append(markForm(searchId, result));
  card.append(draftForm(searchId, result));
  return card;
}

// 文书辅助 (Art. 10): when a party cites this case, a draft paragraph answering it, from the comparison
// and the judge's mark. A draft to edit, never filed; the server records that it was made.
const CITERS = ["公诉机关", "辩护人", "被告人", "原告", "被告", "上诉人", "被上诉人", "申请人", "被申请人", "第三人"];

function draftForm(searchId, result) {
  const citedBy = el("select", { "aria-label": "援引方" },
    ...CITERS.map((c) => el("option", { value: c, text: c })));
  const make = el("button", { type: "button", class: "secondary", text: "生成回应援引的说理草稿" });
  const status = el("span", { class: "meta" });
  const text = el("textarea", { class: "draft", rows: "5", hidden: "" });
  make.addEventListener("click", async () => {
    make.disabled = true;
    status.textContent = "";
    try {
      const out = await api("POST", "/searches/" + searchId + "/drafts", { doc_id: result.doc_id, cited_by: citedBy.value });
      text.value = out.draft;
      text.hidden = false;
      status.textContent = out.notice;
    } catch (e) {
      status.textContent = "未能生成草稿：" + e.message;
    } finally {
      make.disabled = false;
    }
  });
  return el("div", { class: "draft-form" }, "文书辅助：援引方 ", citedBy, " ", make, " ", status, text);
}

function relatedList(container, related) {
  container.replaceChildren();
  if (!related.length) {
    container.append(el("p", { class: "meta", text: "未发现关联案件" }));
    return;
  }
  for (const link of related) {
    const open = el("button", { type: "button", class: "link", text: link.case_number || link.doc_id });
    open.addEventListener("click", () => openCase(link.doc_id));
    container.append(el("div", { class: "related-item" },
      el("strong", { text: "［" + link.kind + "］" }), open, " ", link.title || "",
      link.withdrawn ? " （已撤回）" : "", el("div", { class: "meta", text: link.reason })));
  }
}

let currentSearchId = null;

function predictedCauses(result) {
  // Causes the judge did not give were predicted: shown for the judge to confirm or correct.
  const box = $("predicted");
  box.replaceChildren();
  const predicted = result.predicted_causes || [];
  box.hidden = !result.causes_predicted || !predicted.length;
  if (box.hidden) return;
  box.append("系统预测的罪名/案由（请确认或更正后重新检索）：");
  for (const cause of predicted) {
    const choose = el("button", { type: "button", class: "secondary",
      text: cause.name + "（" + Math.round(cause.share * 100) + "%）" });
    choose.addEventListener("click", () => {
      $("charges").value = cause.name;
      $("charges").focus();
    });
    box.append(choose);
  }
}

async function downloadReport(event) {
  const format = event.target.dataset.format;
  const status = $("report-status");
  if (!format || currentSearchId === null) return;
  status.textContent = "正在生成报告…";
  try {
    const name = await download("/searches/" + currentSearchId + "/report?format=" + format,
      "leian-report-" + currentSearchId + "." + format);
    status.textContent = "已下载 " + name;
  } catch (e) {
    status.textContent = "报告生成失败：" + e.message;
  }
}

// The same names as the form's method checkboxes (index.html): the receipt shows no English codes.
function methodName(code) {
  const box = document.querySelector("input[name=method][value='" + code + "']");
  return box && box.parentElement ? box.parentElement.textContent.trim() : code;
}

function renderResults(result) {
  $("results").hidden = false;
  currentSearchId = result.search_id;
  $("report-status").textContent = "";
  predictedCauses(result);
  $("receipt").textContent = "检索编号 " + result.search_id + "；审计记录哈希 " + result.audit.leaf_hash +
    "；检索方法 " + result.methods.map(methodName).join("、") + "；罪名/案由 " + (result.causes_used.join("、") || "-") +
    (result.causes_predicted ? "（预测）" : "") + "；索引 " + result.index.build_id;
  const tiers = $("tiers");
  tiers.replaceChildren();
  if (!result.tiers.length) tiers.append(el("p", { class: "none-found", text: "未检索到结果" }));
  // Art. 4 tiers 1–4 are always listed, an empty one as 未检索到 (the report does the same); 其他 when found.
  const groups = new Map(result.tiers.map((group) => [group.tier, group]));
  const labels = result.tier_labels || {};
  const shown = [1, 2, 3, 4, ...result.tiers.map((g) => g.tier).filter((t) => t > 4)];
  for (const tier of shown) {
    const group = groups.get(tier);
    const label = group ? group.label : labels[String(tier)] || "";
    const section = el("div", { class: "tier", "data-tier": String(tier) },
      el("h3", { text: "第" + tier + "层 " + label }));
    if (!group || !group.results.length) {
      section.append(el("p", { class: "none-found", text: "未检索到该层级的案例" }));
    } else {
      for (const item of group.results) section.append(resultCard(result.search_id, item));
    }
    tiers.append(section);
  }
  relatedList($("related"), result.related);
}

// ---------------------------------------------------------------- 审判管理: Art. 13 summary, export

function figuresTable(rows) {
  const table = el("table", { class: "figures" });
  for (const [name, value] of rows) table.append(el("tr", {}, el("th", { text: name }), el("td", { text: value })));
  return table;
}

function counts(map) {
  const entries = Object.entries(map || {});
  return entries.length ? entries.map(([k, v]) => k + " " + v).join("；") : "-";
}

function percent(share) {
  return share === null || share === undefined ? "-" : (share * 100).toFixed(1) + "%";
}

function summaryQuery(format) {
  return "/audit/summary?from=" + $("summary_from").value + "&to=" + $("summary_to").value + "&format=" + format;
}

// A horizontal bar chart of <meter> elements: native bars, no drawing library, nothing fetched, and no
// inline style (the CSP allows none); app.css gives them their length and colour.
function barChart(title, rows) {
  const max = Math.max(1, ...rows.map(([, n]) => n));
  const chart = el("div", { class: "bars", role: "figure", "aria-label": title },
    el("div", { class: "bars-title", text: title }));
  for (const [label, n] of rows) {
    chart.append(el("div", { class: "bar-row" },
      el("span", { class: "bar-label", text: label }),
      el("meter", { class: "bar", min: "0", max: String(max), value: String(n), "aria-label": label }),
      el("span", { class: "bar-value", text: String(n) })));
  }
  return chart;
}

function casesTable(cases) {
  const table = el("table", { class: "figures cases" },
    el("tr", {}, ...["待决案件案号", "案件类型", "检索次数", "检索情形", "检索人", "首次/末次检索",
      "检得第一、二层级", "已标注/类案", "报告数"].map((h) => el("th", { text: h }))));
  for (const c of cases) {
    table.append(el("tr", {},
      el("td", { text: c.case_number }), el("td", { text: c.case_type }),
      el("td", { text: String(c.searches) }), el("td", { text: c.triggers.join("、") }),
      el("td", { text: c.users.join("、") }),
      el("td", { text: c.first_day === c.last_day ? c.first_day : c.first_day + " 至 " + c.last_day }),
      el("td", { text: c.found_tier_1_2 ? "是" : "否" }),
      el("td", { text: c.marked_results + " / " + c.marked_similar }),
      el("td", { text: String(c.reports) })));
  }
  return table;
}

async function showSummary(event) {
  if (event) event.preventDefault();
  const box = $("summary-error");
  box.hidden = true;
  const out = $("summary");
  const chart = $("summary-chart");
  const list = $("summary-cases");
  chart.hidden = list.hidden = true;
  if (!$("summary-form").checkValidity()) {
    showError(box, "请填写统计期间的起止日期（YYYY-MM-DD）");
    return;
  }
  out.replaceChildren(el("p", { text: "正在核验审计日志并统计…" }));
  try {
    const s = await api("GET", summaryQuery("json"));
    out.replaceChildren(el("p", { class: "meta", text: (s.court || "全部法院") + "，" + s.from + " 至 " + s.to + "（北京时间）" }),
      figuresTable([
        ["强制检索次数", String(s.searches)],
        ["检索涉及案件数（不同案号）", String(s.cases)],
        ["按检索情形（次）", counts(s.by_trigger)],
        ["按案件类型（次）", counts(s.by_case_type)],
        ["按案件类型（件）", counts(s.cases_by_case_type)],
        ["按检索人（次）", counts(s.by_user)],
        ["检得指导性案例或最高法案例的检索", s.searches_with_tier_1_2 + "（" + percent(s.tier_1_2_share) + "）"],
        ["检得指导性案例或最高法案例的案件", String(s.cases_with_tier_1_2)],
        ["已标注结果 / 其中类案", s.marked_results + " / " + s.marked_similar + "（" + percent(s.similar_share) + "）"],
        ["生成类案检索报告（份 / 涉及案件）", s.reports + " / " + s.cases_with_report],
      ]));
    chart.replaceChildren(
      barChart("每日检索次数", s.per_day.map((d) => [d.date.slice(5), d.searches])),
      barChart("按检索情形（次）", Object.entries(s.by_trigger)));
    chart.hidden = false;
    list.replaceChildren(el("h3", { text: "按案件（" + s.cases + " 件）" }),
      s.per_case.length ? casesTable(s.per_case) : el("p", { class: "none-found", text: "本期间未检索案件" }));
    list.hidden = false;
  } catch (e) {
    out.replaceChildren();
    showError(box, e.message);
  }
}

async function downloadSummary(event) {
  const format = event.target.dataset.summary;
  if (!format) return;
  const box = $("summary-error");
  box.hidden = true;
  if (!$("summary-form").reportValidity()) return;
  try {
    await download(summaryQuery(format), "summary." + format);
  } catch (e) {
    showError(box, e.message);
  }
}

async function downloadExport(event) {
  const format = event.target.dataset.export;
  if (!format) return;
  const status = $("export-status");
  try {
    status.textContent = "已导出 " + await download("/audit/export?format=" + format, "audit." + format);
  } catch (e) {
    status.textContent = "导出失败：" + e.message;
  }
}

// ---------------------------------------------------------------- case view

function sectionText(title, text) {
  if (!text) return null;
  return el("div", {}, el("h3", { text: title }), el("div", { class: "section-text", text }));
}

async function openCase(docId) {
  const panel = $("case");
  const body = $("case-body");
  panel.hidden = false;
  body.replaceChildren(el("p", { text: "加载中…" }));
  try {
    const record = await api("GET", "/cases/" + encodeURIComponent(docId));
    const doc = record.document;
    $("case-title").textContent = doc.title || doc.doc_id;
    body.replaceChildren();
    if (record.withdrawn) {
      body.append(el("div", { class: "banner",
        text: "该案例已撤回/不再参照" + (doc.authority.withdrawn_reason ? "：" + doc.authority.withdrawn_reason : "") }));
    }
    body.append(el("div", { class: "meta", text: [doc.case_number, doc.court ? doc.court.name : "",
      doc.decision_date, (doc.causes || []).join("、"), "第" + record.tier + "层 " + record.tier_label]
      .filter((s) => s).join(" | ") }, effectBadge(record.effect)));
    if (doc.articles && doc.articles.length) body.append(el("p", { text: "援引法条：" + doc.articles.join("；") }));
    for (const part of [sectionText("裁判要点", doc.holding), sectionText("基本案情", doc.sections.facts),
      sectionText("裁判理由", doc.sections.reasoning), sectionText("裁判结果", doc.sections.result)]) {
      if (part) body.append(part);
    }
    const related = el("div");
    const load = el("button", { type: "button", class: "secondary", text: "查看关联案件" });
    load.addEventListener("click", async () => {
      try {
        const out = await api("GET", "/cases/" + encodeURIComponent(docId) + "/related");
        relatedList(related, out.related);
      } catch (e) {
        related.textContent = e.message;
      }
    });
    body.append(load, related);
    panel.scrollIntoView();
  } catch (e) {
    body.replaceChildren(el("p", { class: "error", text: e.message }));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("signin-form").addEventListener("submit", signIn);
  $("signout-button").addEventListener("click", signOut);
  $("search-form").addEventListener("submit", runSearch);
  $("trigger").addEventListener("invalid", triggerInvalid);
  $("trigger").addEventListener("change", triggerChosen);
  $("case-close").addEventListener("click", () => { $("case").hidden = true; });
  $("report-actions").addEventListener("click", downloadReport);
  $("summary-form").addEventListener("submit", showSummary);
  $("summary-form").addEventListener("click", downloadSummary);
  $("export-actions").addEventListener("click", downloadExport);
  // The summary counts days in Beijing time, whatever the workstation's clock zone is.
  const today = new Intl.DateTimeFormat("en-CA", { timeZone: "Asia/Shanghai" }).format(new Date());
  $("summary_from").value = today.slice(0, 8) + "01";
  $("summary_to").value = today;
  if (token()) signIn();
});
