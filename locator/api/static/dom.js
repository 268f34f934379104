/* DOM helpers shared by the citizen page (app.js) and the agency page (agency.js).
   Both pages build every node with these: text goes in as text (textContent, text
   nodes), never as HTML, which is what their Content-Security-Policy and the tests that
   scan them for HTML sinks rely on. Loaded before either page's script. */
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

  window.locatorDom = { $: $, h: h, append: append, clear: clear, bi: bi, str: str };
})();
