window.locatorChoropleth = (function () {
  var C = { ready: null, error: null, map: null, layers: {}, areas: 0 };
  function escapeText(s) {  /* the layer control puts names in as HTML */
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function box(lines) {  /* lines of text, the first in bold: DOM nodes, never HTML */
    var div = document.createElement("div");
    div.className = "locator-popup";
    lines.forEach(function (line, i) {
      var node = document.createElement(i === 0 ? "strong" : "div");
      node.textContent = line;
      div.appendChild(node);
    });
    return div;
  }
  function tip(text) {
    var span = document.createElement("span");
    span.textContent = text;
    return span;
  }
  C.start = function (map, spec) {
    C.map = map;
    try {
      var data = JSON.parse(document.getElementById(spec.element).textContent);
      var overlays = {};
      var areas = L.geoJSON(data.areas, {
        renderer: L.canvas({ padding: 0.3 }),
        style: function (f) {
          return { fillColor: data.colors[f.properties.k], fillOpacity: 0.85,
                   color: data.stroke, weight: data.weight, opacity: 0.9 };
        }
      });
      /* each area carries its values; the lines' words travel once (data.prefixes) */
      areas.bindPopup(function (layer) {
        var v = layer.feature.properties.v;
        return box(data.prefixes.map(function (p, i) { return p + v[i]; })
          .filter(function (line, i) { return line !== "" || i === 0; }));
      }, { maxWidth: 320 });
      areas.bindTooltip(function (layer) {
        var v = layer.feature.properties.v, t = data.tip;
        return tip(t.slice(0, -1).map(function (i) { return v[i]; }).filter(Boolean)
          .join(" · ") + ": " + v[t[t.length - 1]]);
      }, { sticky: true });
      areas.addTo(map);
      C.layers.areas = areas;
      C.areas = areas.getLayers().length;
      overlays[escapeText(data.areasLabel)] = areas;
      data.points.forEach(function (def) {
        var group = L.featureGroup();
        def.items.forEach(function (item) {
          var marker;
          if (def.kind === "site") {
            var label = document.createElement("span");
            label.textContent = item.label;
            marker = L.marker([item.lat, item.lon], {
              title: item.tip, alt: item.tip, zIndexOffset: 1000,
              icon: L.divIcon({ html: label, className: "locator-site " + def.className,
                                iconSize: [24, 24], iconAnchor: [12, 12] })
            });
          } else {
            marker = L.circleMarker([item.lat, item.lon], {
              renderer: L.svg(), radius: 7, color: "#7a0010", weight: 2.5, fillColor: "#ffffff",
              fillOpacity: 0.9, className: def.className
            });
          }
          marker.bindPopup(function () { return box(item.lines); }, { maxWidth: 320 });
          marker.bindTooltip(function () { return tip(item.tip); }, { direction: "top" });
          group.addLayer(marker);
        });
        group.addTo(map);
        C.layers[def.key] = group;
        overlays[escapeText(def.label)] = group;
      });
      L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
      requestAnimationFrame(function () {
        /* the areas fitted beside the legend (added after this script) where the window
           is wide enough */
        var legend = document.querySelector(".locator-legend"), width = map.getSize().x;
        var left = legend && width > 2.5 * legend.offsetWidth ? legend.offsetWidth + 20 : 10;
        if (C.areas) {
          map.fitBounds(areas.getBounds(), { paddingTopLeft: [left, 10],
                                             paddingBottomRight: [10, 10], animate: false });
        }
        /* the canvas is drawn on the next animation frame: ready after it */
        requestAnimationFrame(function () {
          C.ready = performance.now();
          document.documentElement.setAttribute("data-choropleth-ready", "1");
        });
      });
    } catch (exc) {
      C.error = String(exc);
      console.error("the map's areas could not be drawn: " + exc);
    }
  };
  return C;
})();
