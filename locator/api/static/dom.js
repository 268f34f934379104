/* What the citizen page (app.js) and the agency page (agency.js) share, loaded before
   either page's script: the DOM helpers, the status line, and reading the API's
   answers and errors. Both pages build every node with these: text goes in as text
   (textContent, text nodes), never as HTML, which is what their Content-Security-Policy
   and the tests that scan them for HTML sinks rely on. */
(function () {
  "use strict";

  function $(id) {
    return document.getElementById(id);
  }

  /** Create an element; attrs.text sets textContent, children are nodes or strings. */
  function h(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (key) {
        var value = attrs[key];
        if (value === null || value === undefined || value === false) return;
        if (key === "text") node.textContent = String(value);
        else if (key === "class") node.className = value;
        else node.setAttribute(key, value === true ? "" : String(value));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(node, arguments[i]);
    return node;
  }

  /** Append children (nodes, strings, arrays of them; null is skipped) to node. */
  function append(node) {
    for (var i = 1; i < arguments.length; i++) {
      var child = arguments[i];
      if (child === null || child === undefined || child === false) continue;
      if (Array.isArray(child)) {
        child.forEach(function (c) { append(node, c); });
      } else if (child instanceof Node) {
        node.appendChild(child);
      } else {
        node.appendChild(document.createTextNode(String(child)));
      }
    }
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  /** Thai text with its English beside it. */
  function bi(th, en, cls) {
    return h("span", { class: cls || null }, th || "", en ? " " : null,
      en ? h("span", { class: "en", text: en }) : null);
  }

  function str(value) {
    return typeof value === "string" ? value : value === null || value === undefined ? "" : String(value);
  }

  /** The status line under the search or the sign-in: kind is "busy", "error", ... */
  function setStatus(kind, th, en) {
    var box = $("status");
    clear(box);
    box.className = "status" + (kind ? " status-" + kind : "");
    if (!th && !en) return;
    if (kind === "busy") box.appendChild(h("span", { class: "spinner", "aria-hidden": "true" }));
    box.appendChild(bi(th, en));
  }

  /** An API call that failed: the server's error code and message (what to fix). */
  function ApiError(status, code, message, details, headers) {
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.message = message;
    this.details = details && typeof details === "object" ? details : {};
    this.headers = headers || null;
  }
  ApiError.prototype = Object.create(Error.prototype);

  function unreachable(url) {
    return new ApiError(0, "network",
      "ติดต่อเซิร์ฟเวอร์ไม่ได้ · Cannot reach the server (" + url.pathname + ")");
  }

  /** An answer's JSON body, or an ApiError with the server's own words (the one error
   *  shape: {"error": {"code", "message", "details"}}). */
  function readAnswer(resp, url) {
    return resp.text().then(function (text) {
      var json = null;
      try { json = text ? JSON.parse(text) : null; } catch (e) { json = null; }
      if (!resp.ok) {
        var e = json && json.error ? json.error : {};
        var msg = typeof e.message === "string" && e.message
          ? e.message
          : "HTTP " + resp.status + " " + (resp.statusText || "") + " (" + url.pathname + ")";
        throw new ApiError(resp.status, str(e.code) || "http_" + resp.status, msg, e.details, resp.headers);
      }
      if (json === null) {
        throw new ApiError(resp.status, "bad_response",
          "คำตอบจากเซิร์ฟเวอร์อ่านไม่ได้ · The server's answer is not JSON (" + url.pathname + ")");
      }
      return json;
    });
  }

  /** A kind's Thai and English name from the page's labels, or its code spelt out. */
  function kindLabel(labels, kind) {
    var k = labels.kinds[kind];
    return k ? bi(k.name_th, k.name_en) : bi(str(kind).replace(/_/g, " "), null);
  }

  /** The offline background both maps fall back to: province outlines on a canvas,
   *  filled paper-white (Leaflet is loaded before this file). */
  function provinceLayer() {
    return L.geoJSON(null, {
      renderer: L.canvas({ padding: 0.4 }),
      interactive: false,
      style: function () {
        return { color: "#6b7a90", weight: 0.8, opacity: 0.9, fillColor: "#fbfaf5", fillOpacity: 1 };
      }
    });
  }

  window.locatorDom = {
    $: $, h: h, append: append, clear: clear, bi: bi, str: str,
    setStatus: setStatus, ApiError: ApiError, unreachable: unreachable,
    readAnswer: readAnswer, kindLabel: kindLabel, provinceLayer: provinceLayer
  };
})();
