// 智能推送 inbox: unread count, pushes and 不再参照 alerts for the judge's pending cases, live.
//
// Self-contained beside app.js (which it does not touch): it reads the same token from the tab's
// sessionStorage, builds its own panel, and follows GET /api/v1/inbox/events (Server-Sent Events,
// read with fetch so that the token goes in the Authorization header as everywhere else).
"use strict";

(() => {
  const API = "/api/v1";
  const TOKEN_KEY = "leian.token";
  const KIND = { results: "首次检索结果", push: "新类案推送", alert: "不再参照提醒" };
  const STATE = { unread: "未读", read: "已读", accepted: "已采纳", dismissed: "已驳回" };
  let started = null; // the token the inbox was started with
  let stream = null; // AbortController of the live stream

  const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  };

  async function call(method, path, body) {
    const headers = { Authorization: "Bearer " + token() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(API + path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new Error(error.message_zh || error.message || ("HTTP " + response.status));
    }
    return data;
  }

  function panel() {
    let section = document.getElementById("inbox");
    if (section) return section;
    section = el("section", "panel");
    section.id = "inbox";
    const head = el("h2", null, "智能推送 ");
    const badge = el("span", "badge", "0");
    badge.id = "inbox-unread";
    badge.title = "未读";
    head.appendChild(badge);
    section.appendChild(head);
    const error = el("div", "error");
    error.id = "inbox-error";
    error.setAttribute("role", "alert");
    error.hidden = true;
    section.appendChild(error);
    const list = el("ul", "inbox-list");
    list.id = "inbox-list";
    section.appendChild(list);
    const detail = el("div", "inbox-detail");
    detail.id = "inbox-detail";
    detail.hidden = true;
    section.appendChild(detail);
    const anchor = document.getElementById("search") || document.querySelector("main > section:last-child");
    anchor.parentNode.insertBefore(section, anchor);
    return section;
  }

  function showError(message) {
    const box = document.getElementById("inbox-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  async function refresh() {
    const data = await call("GET", "/inbox");
    document.getElementById("inbox-unread").textContent = String(data.unread);
    const list = document.getElementById("inbox-list");
    list.replaceChildren();
    for (const item of data.items) {
      const row = el("li", "inbox-item " + item.state);
      row.dataset.id = String(item.id);
      row.appendChild(el("span", "kind", KIND[item.kind] || item.kind));
      row.appendChild(el("span", "case", " " + item.case_number + " "));
      row.appendChild(el("span", "title", item.title || item.why || ""));
      row.appendChild(el("span", "marked", " " + (STATE[item.state] || item.state)));
      const open = el("button", "secondary", "查看");
      open.type = "button";
      open.addEventListener("click", () => openItem(item.id).catch((e) => showError(e.message)));
      row.appendChild(open);
      list.appendChild(row);
    }
    showError("");
  }

  async function openItem(id) {
    const item = await call("GET", "/inbox/" + id);
    const detail = document.getElementById("inbox-detail");
    detail.replaceChildren();
    detail.hidden = false;
    detail.dataset.id = String(id);
    detail.appendChild(el("h3", null, (KIND[item.kind] || item.kind) + "：" + item.case_number));
    if (item.title) detail.appendChild(el("p", null, item.title + (item.citation ? "（" + item.citation + "）" : "")));
    if (item.tier_label) detail.appendChild(el("p", null, "第" + item.tier + "层 " + item.tier_label + " · " + (item.effect || "")));
    else if (item.effect) detail.appendChild(el("p", null, item.effect));
    detail.appendChild(el("p", "hint", item.why || ""));
    if (item.results) {
      const list = el("ol");
      for (const r of item.results) list.appendChild(el("li", null, (r.title || r.doc_id) + " · " + (r.effect || "")));
      detail.appendChild(list);
    }
    if (item.state === "accepted" || item.state === "dismissed") {
      detail.appendChild(el("p", "marked", STATE[item.state] + (item.reason ? "：" + item.reason : "")));
    } else {
      const reason = el("input");
      reason.id = "inbox-reason";
      reason.placeholder = "理由（驳回时必填）";
      detail.appendChild(reason);
      for (const [decision, label] of [["accept", "采纳"], ["dismiss", "驳回"]]) {
        const button = el("button", decision === "accept" ? null : "secondary", label);
        button.type = "button";
        button.id = "inbox-" + decision;
        button.addEventListener("click", () => decide(id, decision, reason.value).catch((e) => showError(e.message)));
        detail.appendChild(button);
      }
    }
    await refresh();
  }

  async function decide(id, decision, reason) {
    await call("POST", "/inbox/" + id + "/decision", { decision, reason });
    await openItem(id);
  }

  // The live stream: every ``inbox`` event (unread count, latest id) refreshes the list.
  async function follow(startedWith) {
    while (started === startedWith && token() === startedWith) {
      stream = new AbortController();
      try {
        const response = await fetch(API + "/inbox/events", {
          headers: { Authorization: "Bearer " + token() }, signal: stream.signal,
        });
        if (!response.ok || !response.body) return;
        const reader = response.body.getReader();
        const decoder = new TextDecoder();
        let buffer = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buffer += decoder.decode(value, { stream: true });
          let cut;
          while ((cut = buffer.indexOf("\n\n")) >= 0) {
            const chunk = buffer.slice(0, cut);
            buffer = buffer.slice(cut + 2);
            if (chunk.split("\n").some((line) => line.startsWith("data:"))) await refresh().catch(() => {});
          }
        }
      } catch (_) {
        // aborted or dropped: reconnect below while the same token is signed in
      }
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }

  async function start() {
    const current = token();
    if (current === started) return;
    if (stream) stream.abort();
    started = current;
    const existing = document.getElementById("inbox");
    if (!current) {
      if (existing) existing.hidden = true;
      return;
    }
    panel().hidden = false;
    try {
      await refresh();
    } catch (e) {
      document.getElementById("inbox").hidden = true; // roles without an inbox (助理, admin)
      return;
    }
    follow(current);
  }

  // app.js owns signing in; the inbox follows the token it stores.
  document.addEventListener("DOMContentLoaded", () => {
    start();
    setInterval(start, 1000);
  });
})();
