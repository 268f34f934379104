window.locatorReview = (function () {
  var R = { ready: null, drawn: 0, error: null, map: null, points: null, layers: {} };
  function decode(b64) {
    var bin = atob(b64), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    var stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
    return new Response(stream).text().then(JSON.parse);
  }
  function escapeText(s) {  /* the layer control puts names in as HTML */
    return String(s).replace(/[&<>"']/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c];
    });
  }
  function radius(style, z) { return style.radius * (z < 8 ? 1 : z < 12 ? 1.4 : 1.9); }
  var PointLayer = L.GridLayer.extend({
    initialize: function (members, style, options) {
      this._members = members;
      this._style = style;
      L.setOptions(this, options);
    },
    createTile: function (coords) {
      var size = this.getTileSize(), dpr = window.devicePixelRatio || 1;
      var tile = L.DomUtil.create("canvas", "locator-review-tile");
      tile.width = size.x * dpr;
      tile.height = size.y * dpr;
      var ctx = tile.getContext("2d"), s = this._style, P = R.points;
      ctx.scale(dpr, dpr);
      var scale = 256 * Math.pow(2, coords.z), r = radius(s, coords.z), pad = r + s.weight + 1;
      var x0 = coords.x * size.x, y0 = coords.y * size.y, m = this._members, n = 0;
      ctx.fillStyle = s.fill || "transparent";
      ctx.lineWidth = s.weight;
      ctx.strokeStyle = s.color;
      function paint() {  /* in batches: a path of tens of thousands of arcs is not drawn */
        if (s.fill) { ctx.globalAlpha = s.fillOpacity; ctx.fill(); }
        if (s.weight) { ctx.globalAlpha = 1; ctx.stroke(); }
        ctx.beginPath();
      }
      ctx.beginPath();
      for (var k = 0; k < m.length; k++) {
        var i = m[k], x = P.mx[i] * scale - x0, y = P.my[i] * scale - y0;
        if (x < -pad || y < -pad || x > size.x + pad || y > size.y + pad) continue;
        ctx.moveTo(x + r, y);
        ctx.arc(x, y, r, 0, 2 * Math.PI);
        if (++n % 1000 === 0) paint();
      }
      paint();
      R.drawn += n;
      return tile;
    }
  });
  function line(box, tag, text, cls) {
    var node = document.createElement(tag);
    if (cls) node.className = cls;
    node.textContent = text;
    box.appendChild(node);
    return node;
  }
  function popupFor(i) {
    var D = R.data, c = D.columns, box = document.createElement("div");
    var kind = D.kinds[c.kind[i]], agency = D.agencies[c.agency[i]], hours = D.hours[c.hours[i]];
    var source = D.sources[c.source[i]], status = D.statuses[c.status[i]];
    box.className = "locator-popup";
    line(box, "strong", c.name_th[i] || c.name_en[i]);
    if (c.name_en[i]) line(box, "div", c.name_en[i]);
    line(box, "div", "ประเภท · Kind: " + kind[1] + " · " + kind[2]);
    line(box, "div", "หน่วยงาน · Agency: " + agency[0] + (agency[1] ? " · " + agency[1] : ""));
    if (c.address_th[i]) line(box, "div", "ที่อยู่ · Address: " + c.address_th[i]);
    if (c.address_en[i]) line(box, "div", c.address_en[i]);
    line(box, "div", "โทร · Phone: " + (c.phones[i] || "-"));
    line(box, "div", "เวลาทำการ · Hours: " + hours);
    if (status[0] !== "active") {
      line(box, "div", "สถานะ · Status: " + status[1] + " · " + status[2]);
    }
    line(box, "div", "ที่มา · Source: " + source[1] + " · " + source[2],
      "locator-provenance " + (source[0] === "generated" ? "generated" : "real"));
    var flags = c.flags[i];
    if (flags && flags.length) {
      line(box, "div", "ต้องตรวจสอบ · Needs review: " +
        flags.map(function (f) { return D.flags[f]; }).join(", "), "locator-flags");
      flags.forEach(function (f, k) {
        var said = c.flag_details[i][k];
        if (said) line(box, "div", D.flags[f] + ": " + said, "locator-flag-detail");
      });
    }
    line(box, "div", "id " + c.id[i] + " · " + (c.lat[i] / 1e5).toFixed(5) + ", " +
      (c.lon[i] / 1e5).toFixed(5), "locator-muted");
    return box;
  }
  function nearest(map, latlng) {
    var z = map.getZoom(), scale = 256 * Math.pow(2, z), P = R.points;
    var p = map.project(latlng, z), best = -1, bestD = Infinity;
    R.order.forEach(function (entry) {
      if (best >= 0 || !map.hasLayer(entry.layer)) return;  /* the top layer wins */
      var reach = radius(entry.style, z) + 4, m = entry.members;
      for (var k = 0; k < m.length; k++) {
        var i = m[k], dx = P.mx[i] * scale - p.x, dy = P.my[i] * scale - p.y;
        var d = dx * dx + dy * dy;
        if (d < bestD && d <= reach * reach) { bestD = d; best = i; }
      }
    });
    return best;
  }
  R.open = function (i) {
    var c = R.data.columns, at = [c.lat[i] / 1e5, c.lon[i] / 1e5];
    L.popup({ maxWidth: 340 }).setLatLng(at).setContent(popupFor(i)).openOn(R.map);
  };
  R.indexOf = function (id) { return R.data.columns.id.indexOf(id); };
  R.start = function (map, spec) {
    R.map = map;
    var source = document.getElementById(spec.element);
    decode(source.textContent.trim()).then(function (data) {
      R.data = data;
      var c = data.columns, n = c.id.length;
      var mx = new Float64Array(n), my = new Float64Array(n);
      for (var i = 0; i < n; i++) {  /* Web Mercator, 0..1: Leaflet's pixels / (256 * 2^z) */
        var lat = c.lat[i] / 1e5 * Math.PI / 180;
        mx[i] = (c.lon[i] / 1e5 + 180) / 360;
        my[i] = (1 - Math.log(Math.tan(lat) + 1 / Math.cos(lat)) / Math.PI) / 2;
      }
      R.points = { mx: mx, my: my };
      var overlays = {}, pending = 0;
      R.order = [];
      spec.layers.forEach(function (def, z) {
        var members = def.flag === null
          ? c.source.reduce(function (acc, s, i) {
              if (def.sources.indexOf(s) >= 0) acc.push(i);
              return acc;
            }, [])
          : c.flags.reduce(function (acc, f, i) {
              if (f && f.indexOf(def.flag) >= 0) acc.push(i);
              return acc;
            }, []);
        members = Int32Array.from(members);
        var layer = new PointLayer(members, def.style, { zIndex: 10 + z });
        R.layers[def.key] = layer;
        R.order.unshift({ layer: layer, members: members, style: def.style });
        overlays[escapeText(def.label + " (" + members.length.toLocaleString("en") + ")")] = layer;
        pending++;
        layer.once("load", function () {
          if (--pending === 0) {
            R.ready = performance.now();
            document.documentElement.setAttribute("data-review-ready", "1");
          }
        });
        layer.addTo(map);
      });
      L.control.layers(null, overlays, { collapsed: false, position: "topright" }).addTo(map);
      map.on("click", function (e) {
        var started = performance.now(), i = nearest(map, e.latlng);
        if (i >= 0) R.open(i);
        R.clickMs = performance.now() - started;  /* finding the point and its popup */
      });
      if (pending === 0) R.ready = performance.now();
    }).catch(function (exc) {
      R.error = String(exc);
      console.error("the review map's points could not be read: " + exc);
    });
  };
  return R;
})();
