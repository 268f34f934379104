window.locatorMaps = {
  /* a popup (and a tooltip) from lines of text: DOM nodes, never HTML strings */
  popup: function (layer, lines, tooltip) {
    var box = document.createElement("div");
    box.className = "locator-popup";
    lines.forEach(function (line, i) {
      var node = document.createElement(i === 0 ? "strong" : "div");
      node.textContent = line;
      box.appendChild(node);
    });
    layer.bindPopup(box, { maxWidth: 320 });
    if (tooltip) {
      var tip = document.createElement("span");
      tip.textContent = tooltip;
      layer.bindTooltip(tip, { direction: "top" });
    }
  },
  /* a box in a corner of the map: a title, lines, a key of line styles, a warning */
  legend: function (map, spec) {
    var Legend = L.Control.extend({
      onAdd: function () {
        var box = L.DomUtil.create("div", "locator-legend");
        var title = L.DomUtil.create("h1", "", box);
        title.textContent = spec.title;
        spec.lines.forEach(function (line) {
          L.DomUtil.create("p", "", box).textContent = line;
        });
        spec.key.forEach(function (item) {
          var p = L.DomUtil.create("p", "", box);
          L.DomUtil.create("span", "locator-key " + item[0], p);
          p.appendChild(document.createTextNode(item[1]));
        });
        if (spec.warning) {
          var warn = L.DomUtil.create("p", "locator-warning", box);
          warn.setAttribute("role", "note");
          warn.textContent = spec.warning;
        }
        L.DomEvent.disableClickPropagation(box);
        return box;
      }
    });
    new Legend({ position: spec.position }).addTo(map);
  },
  /* a background (GeoJSON) drawn under everything else */
  lines: function (map, data, options) {
    L.geoJSON(data, options).addTo(map);
  }
};
