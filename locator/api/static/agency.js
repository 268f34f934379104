/*
 * locator: the agency page. Agency staff sign in with their API key, see their points
 * and the pin check's flags on a map, move pins (the pin check's verdict shown before
 * saving), edit names, phones, hours, accessibility, status and each service's No-Copy
 * status, read a point's history, and import or export the whole set.
 *
 * Safety rules of this file:
 * - text from the API (names, messages, history values) is only ever put into the page
 *   with textContent / createTextNode / DOM nodes; no HTML strings are built from data,
 *   and the page's Content-Security-Policy allows scripts from this origin only;
 * - the API key lives in this tab's sessionStorage and travels only in the
 *   Authorization header: never in an address (a download is a fetch and a Blob).
 */
(function () {
  "use strict";

  var KEY_STORE = "locator.agency.key";
  var THAILAND = [[5.6, 97.3], [20.5, 105.7]];
  var LIST_LIMIT = 200; // list items drawn at once; the map shows every point
  var COORD_DIGITS = 6; // about 0.1 m: finer than any pin

  // the registry's words for codes (point sources, pin-check flags), given by the page
  var VOCABULARY = JSON.parse(document.body.getAttribute("data-vocabulary") || "{}");
  var FLAG_WORDS = VOCABULARY.qa_flags;
  var PROVENANCE_WORDS = {
    location: ["ตำแหน่ง", "location"],
    name: ["ชื่อ", "name"],
    address: ["ที่อยู่", "address"],
    phones: ["เบอร์โทร", "phones"],
    hours: ["เวลาทำการ", "hours"],
    services: ["บริการ", "services"],
    no_copy: ["สถานะไม่ต้องใช้สำเนา", "No-Copy status"]
  };
  var SOURCES = VOCABULARY.sources;
  var STATUSES = {
    active: ["เปิดให้บริการ", "Active"],
    temporarily_closed: ["ปิดชั่วคราว", "Temporarily closed"],
    closed: ["ปิดถาวร", "Closed"]
  };
  var ROLES = {
    editor: ["ผู้แก้ไข", "editor"],
    agency_admin: ["ผู้ดูแลหน่วยงาน", "agency admin"],
    platform_admin: ["ผู้ดูแลระบบ", "platform admin"]
  };
  var ACTIONS = {
    create: ["สร้าง", "created"],
    update: ["แก้ไข", "changed"],
    offer: ["เพิ่มบริการ", "service added"],
    override: ["ยืนยันแม้ตรวจไม่ผ่าน", "pin check overridden"],
    close: ["ปิด", "closed"]
  };
  var FIELDS = {
    lat: ["ละติจูด", "latitude"],
    lon: ["ลองจิจูด", "longitude"],
    name_th: ["ชื่อภาษาไทย", "Thai name"],
    name_en: ["ชื่อภาษาอังกฤษ", "English name"],
    tambon_code: ["รหัสตำบล", "tambon code"],
    postcode: ["รหัสไปรษณีย์", "postcode"],
    phones: ["เบอร์โทร", "phones"],
    opening_hours: ["เวลาทำการ", "opening hours"],
    wheelchair: ["รถเข็นเข้าได้", "wheelchair access"],
    priority_lane: ["ช่องทางพิเศษ", "priority lane"],
    gecc: ["ศูนย์ราชการสะดวก", "GECC"],
    status: ["สถานะ", "status"],
    pin_check: ["การตรวจหมุด", "pin check"]
  };
  var IMPORT_TYPES = {
    csv: "text/csv",
    geojson: "application/geo+json",
    json: "application/geo+json",
    gpkg: "application/geopackage+sqlite3"
  };

  var body = document.body;
  var state = {
    key: null,
    me: null,
    features: [], // the agency's points (GeoJSON features)
    byId: {},
    overridden: {}, // flags this tab's own overrides left, by point id (until the list reloads)
    markers: {},
    labels: { kinds: {}, documents: {} },
    catalogue: null, // GET /v1/services, once
    provinces: null, // promise of {code: {name_th, name_en}}
    point: null, // the chosen point's public detail
    etag: null,
    pending: null, // a moved pin not yet saved: {lat, lon}
    importFile: null, // the file whose dry run passed
    selectSeq: 0,
    checkSeq: 0,
    pointsSeq: 0
  };
  var labelsReady = null; // names of kinds and documents (never rejects: codes are the fallback)

  // ------------------------------------------------------------------ DOM helpers
  // DOM helpers shared with the other page (dom.js, loaded first)
  var dom = window.locatorDom;
  var $ = dom.$, h = dom.h, append = dom.append, clear = dom.clear, bi = dom.bi, str = dom.str;
  var setStatus = dom.setStatus, ApiError = dom.ApiError;

  function words(table, key) {
    var w = table[key];
    return w ? bi(w[0], w[1]) : bi(str(key).replace(/_/g, " "), null);
  }

  var uid = 0;
  function nextId(prefix) {
    uid += 1;
    return prefix + "-" + uid;
  }

  // ------------------------------------------------------------------ status area
  /** An error, in Thai and English, with the server's own words (what to fix) below. */
  function showError(err, th, en, box) {
    if (err && err.signedOut) return; // the sign-in form already says why
    var message = err && err.message ? err.message : String(err);
    var target = box || $("status");
    clear(target);
    if (!box) target.className = "status status-error";
    var status = err && err.status ? " (HTTP " + err.status + ")" : "";
    target.appendChild(h("strong", null, bi(th || "เกิดข้อผิดพลาด", (en || "Something went wrong") + status)));
    target.appendChild(h("span", { class: "status-message", text: message }));
    if (window.console && console.warn) console.warn("locator:", message);
    return target;
  }

  // ------------------------------------------------------------------ API
  /**
   * One call of the API with the signed-in key. opts: method, params, json (a body to
   * send as JSON), body + type (a file), etag (If-Match), as ("json" | "blob"), key
   * (another key: the sign-in's). Resolves {data, headers}; a 401 signs out.
   */
  function api(path, opts) {
    opts = opts || {};
    var url = new URL(path, window.location.origin);
    if (opts.params) {
      Object.keys(opts.params).forEach(function (k) {
        if (opts.params[k] !== null && opts.params[k] !== undefined) url.searchParams.set(k, opts.params[k]);
      });
    }
    var key = opts.key || state.key;
    var headers = {};
    if (opts.as !== "blob") headers.Accept = "application/json"; // a download takes any type
    if (key) headers.Authorization = "Bearer " + key;
    if (opts.etag) headers["If-Match"] = opts.etag;
    var init = { method: opts.method || "GET", headers: headers, cache: "no-cache", credentials: "omit" };
    if (opts.json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(opts.json);
    } else if (opts.body !== undefined) {
      headers["Content-Type"] = opts.type || "application/octet-stream";
      init.body = opts.body;
    }
    return fetch(url.toString(), init)
      .catch(function () {
        throw dom.unreachable(url);
      })
      .then(function (resp) {
        if (resp.ok && opts.as === "blob") {
          return resp.blob().then(function (blob) { return { data: blob, headers: resp.headers }; });
        }
        return dom.readAnswer(resp, url).then(function (json) {
          return { data: json, headers: resp.headers };
        }, function (err) {
          if (err instanceof ApiError && err.status === 401 && !opts.key && state.key) {
            signOut(["กุญแจใช้ไม่ได้แล้ว (ถูกยกเลิกหรือเปลี่ยนใหม่) กรุณาเข้าสู่ระบบอีกครั้ง",
              "Your key is no longer accepted (revoked or rotated): please sign in again"], err);
            err.signedOut = true;
          }
          throw err;
        });
      });
  }

  // ------------------------------------------------------------------ labels, catalogue, provinces
  function loadLabels() {
    return api("/app/labels.json").then(function (r) {
      if (r.data && r.data.kinds) state.labels.kinds = r.data.kinds;
      if (r.data && r.data.documents) state.labels.documents = r.data.documents;
    }).catch(function () { /* names fall back to codes */ });
  }

  function kindLabel(kind) {
    return dom.kindLabel(state.labels, kind);
  }

  function loadCatalogue() {
    if (!state.catalogue) {
      state.catalogue = api("/v1/services").then(function (r) {
        return Array.isArray(r.data.services) ? r.data.services : [];
      });
      state.catalogue.catch(function () { state.catalogue = null; });
    }
    return state.catalogue;
  }

  /** Province names by code, from the outlines (also the offline background). */
  function provinceNames() {
    if (!state.provinces) {
      state.provinces = loadOutlines().then(function () {
        var names = {};
        provinces.eachLayer(function (layer) {
          var p = layer.feature && layer.feature.properties;
          if (p && p.code) names[p.code] = { name_th: str(p.name_th), name_en: str(p.name_en) };
        });
        return names;
      }).catch(function () { return {}; });
    }
    return state.provinces;
  }

  function provinceOf(names, tambon) {
    var code = str(tambon).slice(0, 2);
    if (!code) return null;
    var p = names[code];
    return p ? { code: code, th: "จังหวัด" + p.name_th, en: p.name_en + " province" }
      : { code: code, th: "จังหวัดรหัส " + code, en: "province " + code };
  }

  // ------------------------------------------------------------------ the map
  var map = L.map("map", {
    minZoom: 5,
    maxZoom: 19,
    zoomSnap: 0.5,
    zoomControl: false,
    attributionControl: false,
    keyboard: true
  });
  map.fitBounds(THAILAND);
  L.control.zoom({ zoomInTitle: "ซูมเข้า · Zoom in", zoomOutTitle: "ซูมออก · Zoom out" }).addTo(map);
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  // thousands of points: one canvas, circle markers, no DOM marker but the chosen pin
  var canvas = L.canvas({ padding: 0.3, tolerance: 4 });
  var pointsLayer = L.layerGroup().addTo(map);
  var editLayer = L.layerGroup().addTo(map);

  // Street tiles when they load; else the province outlines, served by this server.
  var TILE_URL = body.getAttribute("data-tile-url") || "";
  var TILE_CREDIT = body.getAttribute("data-tile-attribution") || "";
  var tiles = TILE_URL ? L.tileLayer(TILE_URL, { maxZoom: 19 }) : null;
  var provinces = dom.provinceLayer();
  var outlines = null;
  function loadOutlines() {
    if (!outlines) {
      outlines = api("/v1/areas/province").then(function (r) {
        provinces.addData(r.data);
        body.setAttribute("data-provinces", String(provinces.getLayers().length));
      });
      outlines.catch(function () {
        outlines = null;
        body.setAttribute("data-provinces", "error");
      });
    }
    return outlines;
  }

  var credits = h("div", { class: "leaflet-control credits" });
  var Credits = L.Control.extend({ onAdd: function () { return credits; } });
  new Credits({ position: "bottomright" }).addTo(map);

  function showBackground(which) {
    clear(credits);
    if (which === "tiles" && tiles) {
      if (map.hasLayer(provinces)) map.removeLayer(provinces);
      tiles.addTo(map);
      append(credits, TILE_CREDIT);
    } else {
      if (tiles && map.hasLayer(tiles)) map.removeLayer(tiles);
      provinces.addTo(map);
      provinces.bringToBack();
      loadOutlines();
      body.setAttribute("data-basemap", "offline");
      append(credits, bi("โหลดแผนที่ถนนไม่ได้", "Street map unavailable"), " · Natural Earth");
    }
  }
  if (tiles) {
    var tileWatch = { loaded: 0, failed: 0 };
    tiles.on("tileload", function () {
      tileWatch.loaded++;
      body.setAttribute("data-basemap", "tiles");
    });
    tiles.on("tileerror", function () {
      tileWatch.failed++;
      if (!tileWatch.loaded && tileWatch.failed >= 3) showBackground("offline");
    });
    tiles.on("load", function () {
      if (!tileWatch.loaded && map.hasLayer(tiles)) showBackground("offline");
    });
  }
  showBackground(tiles && navigator.onLine !== false ? "tiles" : "offline");

  // the legend: what the dots mean (DOM nodes)
  var legend = h("div", { class: "leaflet-control legend", "aria-hidden": "true" },
    h("div", null, h("span", { class: "swatch swatch-point" }), bi("จุดบริการ", "point")),
    h("div", null, h("span", { class: "swatch swatch-generated" }), bi("ข้อมูลจำลอง", "generated")),
    h("div", null, h("span", { class: "swatch swatch-flagged" }), bi("มีธงตรวจสอบ", "QA flag")));
  var Legend = L.Control.extend({ onAdd: function () { return legend; } });
  new Legend({ position: "topright" }).addTo(map);

  /** A list property of the export: a JSON list, or the flat files' ';'/','-joined text. */
  function asList(value) {
    if (Array.isArray(value)) return value;
    if (typeof value === "string" && value) return value.split(/[;,]/).map(function (x) { return x.trim(); }).filter(Boolean);
    return [];
  }

  function featureFlags(f) {
    return asList(f && f.properties ? f.properties.qa_flags : null);
  }

  /** A point's unresolved QA flags: the list's, and those an override here just left. */
  function pointFlags(id) {
    var flags = featureFlags(state.byId[id]).slice();
    (state.overridden[id] || []).forEach(function (flag) {
      if (flags.indexOf(flag) < 0) flags.push(flag);
    });
    return flags;
  }

  function pointStyle(f) {
    var p = f.properties || {};
    var flagged = featureFlags(f).length > 0;
    if (flagged) {
      return { renderer: canvas, radius: 7, weight: 2, color: "#7a1010", fillColor: "#e03131", fillOpacity: 0.95 };
    }
    if (p.source === "generated") {
      return { renderer: canvas, radius: 4.5, weight: 1.5, color: "#5a3d8a", fillColor: "#ffffff", fillOpacity: 0.9 };
    }
    return { renderer: canvas, radius: 5, weight: 1, color: "#ffffff", fillColor: "#1f5fbf", fillOpacity: 0.95 };
  }

  function drawPoints() {
    pointsLayer.clearLayers();
    state.markers = {};
    var flaggedLast = state.features.slice().sort(function (a, b) {
      return featureFlags(a).length - featureFlags(b).length; // flags drawn on top
    });
    flaggedLast.forEach(function (f) {
      var c = f.geometry && f.geometry.coordinates;
      if (!Array.isArray(c) || c.length < 2) return;
      var p = f.properties || {};
      var marker = L.circleMarker([c[1], c[0]], pointStyle(f));
      var tip = h("span", { class: "tip" }, h("strong", { text: str(p.name_th) }), h("br"),
        h("span", { class: "en", text: str(p.name_en) }),
        featureFlags(f).length ? [h("br"), h("span", { class: "tip-flag", text: featureFlags(f).join(", ") })] : null,
        p.source === "generated" ? [h("br"), bi("ข้อมูลจำลอง", "generated")] : null);
      marker.bindTooltip(tip, { direction: "top", offset: [0, -6] });
      marker.on("click", function () { selectPoint(p.id); });
      marker.addTo(pointsLayer);
      state.markers[p.id] = marker;
    });
    body.setAttribute("data-points", String(state.features.length));
  }

  // ------------------------------------------------------------------ sign in / out
  function showSignIn() {
    $("signin").hidden = false;
    $("who").hidden = true;
    $("list-view").hidden = true;
    $("details-view").hidden = true;
    body.setAttribute("data-state", "signed-out");
  }

  function signIn(key) {
    setStatus("busy", "กำลังตรวจกุญแจ…", "Checking the key…");
    $("signin-go").disabled = true;
    return api("/v1/me", { key: key }).then(function (r) {
      state.key = key;
      try { window.sessionStorage.setItem(KEY_STORE, key); } catch (e) { /* private mode: this page only */ }
      $("api-key").value = "";
      $("api-key").removeAttribute("aria-invalid");
      signedIn(r.data);
    }).catch(function (err) {
      try { window.sessionStorage.removeItem(KEY_STORE); } catch (e) { /* nothing kept */ }
      showSignIn();
      body.setAttribute("data-ready", "");
      if (err.status === 401) {
        $("api-key").setAttribute("aria-invalid", "true");
        showError(err, "กุญแจนี้ใช้ไม่ได้", "This key is not accepted");
      } else {
        showError(err, "เข้าสู่ระบบไม่ได้", "Could not sign in");
      }
      $("api-key").focus();
    }).then(function () {
      $("signin-go").disabled = false;
    });
  }

  function signedIn(me) {
    state.me = me;
    $("signin").hidden = true;
    var who = $("who-text");
    clear(who);
    var role = ROLES[me.role] || [str(me.role), str(me.role)];
    append(who,
      h("p", { class: "who-name" }, h("strong", { id: "who-username", text: str(me.username) }),
        " · ", bi(role[0], role[1], "who-role")),
      me.agency
        ? h("p", { class: "who-agency", "data-code": str(me.agency.code) },
          h("span", { class: "agency-th", text: str(me.agency.name_th) }),
          h("span", { class: "en agency-en", text: str(me.agency.name_en) }),
          h("span", { class: "muted agency-code", text: str(me.agency.code) }))
        : h("p", { class: "who-agency" }, bi("ไม่สังกัดหน่วยงาน (ผู้ดูแลระบบ)", "No agency (platform admin)")));
    $("who").hidden = false;
    $("list-view").hidden = false;
    $("details-view").hidden = true;
    $("bulk").hidden = !me.agency;
    body.setAttribute("data-state", "signed-in");
    var loading = me.agency ? loadPoints() : Promise.resolve();
    if (!me.agency) {
      setStatus("info", "บัญชีนี้ไม่สังกัดหน่วยงาน: เปิดจุดบริการตามรหัส",
        "This account belongs to no agency: open a point by its id");
    }
    return loading.then(function () {
      body.setAttribute("data-ready", "");
      var wanted = pointFromHash();
      if (wanted !== null) selectPoint(wanted);
    });
  }

  /** Forget the key and everything it showed; why: [Thai, English] (or none). */
  function signOut(why, err) {
    state.key = null;
    state.me = null;
    state.features = [];
    state.byId = {};
    state.overridden = {};
    state.point = null;
    state.etag = null;
    state.pending = null;
    state.importFile = null;
    state.selectSeq++;
    try { window.sessionStorage.removeItem(KEY_STORE); } catch (e) { /* nothing kept */ }
    pointsLayer.clearLayers();
    editLayer.clearLayers();
    clear($("points"));
    clear($("details"));
    clear($("import-report"));
    clear($("summary"));
    $("count").textContent = "";
    $("import-form").reset();
    $("import-go").disabled = true;
    setHash(null);
    showSignIn();
    if (why && err) showError(err, why[0], why[1]);
    else if (why) setStatus("info", why[0], why[1]);
    else setStatus("ok", "ออกจากระบบแล้ว กุญแจถูกลบออกจากแท็บนี้", "Signed out: the key is gone from this tab");
    $("api-key").focus();
  }

  // ------------------------------------------------------------------ the agency's points
  function loadPoints() {
    var seq = ++state.pointsSeq;
    var code = state.me.agency.code;
    setStatus("busy", "กำลังโหลดจุดบริการของหน่วยงาน…", "Loading your agency's points…");
    $("points").setAttribute("aria-busy", "true");
    return api("/v1/agencies/" + encodeURIComponent(code) + "/points", { params: { format: "geojson" } })
      .then(function (r) {
        if (seq !== state.pointsSeq) return;
        var features = r.data && Array.isArray(r.data.features) ? r.data.features : [];
        state.features = features;
        state.byId = {};
        state.overridden = {};
        features.forEach(function (f) { if (f.properties) state.byId[f.properties.id] = f; });
        drawPoints();
        renderList();
        fitPoints();
        var flagged = features.filter(function (f) { return featureFlags(f).length; }).length;
        setStatus("ok", "จุดบริการ " + features.length.toLocaleString("en-US") + " แห่ง มีธงตรวจสอบ " + flagged + " แห่ง",
          features.length.toLocaleString("en-US") + " points, " + flagged + " with a QA flag");
      })
      .catch(function (err) {
        if (seq !== state.pointsSeq) return;
        body.setAttribute("data-points", "error");
        showError(err, "โหลดจุดบริการของหน่วยงานไม่ได้", "Could not load your agency's points");
      })
      .then(function () { $("points").removeAttribute("aria-busy"); });
  }

  function fitPoints() {
    var bounds = L.latLngBounds([]);
    state.features.forEach(function (f) {
      var c = f.geometry && f.geometry.coordinates;
      if (Array.isArray(c)) bounds.extend([c[1], c[0]]);
    });
    // no animation: a point opened at once (a link, the id box) must not race it
    if (bounds.isValid()) map.fitBounds(bounds, { padding: [30, 30], maxZoom: 14, animate: false });
  }

  function sourceBadge(source) {
    return source === "generated"
      ? h("span", { class: "badge badge-generated", title: "ไม่ใช่สำนักงานจริง · not a real office" },
        bi("ข้อมูลจำลอง", "Generated"))
      : null;
  }

  function syntheticBadge(value) {
    var fields = asList(value);
    if (!fields.length) return null;
    var th = fields.map(function (f) { return (PROVENANCE_WORDS[f] || [f])[0]; }).join(", ");
    var en = fields.map(function (f) { return (PROVENANCE_WORDS[f] || [f, f])[1]; }).join(", ");
    return h("span", { class: "badge badge-synthetic", "data-synthetic": fields.join(","),
      title: "ข้อมูลจำลอง: " + th + " · generated: " + en },
    bi("จำลอง: " + th, "generated: " + en));
  }

  function flagBadges(flags) {
    return flags.map(function (flag) {
      var w = FLAG_WORDS[flag] || [flag, flag];
      return h("span", { class: "badge badge-flag", "data-flag": flag }, "⚑ ", bi(w[0], w[1]));
    });
  }

  function renderList() {
    var list = $("points");
    clear(list);
    var q = $("filter").value.trim().toLowerCase();
    var flaggedOnly = $("flagged-only").checked;
    var matches = state.features.filter(function (f) {
      var p = f.properties || {};
      if (flaggedOnly && !featureFlags(f).length) return false;
      if (!q) return true;
      return str(p.name_th).toLowerCase().indexOf(q) >= 0 || str(p.name_en).toLowerCase().indexOf(q) >= 0 ||
        String(p.id) === q || str(p.external_ref).toLowerCase() === q;
    });
    matches.sort(function (a, b) {
      var fa = featureFlags(a).length ? 0 : 1;
      var fb = featureFlags(b).length ? 0 : 1;
      return fa - fb || str(a.properties.name_th).localeCompare(str(b.properties.name_th), "th");
    });
    matches.slice(0, LIST_LIMIT).forEach(function (f) { list.appendChild(listItem(f)); });
    var total = state.features.length;
    var flagged = state.features.filter(function (f) { return featureFlags(f).length; }).length;
    var generated = state.features.filter(function (f) { return f.properties && f.properties.source === "generated"; }).length;
    $("count").textContent = "(" + total.toLocaleString("en-US") + ")";
    var summary = $("summary");
    clear(summary);
    append(summary,
      h("span", { class: "sum sum-flagged", "data-count": String(flagged) },
        bi("มีธงตรวจสอบ " + flagged + " แห่ง", flagged + " QA-flagged")),
      " · ",
      h("span", { class: "sum sum-generated", "data-count": String(generated) },
        bi("ข้อมูลจำลอง " + generated + " แห่ง", generated + " generated")));
    var note = $("list-note");
    clear(note);
    if (matches.length > LIST_LIMIT) {
      append(note, bi("แสดง " + LIST_LIMIT + " จาก " + matches.length + " แห่ง พิมพ์ชื่อเพื่อกรอง",
        "Showing " + LIST_LIMIT + " of " + matches.length + ": type a name to narrow"));
    } else if (!matches.length && total) {
      append(note, bi("ไม่มีจุดบริการที่ตรงกับตัวกรอง", "No point matches the filter"));
    }
  }

  function listItem(f) {
    var p = f.properties || {};
    var flags = featureFlags(f);
    var button = h("button", { type: "button", class: "result-main" },
      h("span", { class: "num" + (flags.length ? " num-flagged" : ""), text: flags.length ? "⚑" : "•", "aria-hidden": "true" }),
      h("span", { class: "result-body" },
        h("span", { class: "name-th", text: str(p.name_th) }),
        h("span", { class: "name-en", text: str(p.name_en) }),
        h("span", { class: "meta" }, h("span", { class: "pid", text: "#" + str(p.id) }), kindLabel(p.kind)),
        h("span", { class: "badges" }, flagBadges(flags), sourceBadge(p.source),
          p.source === "generated" ? null : syntheticBadge(p.synthetic))));
    button.addEventListener("click", function () { selectPoint(p.id); });
    return h("li", { class: "result" + (state.point && state.point.id === p.id ? " selected" : ""),
      "data-id": str(p.id), "data-flags": flags.join(",") }, button);
  }

  // ------------------------------------------------------------------ the chosen point
  function pointFromHash() {
    var m = /(?:^#|&)point=([0-9]{1,18})(?:&|$)/.exec(window.location.hash);
    return m ? Number(m[1]) : null;
  }

  function setHash(id) {
    var url = new URL(window.location.href);
    url.hash = id === null || id === undefined ? "" : "point=" + id;
    try { window.history.replaceState(null, "", url.toString()); } catch (e) { /* file:// */ }
  }

  function showList() {
    state.selectSeq++;
    state.point = null;
    state.pending = null;
    editLayer.clearLayers();
    $("details-view").hidden = true;
    $("list-view").hidden = false;
    setHash(null);
    renderList();
    body.setAttribute("data-state", "signed-in");
  }

  /** Open a point: its public detail (with its ETag) and, as the key's own, its history. */
  function selectPoint(id) {
    if (!state.key) return Promise.resolve();
    var seq = ++state.selectSeq;
    state.point = null;
    state.pending = null;
    editLayer.clearLayers();
    $("list-view").hidden = true;
    $("details-view").hidden = false;
    var box = $("details");
    clear(box);
    box.appendChild(h("p", { class: "loading" }, bi("กำลังโหลดจุดบริการ…", "Loading the point…")));
    setHash(id);
    body.setAttribute("data-state", "point-loading");
    var path = "/v1/points/" + encodeURIComponent(String(id));
    // the history answers only for the key's own agency: another's point is a 404 there
    return Promise.all([api(path), api(path + "/history"), labelsReady]).then(function (all) {
      if (seq !== state.selectSeq) return;
      state.point = all[0].data;
      state.etag = all[0].headers.get("ETag");
      renderPoint(all[1].data);
      body.setAttribute("data-state", "point");
      $("back").focus({ preventScroll: true });
    }).catch(function (err) {
      if (seq !== state.selectSeq) return;
      clear(box);
      body.setAttribute("data-state", "point-error");
      if (err.status === 404) {
        var mine = state.me && state.me.agency ? state.me.agency : null;
        box.appendChild(h("div", { class: "notfound", role: "alert" },
          h("h2", { class: "d-name" }, bi("ไม่พบจุดบริการ " + id + " ในหน่วยงานของคุณ",
            "Point " + id + " is not one of your agency's")),
          h("p", null, bi("แก้ไขหรือดูประวัติได้เฉพาะจุดบริการของหน่วยงานตนเอง" +
            (mine ? " (" + str(mine.name_th) + ")" : ""),
          "You can edit and see the history of your own agency's points only" +
            (mine ? " (" + str(mine.name_en) + ")" : "") + ". (HTTP 404)")),
          h("p", { class: "status-message", text: err.message })));
        showError(err, "ไม่พบจุดบริการนี้ในหน่วยงานของคุณ", "Not found among your agency's points");
      } else {
        showError(err, "โหลดจุดบริการไม่ได้", "Could not load the point");
      }
    });
  }

  function markSelected() {
    Array.prototype.forEach.call($("points").children, function (li) {
      li.classList.toggle("selected", state.point && li.getAttribute("data-id") === String(state.point.id));
    });
  }

  function section(th, en, cls) {
    var s = h("section", { class: "d-section" + (cls ? " " + cls : "") }, h("h3", null, bi(th, en)));
    for (var i = 3; i < arguments.length; i++) append(s, arguments[i]);
    return s;
  }

  function synthetic(field) {
    var p = state.point;
    return !!p && (p.source === "generated" || (p.provenance && p.provenance[field] === "synthetic"));
  }

  /** "(generated)" beside a value the demo made up. */
  function generatedMark(field) {
    return synthetic(field)
      ? h("span", { class: "gen-mark", "data-generated": field, title: "ข้อมูลจำลองเพื่อการสาธิต · made up for the demo" },
        bi("(จำลอง)", "(generated)"))
      : null;
  }

  function renderPoint(history) {
    var p = state.point;
    var flags = pointFlags(p.id);
    var box = $("details");
    clear(box);
    box.appendChild(h("header", { class: "d-head", "data-id": str(p.id) },
      h("h2", { class: "d-name", text: str(p.name_th) }),
      h("p", { class: "d-name-en", text: str(p.name_en) }),
      h("p", { class: "d-kind" }, kindLabel(p.kind), " · ", h("span", { class: "pid", text: "#" + p.id }),
        " · ", words(STATUSES, p.status)),
      h("div", { class: "badges" }, sourceBadge(p.source), flagBadges(flags))));

    var made = Object.keys(PROVENANCE_WORDS).filter(function (k) {
      return p.provenance && p.provenance[k] === "synthetic";
    });
    if (p.source === "generated") {
      box.appendChild(h("p", { class: "generated-note", "data-source": "generated" },
        bi("จุดบริการนี้สร้างขึ้นเพื่อการสาธิต ไม่ใช่สำนักงานจริง เมื่อหน่วยงานแก้ไขข้อมูลใด ข้อมูลนั้นจะนับเป็นข้อมูลจริง",
          "This point was generated for the demo and is not a real office; what your agency states becomes real.")));
    } else if (made.length) {
      box.appendChild(h("p", { class: "generated-note", "data-source": "partly-synthetic" },
        bi("ข้อมูลจำลอง (ไม่ใช่ข้อเท็จจริง): " + made.map(function (k) { return PROVENANCE_WORDS[k][0]; }).join(", "),
          "Generated, not facts: " + made.map(function (k) { return PROVENANCE_WORDS[k][1]; }).join(", ") +
          ". Save the real values to replace them.")));
    }
    if (flags.length) {
      box.appendChild(h("p", { class: "flag-note" }, bi("การตรวจหมุดพบ: " + flags.map(function (x) {
        return (FLAG_WORDS[x] || [x])[0];
      }).join(", ") + " รอผู้ดูแลระบบตรวจสอบ",
      "The pin check found: " + flags.map(function (x) { return (FLAG_WORDS[x] || [x, x])[1]; }).join(", ") +
        "; awaiting review")));
    }
    box.appendChild(locationSection(p));
    box.appendChild(fieldsSection(p));
    box.appendChild(servicesSection(p));
    box.appendChild(section("ประวัติการแก้ไข", "History", "history",
      h("div", { id: "history" }, historyTable(history))));
    var src = SOURCES[p.source];
    box.appendChild(section("ที่มาของข้อมูล", "Where this comes from", null,
      h("p", { "data-source": str(p.source) }, src ? bi(src[0], src[1]) : bi(str(p.source), null)),
      h("p", { class: "muted" }, bi("ฉบับที่ " + p.version + " ปรับปรุงล่าสุด " + formatWhen(p.updated_at),
        "version " + p.version + ", last updated " + formatWhen(p.updated_at) + " (Asia/Bangkok)"))));
    placePin(p);
    markSelected();
  }

  // ------------------------------------------------------------------ moving the pin
  function pinIcon(moved) {
    return L.divIcon({
      className: "pin-marker" + (moved ? " moved" : ""),
      html: h("span", { class: "pin-head" }),
      iconSize: [30, 36],
      iconAnchor: [15, 33] // the tip of the head (24 px square, turned 45°)
    });
  }

  var pin = null;
  var wasMarker = null;
  var moveLine = null;

  function placePin(p) {
    editLayer.clearLayers();
    var at = [p.lat, p.lon];
    wasMarker = L.circleMarker(at, { renderer: canvas, radius: 9, weight: 2, color: "#c99a2e", fill: false, interactive: false })
      .addTo(editLayer);
    moveLine = L.polyline([at, at], { renderer: canvas, color: "#c99a2e", weight: 2, dashArray: "5 5", interactive: false })
      .addTo(editLayer);
    pin = L.marker(at, {
      icon: pinIcon(false),
      draggable: true,
      autoPan: true,
      keyboard: true,
      zIndexOffset: 1000,
      title: "ลากเพื่อย้ายหมุด · Drag to move the pin",
      alt: "หมุดของ " + str(p.name_th) + " · pin of " + str(p.name_en)
    }).addTo(editLayer);
    pin.on("drag", function () { moveLine.setLatLngs([at, pin.getLatLng()]); });
    pin.on("dragend", function () {
      var ll = pin.getLatLng();
      movePin(ll.lat, ll.lng);
    });
    if (!map.getBounds().pad(-0.1).contains(at) || map.getZoom() < 12) {
      map.setView(at, Math.max(map.getZoom(), 14), { animate: false });
    }
  }

  function round(x) {
    var f = Math.pow(10, COORD_DIGITS);
    return Math.round(x * f) / f;
  }

  /** The pin is somewhere new: show it, then ask the pin check (a dry run) about it. */
  function movePin(lat, lon) {
    var p = state.point;
    if (!p) return Promise.resolve();
    state.pending = { lat: round(lat), lon: round(lon) };
    $("pin-lat").value = String(state.pending.lat);
    $("pin-lon").value = String(state.pending.lon);
    pin.setLatLng([state.pending.lat, state.pending.lon]);
    pin.setIcon(pinIcon(true));
    moveLine.setLatLngs([[p.lat, p.lon], [state.pending.lat, state.pending.lon]]);
    if (!map.getBounds().contains(pin.getLatLng())) map.panTo(pin.getLatLng()); // typed far away
    return checkPin();
  }

  function putPinBack() {
    var p = state.point;
    if (!p) return;
    state.pending = null;
    state.checkSeq++;
    pin.setLatLng([p.lat, p.lon]);
    pin.setIcon(pinIcon(false));
    moveLine.setLatLngs([[p.lat, p.lon], [p.lat, p.lon]]);
    $("pin-lat").value = String(p.lat);
    $("pin-lon").value = String(p.lon);
    clear($("verdict"));
    $("verdict").removeAttribute("data-verdict");
  }

  function locationSection(p) {
    var lat = h("input", { type: "number", id: "pin-lat", step: "0.00001", min: "-90", max: "90",
      value: String(p.lat), class: "coord", inputmode: "decimal" });
    var lon = h("input", { type: "number", id: "pin-lon", step: "0.00001", min: "-180", max: "180",
      value: String(p.lon), class: "coord", inputmode: "decimal" });
    var form = h("form", { class: "pin-form", novalidate: true },
      h("div", { class: "coords" },
        h("label", { for: "pin-lat", class: "field-label" }, bi("ละติจูด", "Latitude")), lat,
        h("label", { for: "pin-lon", class: "field-label" }, bi("ลองจิจูด", "Longitude")), lon),
      h("div", { class: "row" },
        h("button", { type: "submit", id: "pin-check", class: "btn" }, bi("ตรวจตำแหน่งนี้", "Check this position"))));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var a = Number(lat.value);
      var b = Number(lon.value);
      if (!lat.value || !lon.value || !isFinite(a) || !isFinite(b) || Math.abs(a) > 90 || Math.abs(b) > 180) {
        showError(new Error("latitude -90..90 and longitude -180..180, e.g. 18.79050 and 98.98450"),
          "พิกัดไม่ถูกต้อง", "Those coordinates are not valid");
        return;
      }
      movePin(a, b);
    });
    return section("ตำแหน่งหมุด", "The pin", "pin-section",
      h("p", { class: "muted" }, bi("ลากหมุดบนแผนที่ หรือพิมพ์พิกัดแล้วกดตรวจ ระบบจะตรวจก่อนบันทึก",
        "Drag the pin on the map, or type the coordinates and check them: the pin check answers before anything is saved."),
      generatedMark("location")),
      form,
      h("div", { id: "verdict", class: "verdict", "aria-live": "polite" }));
  }

  /** PATCH ?dry_run=true with the moved pin: the pin check's verdict, nothing written. */
  function checkPin() {
    var p = state.point;
    var pending = state.pending;
    var seq = ++state.checkSeq;
    var box = $("verdict");
    clear(box);
    box.setAttribute("data-verdict", "checking");
    box.appendChild(h("p", { class: "loading" }, h("span", { class: "spinner", "aria-hidden": "true" }),
      bi("กำลังตรวจตำแหน่ง…", "Checking the pin…")));
    var asked = api("/v1/points/" + p.id, {
      method: "PATCH", params: { dry_run: "true" }, etag: state.etag, json: { lat: pending.lat, lon: pending.lon }
    });
    return Promise.all([asked.then(function (r) { return { ok: r }; }, function (err) { return { err: err }; }),
      provinceNames()]).then(function (both) {
      if (seq !== state.checkSeq) return;
      var names = both[1];
      var moved = Math.round(map.distance([p.lat, p.lon], [pending.lat, pending.lon]));
      clear(box);
      if (both[0].ok) {
        var would = both[0].ok.data.point || {};
        var there = provinceOf(names, would.tambon_code);
        box.setAttribute("data-verdict", "ok");
        append(box,
          h("p", { class: "verdict-head verdict-ok" }, "✓ ", bi("ตำแหน่งนี้ผ่านการตรวจหมุด", "The pin check passes")),
          h("p", null, bi("ย้าย " + moved.toLocaleString("en-US") + " ม." +
            (there ? " อยู่ใน" + there.th + " ตำบลรหัส " + str(would.tambon_code) : ""),
          "moved " + moved.toLocaleString("en-US") + " m" +
            (there ? ", in " + there.en + ", tambon " + str(would.tambon_code) : ""))),
          h("div", { class: "row" },
            actionButton("pin-save", "btn btn-primary", "บันทึกตำแหน่ง", "Save the pin", function () {
              return savePin({});
            }),
            actionButton("pin-reset", "btn", "วางหมุดที่เดิม", "Put it back", putPinBack)));
        setStatus("info", "ตรวจหมุดผ่าน ยังไม่ได้บันทึก", "The pin check passes; not saved yet");
        return;
      }
      var err = both[0].err;
      if (err.signedOut) return;
      if (err.status === 422 && Array.isArray(err.details.findings)) {
        box.setAttribute("data-verdict", "refused");
        var findings = err.details.findings;
        var pinTambon = null;
        findings.forEach(function (x) {
          if (x.pin_tambon) pinTambon = x.pin_tambon;
          else if (!pinTambon && x.flag === "postcode_mismatch") pinTambon = x.tambon_code;
        });
        var addressAt = provinceOf(names, p.tambon_code);
        var pinAt = provinceOf(names, pinTambon);
        append(box,
          h("p", { class: "verdict-head verdict-bad" }, "✗ ", bi("หมุดกับที่อยู่ไม่ตรงกัน", "The pin and the address disagree")),
          h("dl", { class: "places" },
            h("dt", null, bi("ที่อยู่", "Address")),
            h("dd", { class: "place-address" }, str(p.address_th) || "ตำบลรหัส " + str(p.tambon_code),
              addressAt ? [" · ", bi(addressAt.th, addressAt.en)] : null),
            h("dt", null, bi("หมุดใหม่", "New pin")),
            h("dd", { class: "place-pin" }, pinTambon ? "ตำบลรหัส " + pinTambon : "",
              pinAt ? [" · ", bi(pinAt.th, pinAt.en)] : null)),
          h("ul", { class: "findings" }, findings.map(function (x) {
            var w = FLAG_WORDS[x.flag] || [str(x.flag), str(x.flag)];
            return h("li", { "data-flag": str(x.flag) }, h("strong", null, bi(w[0], w[1])),
              h("span", { class: "finding-detail", text: str(x.detail) }));
          })),
          h("p", { class: "status-message", text: err.message }),
          h("div", { class: "row" },
            actionButton("pin-override", "btn btn-danger", "ยืนยันและบันทึก (รอตรวจสอบ)", "Override and save",
              function () { return savePin({ override: "true" }); }),
            actionButton("pin-reset", "btn", "วางหมุดที่เดิม", "Put it back", putPinBack)));
        setStatus("error", "หมุดกับที่อยู่ไม่ตรงกัน ยังไม่ได้บันทึก", "The pin and the address disagree; nothing saved");
      } else if (err.status === 409) {
        box.setAttribute("data-verdict", "duplicate");
        append(box, duplicateVerdict(err, function () { return savePin({ confirm_duplicate: "true" }); }),
          h("div", { class: "row" }, actionButton("pin-reset", "btn", "วางหมุดที่เดิม", "Put it back", putPinBack)));
        setStatus("error", "อาจซ้ำกับจุดบริการที่มีอยู่ ยังไม่ได้บันทึก", "Possibly a duplicate; nothing saved");
      } else {
        box.setAttribute("data-verdict", "error");
        handleWriteError(err, box);
      }
    });
  }

  function duplicateVerdict(err, confirm) {
    var other = err.details.existing_point_id;
    var open = other !== undefined && other !== null
      ? h("button", { type: "button", class: "btn btn-link existing-point", "data-id": str(other) },
        bi("เปิดจุดบริการ #" + other, "open point #" + other))
      : null;
    if (open) open.addEventListener("click", function () { selectPoint(other); });
    return h("div", { class: "dup" },
      h("p", { class: "verdict-head verdict-bad" }, "⚠ ", bi("หน่วยงานของคุณมีจุดบริการนี้อยู่แล้ว",
        "Your agency already has this point")),
      h("p", null, bi("จุดที่มีอยู่: #" + str(other), "existing point: #" + str(other)), " ", open),
      h("p", { class: "status-message", text: err.message }),
      h("div", { class: "row" }, actionButton("confirm-duplicate", "btn btn-danger", "ยืนยันว่าไม่ซ้ำและบันทึก",
        "Confirm duplicate and save", confirm)));
  }

  function actionButton(id, cls, th, en, onClick) {
    var b = h("button", { type: "button", id: id, class: cls }, bi(th, en));
    b.addEventListener("click", function () {
      b.disabled = true;
      Promise.resolve(onClick()).then(function () { b.disabled = false; });
    });
    return b;
  }

  function savePin(params) {
    var pending = state.pending;
    if (!pending) return Promise.resolve();
    return patch({ lat: pending.lat, lon: pending.lon }, params, $("verdict"), "บันทึกตำแหน่งแล้ว", "The pin is saved");
  }

  // ------------------------------------------------------------------ writes
  /** A real PATCH with If-Match; on success the point, its ETag, its dot and history. */
  function patch(changes, params, box, th, en) {
    var p = state.point;
    setStatus("busy", "กำลังบันทึก…", "Saving…");
    return api("/v1/points/" + p.id, { method: "PATCH", params: params, etag: state.etag, json: changes })
      .then(function (r) { return saved(r, th, en); })
      .catch(function (err) {
        if (err.signedOut) return;
        if (err.status === 422 && Array.isArray(err.details.findings)) {
          // a name or tambon change the pin check refuses: the same choice as for a move
          clear(box);
          append(box, h("p", { class: "verdict-head verdict-bad" }, "✗ ", bi("หมุดกับที่อยู่ไม่ตรงกัน", "The pin and the address disagree")),
            h("p", { class: "status-message", text: err.message }),
            h("div", { class: "row" }, actionButton("save-override", "btn btn-danger", "ยืนยันและบันทึก (รอตรวจสอบ)",
              "Override and save", function () {
                return patch(changes, Object.assign({}, params, { override: "true" }), box, th, en);
              })));
          setStatus("error", "ยังไม่ได้บันทึก", "Nothing saved");
        } else if (err.status === 409) {
          clear(box);
          append(box, duplicateVerdict(err, function () {
            return patch(changes, Object.assign({}, params, { confirm_duplicate: "true" }), box, th, en);
          }));
          setStatus("error", "อาจซ้ำกับจุดบริการที่มีอยู่ ยังไม่ได้บันทึก", "Possibly a duplicate; nothing saved");
        } else {
          handleWriteError(err, box);
        }
      });
  }

  function saved(r, th, en) {
    var written = r.data || {};
    var p = written.point;
    state.point = p;
    state.etag = r.headers.get("ETag");
    state.pending = null;
    var overridden = Array.isArray(written.overridden) ? written.overridden : [];
    if (overridden.length) state.overridden[p.id] = overridden;
    var f = state.byId[p.id];
    if (f) {
      f.geometry = { type: "Point", coordinates: [p.lon, p.lat] };
      f.properties.name_th = p.name_th;
      f.properties.name_en = p.name_en;
      f.properties.status = p.status;
      f.properties.version = p.version;
      f.properties.qa_flags = pointFlags(p.id);
      drawPoints();
    }
    var overrode = Array.isArray(written.overridden) && written.overridden.length;
    return api("/v1/points/" + p.id + "/history").then(function (hr) {
      if (!state.point || state.point.id !== p.id) return;
      renderPoint(hr.data);
      if (overrode) {
        setStatus("ok", th + " (ยืนยันแม้ตรวจไม่ผ่าน: รอผู้ดูแลระบบตรวจสอบ)",
          en + " (pin check overridden: it awaits review)");
      } else {
        setStatus("ok", th, en);
      }
    }).catch(function (err) { showError(err, "โหลดประวัติไม่ได้", "Could not load the history"); });
  }

  /** 412: someone saved first; the rest: the error, in both languages. */
  function handleWriteError(err, box) {
    if (err.signedOut) return;
    if (err.status === 412) {
      var target = box || $("status");
      var shown = showError(err, "มีผู้อื่นแก้ไขจุดบริการนี้ก่อนคุณ ยังไม่ได้บันทึก",
        "Someone changed this point since you opened it; nothing saved", box);
      if (box) box.setAttribute("data-verdict", "stale");
      var reload = h("button", { type: "button", class: "btn btn-primary reload" },
        bi("โหลดฉบับล่าสุด", "Reload the latest version"));
      reload.addEventListener("click", function () { selectPoint(state.point.id); });
      append(shown || target, h("div", { class: "row" }, reload));
      if (box) setStatus("error", "มีผู้อื่นแก้ไขจุดบริการนี้ก่อนคุณ", "Someone else changed this point first");
      return;
    }
    if (err.status === 404) {
      showError(err, "ไม่พบจุดบริการนี้ในหน่วยงานของคุณ", "Not found among your agency's points", box);
      return;
    }
    if (err.status === 422) {
      showError(err, "ข้อมูลไม่ถูกต้อง ยังไม่ได้บันทึก", "Not valid; nothing saved", box);
      if (box) setStatus("error", "ข้อมูลไม่ถูกต้อง ยังไม่ได้บันทึก", "Not valid; nothing saved");
      return;
    }
    showError(err, "บันทึกไม่สำเร็จ", "Could not save", box);
  }

  // ------------------------------------------------------------------ names, phones, hours, access, status
  function textField(id, th, en, value, attrs, mark) {
    return [h("label", { for: id, class: "field-label" }, bi(th, en), mark ? " " : null, mark),
      h("input", Object.assign({ type: "text", id: id, value: value, class: "text-input" }, attrs || {}))];
  }

  function fieldsSection(p) {
    var phones = Array.isArray(p.phones) ? p.phones.join("; ") : "";
    var statusSelect = h("select", { id: "f-status" },
      ["active", "temporarily_closed"].map(function (s) {
        return h("option", { value: s, text: STATUSES[s][0] + " · " + STATUSES[s][1] });
      }),
      p.status === "closed" ? h("option", { value: "closed", text: STATUSES.closed[0] + " · " + STATUSES.closed[1] }) : null);
    statusSelect.value = p.status;
    function check(id, field, th, en) {
      return h("label", { class: "chip" }, h("input", { type: "checkbox", id: id, checked: !!p[field] }),
        h("span", null, bi(th, en)));
    }
    var result = h("div", { id: "fields-result", class: "verdict", "aria-live": "polite" });
    var form = h("form", { id: "fields-form", class: "edit-form", novalidate: true },
      textField("f-name_th", "ชื่อภาษาไทย", "Thai name", str(p.name_th), { maxlength: "300", required: true, lang: "th" }),
      textField("f-name_en", "ชื่อภาษาอังกฤษ", "English name", str(p.name_en), { maxlength: "300", required: true, lang: "en" }),
      textField("f-phones", "เบอร์โทร (คั่นด้วย ;)", "Phones (separated by ;)", phones,
        { inputmode: "tel", "aria-describedby": "f-phones-hint" }, generatedMark("phones")),
      h("p", { id: "f-phones-hint", class: "hint-muted" }, bi("เช่น 053 111 222; 053 111 333", "e.g. 053 111 222; 053 111 333")),
      textField("f-hours", "เวลาทำการ (รูปแบบ OpenStreetMap)", "Opening hours (OpenStreetMap syntax)",
        str(p.opening_hours_osm), { maxlength: "500", spellcheck: "false", "aria-describedby": "f-hours-hint", lang: "en" },
        generatedMark("hours")),
      h("p", { id: "f-hours-hint", class: "hint-muted" }, bi("เช่น Mo-Fr 08:30-16:30; PH off (PH off = ปิดวันหยุดราชการ)",
        "e.g. Mo-Fr 08:30-16:30; Sa 09:00-12:00; PH off (PH off: closed on public holidays)")),
      h("fieldset", { class: "chips" }, h("legend", { class: "field-label" }, bi("การเข้าถึง", "Accessibility")),
        check("f-wheelchair", "wheelchair", "รถเข็นเข้าได้", "Wheelchair access"),
        check("f-priority_lane", "priority_lane", "ช่องทางพิเศษ", "Priority lane"),
        check("f-gecc", "gecc", "ศูนย์ราชการสะดวก", "GECC certified")),
      h("label", { for: "f-status", class: "field-label" }, bi("สถานะ", "Status")), statusSelect,
      h("div", { class: "row" }, h("button", { type: "submit", id: "fields-save", class: "btn btn-primary" },
        bi("บันทึกข้อมูล", "Save the details"))),
      result);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var changes = fieldChanges(p);
      clear(result);
      if (changes === null) return;
      if (!Object.keys(changes).length) {
        setStatus("info", "ไม่มีอะไรเปลี่ยน", "Nothing has changed");
        return;
      }
      var button = $("fields-save");
      button.disabled = true;
      patch(changes, {}, result, "บันทึกข้อมูลแล้ว", "The details are saved").then(function () {
        button.disabled = false;
      });
    });
    return section("ข้อมูลจุดบริการ", "Details", "fields-section", form);
  }

  /** The fields the form changed (only those: an edit never rewrites what it did not touch). */
  function fieldChanges(p) {
    var out = {};
    ["name_th", "name_en"].forEach(function (k) {
      var v = $("f-" + k).value.trim();
      if (v !== str(p[k])) out[k] = v;
    });
    if (("name_th" in out && !out.name_th) || ("name_en" in out && !out.name_en)) {
      showError(new Error("a point needs a Thai and an English name"), "ต้องมีชื่อทั้งภาษาไทยและภาษาอังกฤษ", "Both names are needed");
      return null;
    }
    var phones = $("f-phones").value.split(/[;,\n]/).map(function (s) { return s.trim(); }).filter(Boolean);
    if (phones.join(";") !== (p.phones || []).join(";")) out.phones = phones;
    var hours = $("f-hours").value.trim();
    if (hours !== str(p.opening_hours_osm)) {
      if (!hours) {
        showError(new Error("opening_hours: give the hours, e.g. Mo-Fr 08:30-16:30; PH off"),
          "ต้องระบุเวลาทำการ", "Opening hours are needed");
        return null;
      }
      out.opening_hours = hours;
    }
    ["wheelchair", "priority_lane", "gecc"].forEach(function (k) {
      var v = $("f-" + k).checked;
      if (v !== !!p[k]) out[k] = v;
    });
    var status = $("f-status").value;
    if (status !== p.status) out.status = status;
    return out;
  }

  // ------------------------------------------------------------------ services and No-Copy
  function documentName(code) {
    var d = state.labels.documents[code];
    return d ? [d.name_th, d.name_en] : [code, code];
  }

  function noCopyBadge(copies, generated) {
    var badge = copies.length
      ? h("span", { class: "badge badge-copies" }, bi("ต้องใช้สำเนา " + copies.length + " รายการ",
        copies.length + (copies.length === 1 ? " copy" : " copies")))
      : h("span", { class: "badge badge-nocopy" }, bi("ไม่ต้องใช้สำเนา", "No copies"));
    return [badge, generated ? h("span", { class: "gen-mark", "data-generated": "no_copy" }, bi("(จำลอง)", "(generated)")) : null];
  }

  function servicesSection(p) {
    var services = Array.isArray(p.services) ? p.services : [];
    var list = h("div", { class: "svc-list", id: "svc-list" }, services.map(function (s) {
      return serviceEditor(s, false);
    }));
    var add = h("select", { id: "svc-add", class: "svc-add" }, h("option", { value: "", text: "— เลือกบริการ · choose a service —" }));
    var offered = {};
    services.forEach(function (s) { offered[s.code] = true; });
    loadCatalogue().then(function (all) {
      all.forEach(function (s) {
        if (!offered[s.code]) add.appendChild(h("option", { value: s.code, text: str(s.name_th) + " · " + str(s.name_en) }));
      });
    }).catch(function (err) { showError(err, "โหลดรายการบริการไม่ได้", "The list of services is unavailable"); });
    var addButton = h("button", { type: "button", class: "btn", id: "svc-add-go" }, bi("เพิ่มบริการ", "Add the service"));
    addButton.addEventListener("click", function () {
      var code = add.value;
      if (!code) return;
      api("/v1/services/" + encodeURIComponent(code)).then(function (r) {
        var s = r.data;
        s.copies_required = [];
        var editor = serviceEditor(s, true);
        list.appendChild(editor);
        editor.open = true;
        add.remove(add.selectedIndex);
        editor.querySelector("input, textarea").focus();
      }).catch(function (err) { showError(err, "โหลดบริการไม่ได้", "Could not load the service"); });
    });
    var made = synthetic("no_copy");
    return section("บริการและสำเนาเอกสาร", "Services and photocopies", "svc-section",
      h("p", { class: "muted" }, bi("ติ๊กเอกสารที่สำนักงานยังขอสำเนา ไม่ติ๊กเลย = ไม่ต้องใช้สำเนา (No-Copy)",
        "Tick the documents this office still asks photocopies of; none ticked = No-Copy."),
      made ? [" ", generatedMark("no_copy")] : null),
      list,
      h("div", { class: "row svc-add-row" }, h("label", { for: "svc-add", class: "sr-only" }, "เพิ่มบริการ · Add a service"), add, addButton));
  }

  function serviceEditor(s, isNew) {
    var copies = Array.isArray(s.copies_required) ? s.copies_required : [];
    var docs = Array.isArray(s.documents) ? s.documents : [];
    var base = nextId("svc");
    var badgeBox = h("span", { class: "svc-status" }, isNew ? h("span", { class: "badge badge-new" }, bi("ใหม่", "new"))
      : noCopyBadge(copies, synthetic("no_copy")));
    var boxes = docs.map(function (d) {
      var id = base + "-" + str(d.code);
      return h("label", { class: "doc-check", for: id },
        h("input", { type: "checkbox", id: id, value: str(d.code), checked: copies.indexOf(d.code) >= 0 }),
        h("span", { class: "doc-name" }, bi(str(d.name_th) || documentName(d.code)[0], str(d.name_en) || documentName(d.code)[1])));
    });
    var notes = h("textarea", { id: base + "-notes", rows: "2", maxlength: "1000", class: "text-input" });
    notes.value = str(s.notes);
    var hours = h("input", { type: "text", id: base + "-hours", maxlength: "500", class: "text-input", spellcheck: "false",
      value: str(s.opening_hours_osm), placeholder: "เวลาของจุดบริการ · the point's hours", lang: "en" });
    var result = h("div", { class: "verdict svc-result", "aria-live": "polite" });
    var save = h("button", { type: "submit", class: "btn btn-primary svc-save" }, bi("บันทึกบริการนี้", "Save this service"));
    var form = h("form", { class: "svc-form", novalidate: true },
      h("fieldset", { class: "docs-edit" },
        h("legend", { class: "field-label" }, bi("เอกสารที่ยังขอสำเนา", "Documents still wanted as photocopies")),
        boxes.length ? boxes : h("p", { class: "muted" }, bi("บริการนี้ไม่ใช้เอกสาร", "This service needs no documents"))),
      h("label", { for: base + "-notes", class: "field-label" }, bi("หมายเหตุ", "Notes")), notes,
      h("label", { for: base + "-hours", class: "field-label" }, bi("เวลาของบริการนี้ (ถ้าต่างจากจุดบริการ)",
        "This service's own hours (if they differ)")), hours,
      h("div", { class: "row" }, save), result);
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var picked = Array.prototype.filter.call(form.querySelectorAll(".doc-check input"), function (c) { return c.checked; })
        .map(function (c) { return c.value; });
      var bodyJson = { copies_required: picked, notes: notes.value.trim() || null, opening_hours: hours.value.trim() || null };
      save.disabled = true;
      clear(result);
      setStatus("busy", "กำลังบันทึก…", "Saving…");
      api("/v1/points/" + state.point.id + "/offerings/" + encodeURIComponent(s.code),
        { method: "PUT", etag: state.etag, json: bodyJson })
        .then(function (r) {
          return saved(r, "บันทึกบริการ " + str(s.name_th) + " แล้ว", "Saved: " + str(s.name_en)).then(function () {
            var again = document.querySelector(".svc-edit[data-code='" + CSS.escape(s.code) + "']");
            if (again) again.open = true;
          });
        })
        .catch(function (err) { handleWriteError(err, result); })
        .then(function () { save.disabled = false; });
    });
    return h("details", { class: "service svc-edit", "data-code": str(s.code) },
      h("summary", null, h("span", { class: "svc-name" }, bi(str(s.name_th), str(s.name_en))), badgeBox),
      form);
  }

  // ------------------------------------------------------------------ history
  function formatWhen(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return str(iso);
    try {
      return new Intl.DateTimeFormat("sv-SE", { timeZone: "Asia/Bangkok", year: "numeric", month: "2-digit",
        day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d);
    } catch (e) {
      return d.toISOString();
    }
  }

  function formatValue(v) {
    if (v === null || v === undefined) return "—";
    if (typeof v === "string") return v;
    if (typeof v === "number" || typeof v === "boolean") return String(v);
    if (Array.isArray(v)) {
      return v.length ? v.map(formatValue).join("; ") : "[]";
    }
    if (typeof v === "object") { // an offering: copies_required, notes, its own hours
      return Object.keys(v).filter(function (k) { return v[k] !== null && v[k] !== undefined; })
        .map(function (k) { return k + ": " + formatValue(v[k]); }).join(" · ") || "—";
    }
    return String(v);
  }

  /** What a created point was, in short (the full record is in the API's history). */
  function formatCreated(v) {
    if (!v || typeof v !== "object") return formatValue(v);
    return str(v.name_th) + " · " + str(v.kind) + " · " + formatValue(v.lat) + ", " + formatValue(v.lon);
  }

  /** The change log, newest first: when, who, what, old → new (a list: the panel is narrow). */
  function historyTable(history) {
    var changes = history && Array.isArray(history.changes) ? history.changes.slice().reverse() : [];
    if (!changes.length) return h("p", { class: "muted" }, bi("ยังไม่มีการแก้ไข", "No changes yet"));
    return h("ol", { class: "history-list", "aria-label": "ประวัติการแก้ไข ล่าสุดก่อน · History, newest first" },
      changes.map(function (c) {
        var field = str(c.field);
        var fieldWords = FIELDS[field] || (field.indexOf("offerings.") === 0
          ? ["บริการ " + field.slice(10), "service " + field.slice(10)] : null);
        var created = c.action === "create";
        return h("li", { class: "change", "data-field": field, "data-action": str(c.action) },
          h("p", { class: "change-head" },
            h("span", { class: "when", text: formatWhen(c.at) }), " · ",
            h("span", { class: "by", text: str(c.by) || "—" }), " · ",
            h("span", { class: "what" }, words(ACTIONS, c.action),
              field ? [" ", fieldWords ? bi(fieldWords[0], fieldWords[1]) : bi(field, null)] : null)),
          created
            ? h("p", { class: "change-values" }, h("span", { class: "new", text: formatCreated(c.new) }))
            : h("p", { class: "change-values" },
              h("span", { class: "old", text: formatValue(c.old) }),
              h("span", { class: "to-arrow", "aria-hidden": "true", text: " → " }),
              h("span", { class: "new", text: formatValue(c.new) })));
      }));
  }

  // ------------------------------------------------------------------ import and export
  function extension(name) {
    var m = /\.([a-z0-9]+)$/i.exec(str(name));
    return m ? m[1].toLowerCase() : "";
  }

  /** The export, fetched with the key in its header and handed over as a Blob. */
  function exportPoints() {
    if (!state.me || !state.me.agency) return Promise.resolve();
    var format = $("export-format").value;
    var code = state.me.agency.code;
    var button = $("export");
    button.disabled = true;
    setStatus("busy", "กำลังเตรียมไฟล์…", "Preparing the file…");
    return api("/v1/agencies/" + encodeURIComponent(code) + "/points", { params: { format: format }, as: "blob" })
      .then(function (r) {
        var name = code + "-points." + format;
        var url = URL.createObjectURL(r.data);
        var a = h("a", { href: url, download: name, hidden: true });
        document.body.appendChild(a);
        a.click();
        a.remove();
        setTimeout(function () { URL.revokeObjectURL(url); }, 10000);
        body.setAttribute("data-exported", name);
        setStatus("ok", "ดาวน์โหลด " + name + " แล้ว", "Downloaded " + name);
      })
      .catch(function (err) { showError(err, "ส่งออกไม่สำเร็จ", "Could not export"); })
      .then(function () { button.disabled = false; });
  }

  function importParams(dryRun) {
    var params = { dry_run: dryRun ? "true" : "false" };
    if ($("import-override").checked) params.override = "true";
    if ($("import-duplicates").checked) params.confirm_duplicates = "true";
    return params;
  }

  /** Send the file; dryRun: the report only. Import is offered after a clean dry run. */
  function runImport(dryRun) {
    var file = dryRun ? $("import-file").files[0] : state.importFile;
    var report = $("import-report");
    if (!file) {
      setStatus("info", "เลือกไฟล์ก่อน", "Choose a file first");
      $("import-file").focus();
      return Promise.resolve();
    }
    var type = IMPORT_TYPES[extension(file.name)];
    if (!type) {
      showError(new Error(file.name + ": .csv, .geojson or .gpkg"), "ไม่รู้จักชนิดไฟล์นี้", "Not a file type the import reads");
      return Promise.resolve();
    }
    if (dryRun) state.importFile = null;
    $("import-go").disabled = true;
    $("import-check").disabled = true;
    clear(report);
    report.removeAttribute("data-result");
    setStatus("busy", dryRun ? "กำลังตรวจไฟล์…" : "กำลังนำเข้า…", dryRun ? "Checking the file…" : "Importing…");
    var code = state.me.agency.code;
    return api("/v1/agencies/" + encodeURIComponent(code) + "/points:import",
      { method: "POST", params: importParams(dryRun), body: file, type: type })
      .then(function (r) {
        renderReport(r.data, file.name);
        if (dryRun) {
          state.importFile = file;
          $("import-go").disabled = false;
          setStatus("ok", "ตรวจไฟล์แล้ว ไม่พบข้อผิดพลาด ยังไม่ได้บันทึก: กดนำเข้าเพื่อบันทึก",
            "The file checks out; nothing saved yet: press Import to write it");
        } else {
          state.importFile = null;
          $("import-form").reset();
          setStatus("ok", "นำเข้าแล้ว", "Imported");
          return loadPoints();
        }
      })
      .catch(function (err) {
        if (err.signedOut) return;
        var rep = err.details && err.details.report;
        if (err.status === 422 && rep) {
          renderReport(rep, file.name);
          showError(err, "ไฟล์มีข้อผิดพลาด ไม่ได้บันทึกอะไร แก้ไขแถวที่ระบุแล้วลองอีกครั้ง",
            "The file has errors; nothing was written. Fix the rows named below and try again");
        } else {
          showError(err, "นำเข้าไม่สำเร็จ", "Could not import");
        }
      })
      .then(function () { $("import-check").disabled = false; });
  }

  function renderReport(rep, name) {
    var report = $("import-report");
    clear(report);
    var errors = Array.isArray(rep.errors) ? rep.errors : [];
    var overridden = Array.isArray(rep.overridden) ? rep.overridden : [];
    report.setAttribute("data-result", errors.length ? "errors" : rep.written ? "written" : "checked");
    var n = function (x) { return typeof x === "number" ? x : 0; };
    append(report,
      h("p", { class: "report-head" }, h("strong", { text: name }), " · ",
        rep.written
          ? bi("บันทึกแล้ว", "written")
          : bi("ยังไม่ได้บันทึกอะไร", "nothing written")),
      h("p", { class: "report-counts" }, bi(
        n(rep.rows) + " แถว: ใหม่ " + n(rep.created) + " แก้ไข " + n(rep.updated) + " ไม่เปลี่ยน " + n(rep.unchanged),
        n(rep.rows) + " rows: " + n(rep.created) + " new, " + n(rep.updated) + " changed, " + n(rep.unchanged) + " unchanged")),
      errors.length
        ? h("div", { class: "table-wrap" }, h("table", { class: "report-table" },
          h("caption", null, bi("ข้อผิดพลาด " + errors.length + " รายการ", errors.length + " error" + (errors.length === 1 ? "" : "s"))),
          h("thead", null, h("tr", null,
            h("th", { scope: "col" }, bi("แถว", "Row")),
            h("th", { scope: "col" }, bi("ช่อง", "Field")),
            h("th", { scope: "col" }, bi("ต้องแก้อะไร", "What to fix")))),
          h("tbody", null, errors.map(function (e) {
            return h("tr", { "data-row": str(e.row) },
              h("td", { class: "row-n", text: str(e.row) }),
              h("td", { class: "row-field", text: str(e.field) }),
              h("td", { class: "row-message", text: str(e.message) }));
          }))))
        : null,
      overridden.length
        ? h("p", { class: "flag-note" }, bi("แถวที่ยืนยันแม้ตรวจหมุดไม่ผ่าน: ", "Rows whose pin check was overridden: "),
          overridden.map(function (o) { return "#" + str(o.row) + " (" + (o.flags || []).join(", ") + ")"; }).join("; "))
        : null);
  }

  // ------------------------------------------------------------------ wiring
  $("signin").addEventListener("submit", function (e) {
    e.preventDefault();
    var key = $("api-key").value.trim();
    if (!key) {
      setStatus("info", "ใส่กุญแจ API ก่อน", "Enter your API key first");
      $("api-key").focus();
      return;
    }
    signIn(key);
  });
  $("signout").addEventListener("click", function () { signOut(null); });
  $("back").addEventListener("click", showList);
  $("filter").addEventListener("input", renderList);
  $("flagged-only").addEventListener("change", renderList);
  $("list-filter").addEventListener("submit", function (e) { e.preventDefault(); });
  $("open-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var v = $("open-id").value.trim();
    if (!/^[0-9]{1,18}$/.test(v)) {
      showError(new Error("a point id is a number, e.g. 520"), "รหัสจุดบริการเป็นตัวเลข", "A point id is a number");
      return;
    }
    selectPoint(Number(v));
  });
  $("export").addEventListener("click", exportPoints);
  $("import-form").addEventListener("submit", function (e) {
    e.preventDefault();
    runImport(true);
  });
  $("import-file").addEventListener("change", function () {
    state.importFile = null; // a new file is checked again before it can be imported
    $("import-go").disabled = true;
    clear($("import-report"));
  });
  ["import-override", "import-duplicates"].forEach(function (id) {
    $(id).addEventListener("change", function () {
      state.importFile = null;
      $("import-go").disabled = true;
    });
  });
  $("import-go").addEventListener("click", function () { runImport(false); });
  window.addEventListener("hashchange", function () {
    var id = pointFromHash();
    if (id !== null && state.key && (!state.point || state.point.id !== id)) selectPoint(id);
  });

  // ------------------------------------------------------------------ start-up
  labelsReady = loadLabels();
  var kept = null;
  try { kept = window.sessionStorage.getItem(KEY_STORE); } catch (e) { kept = null; }
  if (kept) {
    signIn(kept);
  } else {
    showSignIn();
    setStatus("info", "เข้าสู่ระบบด้วยกุญแจ API ของคุณ", "Sign in with your API key");
    body.setAttribute("data-ready", "");
  }
})();
