// The cashier's screen: GET /api/events pushes the session and the till's
// status (Server-Sent Events); every event redraws from that state alone,
// so a missed one costs nothing. Text goes in with textContent only: item
// names come from the catalogue, never as markup.
"use strict";
(function () {
  var $ = function (id) { return document.getElementById(id); };
  var MARK = { allow: "✔", block: "✘", hold: "？", flag: "!" };
  var WORD = {
    allow: ["允许", "allowed"], block: ["拦截 不可医保", "blocked: not on insurance"],
    hold: ["待药师审核", "awaiting the pharmacist"], flag: ["提示", "flagged"]
  };

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }
  // bi writes Chinese with the English small beside it.
  function bi(parent, zh, en) {
    parent.appendChild(document.createTextNode(zh + " "));
    if (en) parent.appendChild(el("span", "en", en));
    return parent;
  }
  function yuan(fen) {
    var s = fen < 0 ? "-" : "";
    fen = Math.abs(fen);
    return s + "¥" + Math.floor(fen / 100) + "." + String(fen % 100).padStart(2, "0");
  }

  function card(c) {
    var box = $("card");
    box.textContent = "";
    box.className = "cardholder";
    if (!c) { bi(box, "请刷医保卡", "Insert the card"); return; }
    if (c.type === "voucher") bi(box, "医保电子凭证", "e-voucher");
    else box.appendChild(document.createTextNode(c.name || "—"));
    box.appendChild(el("span", "no", c.no));
    if (c.region) box.appendChild(el("span", "en", " " + c.region));
    if (!c.present) { box.className += " out"; box.appendChild(document.createTextNode(" ")); bi(box, "卡已拔出", "card out"); }
  }

  function line(l, i) {
    var released = l.decision === "hold" && l.overridden;
    var li = el("li", "line " + l.decision + (released ? " released" : ""));
    li.dataset.line = i;
    li.dataset.decision = l.decision;
    li.dataset.rule = l.rule || "";
    li.appendChild(el("span", "mark", released ? "✔" : (MARK[l.decision] || "?")));
    var name = el("span", "name", l.name || l.barcode);
    if (l.manual) bi(name, " ⌨", "keyed in");
    li.appendChild(name);
    li.appendChild(el("span", "price", "×" + l.qty + "  " + yuan(l.price_fen)));
    var why = el("span", "reason");
    if (released) bi(why, "药师已放行", "released by the pharmacist");
    else if (l.reason_zh) bi(why, l.reason_zh, l.reason_en);
    else {
      var w = WORD[l.decision] || [l.decision, ""];
      bi(why, w[0] + (l.days ? " · " + l.days + " 天" : ""), w[1] + (l.days ? " · " + l.days + " days" : ""));
    }
    if (l.rule && l.decision !== "allow") why.appendChild(el("span", "rule", " " + l.rule));
    li.appendChild(why);
    return li;
  }

  function session(v) {
    card(v.card);
    var n = $("notice");
    n.textContent = "";
    n.hidden = !v.notice;
    if (v.notice) bi(n, v.notice.zh, v.notice.en);

    var ol = $("lines"), held = [];
    ol.textContent = "";
    (v.lines || []).forEach(function (l, i) {
      ol.appendChild(line(l, i));
      if (l.decision === "hold" && !l.overridden) held.push([i, l]);
    });
    $("empty").hidden = (v.lines || []).length > 0;

    var h = $("held");
    h.textContent = "";
    h.hidden = held.length === 0;
    if (held.length) {
      bi(h.appendChild(el("h2")), "请药师审核 " + held.length + " 项", "awaiting the pharmacist");
      var ul = h.appendChild(el("ul"));
      held.forEach(function (h) { // the reason names the item
        bi(ul.appendChild(el("li")), "第 " + (h[0] + 1) + " 行：" + h[1].reason_zh, h[1].reason_en);
      });
    }
    $("t-ins").textContent = yuan(v.totals.insurance_fen);
    $("t-cash").textContent = yuan(v.totals.cash_fen);
    $("t-total").textContent = yuan(v.totals.total_fen);
  }

  function status(s) {
    ["card", "scanner"].forEach(function (d) {
      var st = (s.devices && s.devices[d] && s.devices[d].state) || "missing";
      var e = $("dev-" + d);
      e.className = "dev " + st;
      e.title = st;
    });
    var a = $("alarms");
    a.textContent = "";
    a.hidden = !(s.alarms && s.alarms.length);
    (s.alarms || []).forEach(function (x) { a.appendChild(el("div", "", "⚠ " + x.detail)); });
  }

  function live(on) { $("live").className = "dev " + (on ? "connected" : "disconnected"); }

  // reopenAfter: EventSource reconnects by itself after a network error,
  // but gives up for good on an HTTP error (503 while too many live
  // screens are open): then the page opens a new one after a pause.
  var reopenAfter = 5000;
  function connect() {
    var es = new EventSource("/api/events");
    es.addEventListener("session", function (e) { session(JSON.parse(e.data)); });
    es.addEventListener("status", function (e) { status(JSON.parse(e.data)); });
    es.onopen = function () { live(true); };
    es.onerror = function () {
      live(false);
      if (es.readyState === EventSource.CLOSED) setTimeout(connect, reopenAfter);
    };
  }
  connect();
})();
