// The cashier's screen: GET /api/events pushes the session and the till's
// status (Server-Sent Events); every event redraws from that state alone,
// so a missed one costs nothing. Text goes in with textContent only: item
// names come from the catalogue, never as markup.
//
// The lines scroll between the banners and the totals; the line just
// added or changed is scrolled into view, for the cashier looks at what
// was scanned last. A device that is not connected is a banner of its
// own, and the prompts that need it say it is gone.
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

  // DOWN says what a device not connected means for the cashier: the
  // banner, and the prompt that needs the device. Disconnected is a fault
  // (configured, not there); missing is a till set up without the device,
  // which still cannot do what the device does.
  var DOWN = {
    scanner: {
      disconnected: { banner: ["扫码枪未连接，请检查连接线", "Scanner not connected: check the cable"], prompt: ["扫码枪未连接，无法扫码", "Scanner not connected: cannot scan"] },
      missing: { banner: ["本收银台未配置扫码枪", "No scanner configured on this till"], prompt: ["未配置扫码枪，无法扫码", "No scanner configured: cannot scan"] }
    },
    card: {
      disconnected: { banner: ["读卡器未连接，请检查连接线", "Card reader not connected: check the cable"], prompt: ["读卡器未连接，无法读卡", "Card reader not connected: cannot read cards"] },
      missing: { banner: ["本收银台未配置读卡器", "No card reader configured on this till"], prompt: ["未配置读卡器，无法读卡", "No card reader configured: cannot read cards"] }
    }
  };
  // ALARM_DEVICE: the till's alarm for each device not connected, which
  // the banner already says; the dashboard shows its detail.
  var ALARM_DEVICE = { device_card: "card", device_scanner: "scanner" };
  // down holds the state of each device not connected (disconnected or
  // missing), from the last status; lastCard redraws the card prompt when
  // the card reader comes or goes.
  var down = {};
  var lastCard = null;

  function card(c) {
    lastCard = c;
    var box = $("card");
    box.textContent = "";
    box.className = "cardholder";
    if (!c && down.card) {
      var p = DOWN.card[down.card].prompt;
      box.className += " out";
      bi(box, p[0], p[1]);
      return;
    }
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
    var name = el("span", "name");
    name.appendChild(el("span", "no", String(i + 1))); // the held banner names lines by number
    name.appendChild(document.createTextNode(l.name || l.barcode));
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

  // key is what the cashier sees change on a line.
  function key(l) { return [l.barcode, l.qty, l.decision, l.rule, l.overridden, l.reason_zh].join("\u0000"); }
  var shown = [];

  // changedLine is the last line added or changed since the last redraw,
  // or -1.
  function changedLine(lines) {
    for (var i = lines.length - 1; i >= 0; i--) {
      if (i >= shown.length || shown[i] !== key(lines[i])) return i;
    }
    return -1;
  }

  // reveal scrolls line i fully into view between the banners and the
  // totals (main is the only part that scrolls).
  function reveal(i) {
    var li = $("lines").children[i];
    if (li) li.scrollIntoView({ block: "nearest" });
  }

  // keepScroll runs fn, which may redraw the lines or grow and shrink
  // the banners above them, and keeps the lines where the cashier had
  // them: the newest in view if it was.
  function keepScroll(fn) {
    var m = $("main");
    var top = m.scrollTop, atBottom = top + m.clientHeight >= m.scrollHeight - 2;
    fn();
    m.scrollTop = atBottom ? m.scrollHeight : top;
  }

  // heldBanner names the held lines by their number: the item and the
  // reason are on the line itself, once.
  function heldBanner(held) {
    var h = $("held");
    h.textContent = "";
    h.hidden = held.length === 0;
    if (!held.length) return;
    var nos = held.map(function (x) { return x[0] + 1; });
    bi(h.appendChild(el("b")), "请药师审核 " + held.length + " 项：第 " + nos.join("、") + " 行", "awaiting the pharmacist: line" + (nos.length > 1 ? "s " : " ") + nos.join(", "));
  }

  function session(v) {
    var lines = v.lines || [];
    var at = changedLine(lines);
    keepScroll(function () { redraw(v, lines); });
    shown = lines.map(key);
    if (at >= 0) reveal(at);
  }

  // duty shows the pharmacist signed in on duty: with nobody, prescription
  // drugs wait (pharmacist_absent), which the cashier should see coming.
  function duty(p) {
    var d = $("duty");
    d.textContent = "";
    d.className = "dev duty" + (p ? "" : " off");
    if (p) { bi(d, "药师 " + p.name, "on duty"); return; }
    bi(d, "无药师在岗", "no pharmacist");
  }

  function redraw(v, lines) {
    card(v.card);
    duty(v.pharmacist);
    var n = $("notice");
    n.textContent = "";
    n.hidden = !v.notice;
    if (v.notice) bi(n, v.notice.zh, v.notice.en);

    var ol = $("lines"), held = [];
    ol.textContent = "";
    lines.forEach(function (l, i) {
      ol.appendChild(line(l, i));
      if (l.decision === "hold" && !l.overridden) held.push([i, l]);
    });
    $("empty").hidden = lines.length > 0;
    heldBanner(held);
    $("t-ins").textContent = yuan(v.totals.insurance_fen);
    $("t-cash").textContent = yuan(v.totals.cash_fen);
    $("t-total").textContent = yuan(v.totals.total_fen);
  }

  // devicesDown shows a banner per device not connected and turns the
  // prompts that need it into saying so.
  function devicesDown(s) {
    down = {};
    ["scanner", "card"].forEach(function (d) {
      var st = s.devices && s.devices[d] && s.devices[d].state;
      if (st === "disconnected" || st === "missing") down[d] = st;
    });
    var b = $("devdown");
    b.textContent = "";
    b.hidden = !down.scanner && !down.card;
    ["scanner", "card"].forEach(function (d) {
      if (!down[d]) return;
      var w = DOWN[d][down[d]].banner;
      var row = b.appendChild(el("div", "down " + down[d]));
      row.dataset.device = d;
      row.dataset.state = down[d];
      bi(row, "⚠ " + w[0], w[1]);
    });
    var e = $("empty");
    e.textContent = "";
    var p = down.scanner ? DOWN.scanner[down.scanner].prompt : ["等待扫码", "Waiting for a scan"];
    bi(e, p[0], p[1]);
    card(lastCard);
  }

  function status(s) {
    keepScroll(function () { devicesDown(s); alarms(s); });
    ["card", "scanner"].forEach(function (d) {
      var st = (s.devices && s.devices[d] && s.devices[d].state) || "missing";
      var e = $("dev-" + d);
      e.className = "dev " + st;
      e.title = st;
    });
  }

  function alarms(s) {
    var a = $("alarms");
    a.textContent = "";
    var list = (s.alarms || []).filter(function (x) { return !down[ALARM_DEVICE[x.kind]]; });
    a.hidden = list.length === 0;
    list.forEach(function (x) { a.appendChild(el("div", "", "⚠ " + x.detail)); });
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
