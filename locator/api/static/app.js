/*
 * locator: the citizen page.
 *
 * Safety rule of this file: text that comes from the API (names, addresses, messages,
 * comments) is only ever put into the page with textContent / createTextNode / DOM
 * nodes. No HTML strings are built from data, and the page's Content-Security-Policy
 * allows scripts from this origin only.
 */
(function () {
  "use strict";

  var THAILAND = [[5.6, 97.3], [20.5, 105.7]];
  // Nearest is ranked by the trip's duration (GET /v1/points/nearest?rank=travel_time),
  // by car; the route buttons of a point offer driving and walking.
  var RANK = { rank: "travel_time", mode: "drive" };
  var ROUTE_MODES = {
    drive: { button: ["ขับรถ", "Drive"], title: ["เส้นทางขับรถ", "Route by car"], by: ["ขับรถ", "by car"] },
    walk: { button: ["เดินเท้า", "Walk"], title: ["เส้นทางเดินเท้า", "Walking route"], by: ["เดิน", "on foot"] }
  };
  var FLAGS = ["no_copy", "open_now", "wheelchair", "priority_lane", "gecc"];
  var FLAG_WORDS = {
    no_copy: ["ไม่ต้องใช้สำเนา", "no photocopies"],
    no_copy_any: ["ไม่ต้องใช้สำเนาทุกบริการ", "no photocopies for any service"],
    open_now: ["เปิดอยู่ตอนนี้", "open now"],
    wheelchair: ["รถเข็นเข้าได้", "wheelchair access"],
    priority_lane: ["มีช่องทางพิเศษ", "priority lane"],
    gecc: ["ศูนย์ราชการสะดวก", "GECC certified"]
  };
  // the registry's words for codes (point sources, pin-check flags), given by the page
  var VOCABULARY = JSON.parse(document.body.getAttribute("data-vocabulary") || "{}");
  var SOURCES = VOCABULARY.sources;
  var DAYS = [
    ["mon", "จันทร์", "Mon"],
    ["tue", "อังคาร", "Tue"],
    ["wed", "พุธ", "Wed"],
    ["thu", "พฤหัสบดี", "Thu"],
    ["fri", "ศุกร์", "Fri"],
    ["sat", "เสาร์", "Sat"],
    ["sun", "อาทิตย์", "Sun"]
  ];
  var CATEGORIES = {
    identity_documents: ["บัตรประชาชน", "Identity documents"],
    civil_registration: ["ทะเบียนราษฎร", "Civil registration"],
    land: ["ที่ดิน", "Land"],
    construction: ["ก่อสร้าง", "Construction"],
    business: ["ธุรกิจ", "Business"],
    transport: ["คมนาคมขนส่ง", "Transport"],
    health: ["สุขภาพ", "Health"],
    social_welfare: ["สวัสดิการสังคม", "Social welfare"],
    employment: ["การจ้างงาน", "Employment"],
    police_justice: ["ตำรวจและยุติธรรม", "Police and justice"],
    tax: ["ภาษี", "Tax"],
    postal: ["ไปรษณีย์", "Postal"],
    local_services: ["บริการท้องถิ่น", "Local services"]
  };
  var COMPASS = [
    ["เหนือ", "N"], ["ตะวันออกเฉียงเหนือ", "NE"], ["ตะวันออก", "E"],
    ["ตะวันออกเฉียงใต้", "SE"], ["ใต้", "S"], ["ตะวันตกเฉียงใต้", "SW"],
    ["ตะวันตก", "W"], ["ตะวันตกเฉียงเหนือ", "NW"]
  ];

  var body = document.body;
  var state = {
    mode: "nearest", // or "name": the name search box
    q: "",
    origin: null,
    results: [],
    selectedId: null,
    services: {},
    labels: { kinds: {}, documents: {} },
    searchSeq: 0,
    routeSeq: 0,
    detailSeq: 0,
    controller: null,
    markers: {}
  };

  // ------------------------------------------------------------------ DOM helpers
  // DOM helpers shared with the other page (dom.js, loaded first)
  var dom = window.locatorDom;
  var $ = dom.$, h = dom.h, append = dom.append, clear = dom.clear, bi = dom.bi, str = dom.str;
  var setStatus = dom.setStatus;

  // ------------------------------------------------------------------ status area
  function showError(err, th, en) {
    var message = err && err.message ? err.message : String(err);
    var box = $("status");
    clear(box);
    box.className = "status status-error";
    box.appendChild(h("strong", null, bi(th || "เกิดข้อผิดพลาด", en || "Something went wrong")));
    box.appendChild(h("span", { class: "status-message", text: message }));
    if (window.console && console.warn) console.warn("locator:", message);
  }

  // ------------------------------------------------------------------ API
  function api(path, params, signal, post) {
    var url = new URL(path, window.location.origin);
    if (params) {
      Object.keys(params).forEach(function (key) { url.searchParams.set(key, params[key]); });
    }
    var init = { headers: { Accept: "application/json" }, signal: signal };
    if (post !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(post);
    }
    return fetch(url.toString(), init)
      .catch(function (err) {
        if (err && err.name === "AbortError") throw err;
        throw dom.unreachable(url);
      })
      .then(function (resp) { return dom.readAnswer(resp, url); });
  }

  // ------------------------------------------------------------------ formatting
  function formatDistance(m) {
    if (typeof m !== "number" || !isFinite(m)) return "";
    if (m < 100) return Math.round(m) + " ม. · m";
    if (m < 1000) return Math.round(m / 10) * 10 + " ม. · m";
    if (m < 10000) return (m / 1000).toFixed(1) + " กม. · km";
    return Math.round(m / 1000).toLocaleString("en-US") + " กม. · km";
  }

  function compass(deg) {
    if (typeof deg !== "number" || !isFinite(deg)) return null;
    return COMPASS[Math.round((((deg % 360) + 360) % 360) / 45) % 8];
  }

  /** A trip's duration in seconds, rounded up to whole minutes: [Thai, English]. */
  function formatDuration(s) {
    if (typeof s !== "number" || !isFinite(s)) return ["", ""];
    var min = Math.max(1, Math.ceil(s / 60));
    if (min < 60) return [min + " นาที", min + " min"];
    var rest = min % 60;
    return [Math.floor(min / 60) + " ชม." + (rest ? " " + rest + " นาที" : ""),
      Math.floor(min / 60) + " h" + (rest ? " " + rest + " min" : "")];
  }

  function formatMinutes(min) {
    if (typeof min !== "number" || !isFinite(min)) return bi("ไม่ระบุ", "not stated");
    if (min >= 480) {
      var days = Math.round((min / 480) * 10) / 10;
      return bi(days + " วันทำการ", days + " working day" + (days === 1 ? "" : "s"));
    }
    if (min >= 60 && min % 60 === 0) {
      return bi(min / 60 + " ชั่วโมง", min / 60 + " h");
    }
    return bi(min + " นาที", min + " min");
  }

  function formatFee(fee) {
    if (fee === null || fee === undefined || fee === "") return bi("ขึ้นอยู่กับกรณี", "depends");
    var n = Number(fee);
    if (!isFinite(n)) return bi(str(fee), null);
    if (n === 0) return bi("ไม่เสียค่าธรรมเนียม", "free");
    return bi(n.toLocaleString("en-US") + " บาท", "THB");
  }

  function kindLabel(kind) {
    return dom.kindLabel(state.labels, kind);
  }

  function documentName(code) {
    var d = state.labels.documents[code];
    return d ? d.name_th : str(code);
  }

  function documentNameEn(code) {
    var d = state.labels.documents[code];
    return d ? d.name_en : str(code);
  }

  function bangkokDay() {
    try {
      var wd = new Intl.DateTimeFormat("en-US", { timeZone: "Asia/Bangkok", weekday: "short" })
        .format(new Date()).toLowerCase().slice(0, 3);
      return wd;
    } catch (e) {
      return DAYS[(new Date().getDay() + 6) % 7][0];
    }
  }

  function badge(cls, th, en, title) {
    return h("span", { class: "badge " + cls, title: title || null }, bi(th, en));
  }

  function copyBadge(offering) {
    if (!offering) return null;
    var copies = Array.isArray(offering.copies_required) ? offering.copies_required : [];
    if (offering.no_copy || copies.length === 0) {
      return badge("badge-nocopy", "ไม่ต้องใช้สำเนา", "No copies");
    }
    var th = copies.map(documentName).join(", ");
    var en = copies.map(documentNameEn).join(", ");
    var node = badge("badge-copies", "ต้องใช้สำเนา: " + th, null, "Copies needed: " + en);
    node.setAttribute("data-copies", copies.join(","));
    return node;
  }

  function accessBadges(p) {
    return [
      p.wheelchair ? badge("badge-access", "♿ รถเข็น", "Wheelchair") : null,
      p.priority_lane ? badge("badge-access", "ช่องทางพิเศษ", "Priority lane",
        "ช่องทางพิเศษสำหรับผู้สูงอายุและผู้พิการ · Priority lane for the elderly and disabled") : null,
      p.gecc ? badge("badge-gecc", "GECC", null,
        "ศูนย์ราชการสะดวก · Government Easy Contact Center certified") : null
    ];
  }

  function sourceBadge(source) {
    return source === "generated"
      ? badge("badge-generated", "ข้อมูลจำลอง", "Generated", "ไม่ใช่สำนักงานจริง · not a real office")
      : null;
  }

  function openBadge(p) {
    if (p.status === "temporarily_closed") return badge("badge-closed", "ปิดชั่วคราว", "Temporarily closed");
    if (p.status === "closed") return badge("badge-closed", "ปิดถาวร", "Closed");
    if (p.open_now === true) return badge("badge-open", "เปิดอยู่", "Open now");
    if (p.open_now === false) return badge("badge-shut", "ปิดอยู่ตอนนี้", "Closed now");
    return null;
  }

  // ------------------------------------------------------------------ the map
  // The map stays around Thailand, and reaches as far as it is asked to show: a shared
  // link's place, a route (wherever a road network is imported).
  var reach = L.latLngBounds([[-2, 88], [28, 115]]);
  var map = L.map("map", {
    minZoom: 5,
    maxZoom: 18,
    maxBounds: reach,
    maxBoundsViscosity: 0.7,
    zoomSnap: 0.5,
    zoomControl: false,
    attributionControl: false
  });
  map.fitBounds(THAILAND);
  L.control.zoom({ zoomInTitle: "ซูมเข้า · Zoom in", zoomOutTitle: "ซูมออก · Zoom out" }).addTo(map);

  // Two backgrounds: street tiles (the server's tile URL) when they load, and the
  // offline outlines (provinces; districts from zoom 9), fetched only when needed.
  var TILE_URL = body.getAttribute("data-tile-url") || "";
  var TILE_CREDIT = body.getAttribute("data-tile-attribution") || "";
  var TILE_TIMEOUT_MS = 15000; // no tile at all by then: the tile server does not answer
  var DISTRICT_ZOOM = 9;
  var tiles = TILE_URL ? L.tileLayer(TILE_URL, { maxZoom: 19 }) : null;
  var provinces = dom.provinceLayer();
  var districts = L.geoJSON(null, {
    renderer: L.canvas({ padding: 0.4 }),
    interactive: false,
    style: function () { return { color: "#b4bdca", weight: 0.6, opacity: 0.8, fill: false }; }
  });
  var offline = L.layerGroup([provinces]);
  var outlines = { provinces: null, districts: null }; // promises, once fetched

  function loadOutlines(which, layer, th, en) {
    if (!outlines[which]) {
      outlines[which] = api("/v1/areas/" + (which === "provinces" ? "province" : "district"))
        .then(function (fc) {
          layer.addData(fc);
          body.setAttribute("data-" + which, String(layer.getLayers().length));
        }).catch(function (err) {
          body.setAttribute("data-" + which, "error");
          showError(err, th, en);
        });
    }
    return outlines[which];
  }

  function syncDistricts() {
    var wanted = map.hasLayer(offline) && map.getZoom() >= DISTRICT_ZOOM;
    if (wanted) {
      loadOutlines("districts", districts, "โหลดขอบเขตอำเภอไม่ได้", "District outlines are unavailable");
      offline.addLayer(districts);
    } else {
      offline.removeLayer(districts);
    }
  }
  map.on("zoomend", syncDistricts);

  // Credits for whichever background is shown, as its licence asks (built from DOM nodes).
  var credits = h("div", { class: "leaflet-control credits" });
  var Credits = L.Control.extend({ onAdd: function () { return credits; } });
  new Credits({ position: "bottomright" }).addTo(map);
  function showCredits(note) {
    clear(credits);
    if (tiles && map.hasLayer(tiles)) {
      append(credits, /openstreetmap/i.test(TILE_CREDIT)
        ? h("a", { href: "https://www.openstreetmap.org/copyright", target: "_blank",
          rel: "noopener noreferrer", text: TILE_CREDIT })
        : TILE_CREDIT);
    } else {
      append(credits, note ? bi(note[0], note[1]) : null, note ? " · " : null, "Natural Earth");
    }
  }

  // Falling back: every tile of the first view failed, or nothing loaded in time, or a
  // run of failures later (the connection went away). Tiles return when it comes back.
  var tileWatch = { loaded: 0, failed: 0, streak: 0, timer: null, auto: false };
  function showBackground(which, note) {
    var next = which === "tiles" ? tiles : offline;
    var prev = which === "tiles" ? offline : tiles;
    if (prev && map.hasLayer(prev)) map.removeLayer(prev);
    if (next && !map.hasLayer(next)) next.addTo(map);
    showCredits(note);
  }
  function fallBack() {
    tileWatch.auto = true;
    showBackground("offline", ["โหลดแผนที่ถนนไม่ได้", "Street map unavailable"]);
  }
  offline.on("add", function () {
    body.setAttribute("data-basemap", "offline");
    loadOutlines("provinces", provinces, "โหลดขอบเขตจังหวัดไม่ได้", "Province outlines are unavailable");
    syncDistricts();
  });
  if (tiles) {
    tiles.on("add", function () {
      tileWatch.loaded = tileWatch.failed = tileWatch.streak = 0;
      body.setAttribute("data-basemap", "tiles-pending");
      clearTimeout(tileWatch.timer);
      tileWatch.timer = setTimeout(function () {
        if (!tileWatch.loaded && map.hasLayer(tiles)) fallBack();
      }, TILE_TIMEOUT_MS);
    });
    tiles.on("remove", function () { clearTimeout(tileWatch.timer); });
    tiles.on("tileload", function () {
      tileWatch.loaded++;
      tileWatch.streak = 0;
      body.setAttribute("data-basemap", "tiles");
    });
    tiles.on("tileerror", function () {
      tileWatch.failed++;
      tileWatch.streak++;
      if ((!tileWatch.loaded && tileWatch.failed >= 3) || tileWatch.streak >= 8) fallBack();
    });
    tiles.on("load", function () { // every tile in view has answered
      if (!tileWatch.loaded && map.hasLayer(tiles)) fallBack();
    });
    window.addEventListener("online", function () {
      if (tileWatch.auto) showBackground("tiles");
    });
    var layers = L.control.layers({
      "แผนที่ถนน · Street map": tiles,
      "ขอบเขตจังหวัด (ออฟไลน์) · Province outlines (offline)": offline
    }, null, { position: "topright" }).addTo(map);
    var toggle = layers.getContainer().querySelector(".leaflet-control-layers-toggle");
    if (toggle) {
      toggle.setAttribute("title", "ชั้นแผนที่ · Map layers");
      toggle.setAttribute("aria-label", "ชั้นแผนที่ · Map layers");
    }
    map.on("baselayerchange", function () {
      tileWatch.auto = false; // the citizen chose
      showCredits();
    });
  }
  showBackground(tiles && navigator.onLine !== false ? "tiles" : "offline");
  L.control.scale({ imperial: false, position: "bottomleft" }).addTo(map);

  var routeLayer = L.layerGroup().addTo(map);
  var resultLayer = L.layerGroup().addTo(map);
  var originLayer = L.layerGroup().addTo(map);

  function allow(bounds) {
    if (reach.contains(bounds)) return;
    reach = L.latLngBounds(reach.getSouthWest(), reach.getNorthEast()).extend(bounds).pad(0.05);
    map.setMaxBounds(reach);
  }

  map.on("click", function (e) {
    setOrigin(e.latlng.lat, e.latlng.lng);
  });

  /** fitBounds options that keep markers clear of the controls in the map's corners. */
  function fitOptions() {
    function corner(v, hz) {
      var c = map.getContainer().querySelector(".leaflet-" + v + ".leaflet-" + hz);
      return c ? c.getBoundingClientRect().height : 0;
    }
    var room = 20; // a marker's radius (17 px when selected) and a little air
    return {
      paddingTopLeft: [room, Math.max(corner("top", "left"), corner("top", "right")) + room],
      paddingBottomRight: [room, Math.max(corner("bottom", "left"), corner("bottom", "right")) + room],
      maxZoom: 15
    };
  }

  // ------------------------------------------------------------------ filters
  function loadServices() {
    return api("/v1/services").then(function (answer) {
      var select = $("service");
      var list = Array.isArray(answer.services) ? answer.services : [];
      var groups = {};
      var order = [];
      list.forEach(function (s) {
        state.services[s.code] = s;
        var cat = str(s.category) || "other";
        if (!groups[cat]) {
          var label = CATEGORIES[cat] ? CATEGORIES[cat][0] + " · " + CATEGORIES[cat][1] : cat;
          groups[cat] = h("optgroup", { label: label });
          order.push(cat);
        }
        groups[cat].appendChild(h("option", { value: s.code, text: str(s.name_th) + " · " + str(s.name_en) }));
      });
      order.forEach(function (cat) { select.appendChild(groups[cat]); });
      select.setAttribute("data-loaded", String(list.length));
    }).catch(function (err) {
      showError(err, "โหลดรายการบริการไม่ได้", "The list of services is unavailable");
    });
  }

  function loadLabels() {
    return api("/app/labels.json").then(function (labels) {
      if (labels && labels.kinds) state.labels.kinds = labels.kinds;
      if (labels && labels.documents) state.labels.documents = labels.documents;
    }).catch(function () { /* names fall back to codes */ });
  }

  function maxK() {
    return parseInt(body.getAttribute("data-max-k"), 10) || 100;
  }

  function readK() {
    var input = $("k");
    var k = parseInt(input.value, 10);
    if (!isFinite(k) || k < 1) k = parseInt(body.getAttribute("data-default-k"), 10) || 10;
    k = Math.min(k, maxK());
    if (String(k) !== input.value) input.value = String(k);
    return k;
  }

  function syncNoCopy() {
    // Without a service, no_copy means "no service at this point needs photocopies".
    $("no_copy-hint").hidden = !!$("service").value || !$("no_copy").checked;
  }

  /** The chosen service's whole name under the dropdown, which a phone cuts short. */
  function syncServiceName() {
    var s = state.services[$("service").value];
    var box = $("service-chosen");
    clear(box);
    box.hidden = !s;
    if (!s) return;
    append(box, h("span", { class: "chosen-th", text: str(s.name_th) }),
      h("span", { class: "en chosen-en", text: str(s.name_en) }));
    if (typeof s.points === "number" && typeof s.no_copy_points === "number") {
      var n = s.points.toLocaleString("en-US");
      var free = s.no_copy_points.toLocaleString("en-US");
      append(box, h("span", { class: "chosen-count" },
        bi("มีให้บริการ " + n + " แห่ง ไม่ต้องใช้สำเนา " + free + " แห่ง",
          "offered at " + n + " points, " + free + " need no photocopies")));
    }
  }

  /** Every filter that is set, in words: [Thai words, English words]. */
  function filterWords() {
    var th = [];
    var en = [];
    var svc = state.services[$("service").value];
    if (svc) {
      th.push("บริการ " + str(svc.name_th));
      en.push("for " + str(svc.name_en));
    }
    FLAGS.forEach(function (flag) {
      if (!$(flag).checked) return;
      var words = flag === "no_copy" && !svc ? FLAG_WORDS.no_copy_any : FLAG_WORDS[flag];
      th.push(words[0]);
      en.push(words[1]);
    });
    return th.length ? [th, en] : [["ไม่มีตัวกรอง"], ["no filters"]];
  }

  /** The page's state as the address shows it (k, q, lat, lon, service, flags). */
  function pageParams() {
    var params = { k: readK() };
    if (state.mode === "name") params.q = state.q;
    if (state.origin) {
      params.lat = state.origin.lat.toFixed(6);
      params.lon = state.origin.lon.toFixed(6);
    }
    var service = $("service").value;
    if (service) params.service = service;
    FLAGS.forEach(function (flag) {
      if ($(flag).checked) params[flag] = "true";
    });
    return params;
  }

  /** The same, as the API wants it: nearest takes k, the name search a limit. */
  function apiParams(params) {
    var out = {};
    Object.keys(params).forEach(function (key) { out[key] = params[key]; });
    if (state.mode === "name") {
      out.limit = out.k;
      delete out.k;
    } else {
      Object.keys(RANK).forEach(function (key) { out[key] = RANK[key]; });
    }
    return out;
  }

  function updateUrl() {
    var url = new URL(window.location.href);
    ["q", "lat", "lon", "k", "service", "point", "center", "zoom"].concat(FLAGS).forEach(function (key) {
      url.searchParams.delete(key);
    });
    if (state.origin || state.mode === "name") {
      var params = pageParams();
      Object.keys(params).forEach(function (key) { url.searchParams.set(key, params[key]); });
    }
    if (state.selectedId !== null) url.searchParams.set("point", String(state.selectedId));
    try { window.history.replaceState(null, "", url.toString()); } catch (e) { /* file:// */ }
  }

  // ------------------------------------------------------------------ search
  function originIcon() {
    return L.divIcon({
      className: "origin-marker",
      html: h("span", { class: "origin-dot" }),
      iconSize: [22, 22],
      iconAnchor: [11, 11]
    });
  }

  /** A point on the map to search from: nearest mode (the name box is for names). */
  function setOrigin(lat, lon, quiet) {
    state.origin = { lat: lat, lon: lon };
    originLayer.clearLayers();
    var marker = L.marker([lat, lon], {
      icon: originIcon(),
      draggable: true,
      keyboard: false,
      zIndexOffset: 1000,
      title: "จุดที่คุณเลือก · Your point (drag to move)"
    }).addTo(originLayer);
    marker.on("dragend", function () {
      var p = marker.getLatLng();
      setOrigin(p.lat, p.lng);
    });
    if (!quiet) {
      useNearest();
      search();
    }
  }

  /** Back to "nearest to the chosen point": the name box is emptied. */
  function useNearest() {
    state.mode = "nearest";
    state.q = "";
    $("q").value = "";
    $("q").removeAttribute("aria-invalid");
  }

  /** The name search box: its words, ordered by distance when a point is chosen. */
  function searchByName() {
    var q = $("q").value.trim();
    $("q").removeAttribute("aria-invalid");
    if (!q) {
      setStatus("info", "พิมพ์ชื่อที่ต้องการค้นหา", "Type a name to search for");
      $("q").focus();
      return Promise.resolve();
    }
    state.mode = "name";
    state.q = q;
    return search();
  }

  /** Run the current search (nearest, or by name) with the filters; show it. */
  function search() {
    var byName = state.mode === "name";
    if (!byName && !state.origin) {
      setStatus("info", "แตะบนแผนที่เพื่อเลือกจุดค้นหา", "Tap the map to choose where to search from");
      return Promise.resolve();
    }
    var seq = ++state.searchSeq;
    if (state.controller) state.controller.abort();
    state.selectedId = null; // a new search closes the open point
    state.detailSeq++;
    clearRoute();
    var controller = new AbortController();
    state.controller = controller;
    var params = pageParams();
    updateUrl();
    body.setAttribute("data-state", "searching");
    $("results").setAttribute("aria-busy", "true");
    if (byName) setStatus("busy", "กำลังค้นหา “" + state.q + "”…", "Searching for “" + state.q + "”…");
    else setStatus("busy", "กำลังค้นหาจุดบริการที่ใกล้ที่สุด…", "Searching for the nearest service points…");
    var path = byName ? "/v1/points/search" : "/v1/points/nearest";
    var asked = api(path, apiParams(params), controller.signal);
    return Promise.all([asked, labelsReady]).then(function (both) {
      if (seq !== state.searchSeq) return;
      renderResults(both[0], params);
    }).catch(function (err) {
      if (err && err.name === "AbortError") return;
      if (seq !== state.searchSeq) return;
      renderResults({ results: [] }, params, true);
      body.setAttribute("data-state", "error");
      if (byName && err.status === 422) {
        $("q").setAttribute("aria-invalid", "true");
        showError(err, "ค้นหาด้วยคำนี้ไม่ได้: พิมพ์อย่างน้อยหนึ่งคำที่ยาว 3 ตัวอักษรขึ้นไป",
          "This cannot be searched: type at least one word of 3 or more letters");
      } else {
        showError(err, "ค้นหาไม่สำเร็จ", "Search failed");
      }
    }).then(function () {
      if (seq === state.searchSeq) $("results").removeAttribute("aria-busy");
    });
  }

  function numberIcon(n, selected) {
    return L.divIcon({
      className: "num-marker" + (selected ? " selected" : ""),
      html: h("span", { text: String(n) }),
      iconSize: [28, 28],
      iconAnchor: [14, 14]
    });
  }

  /** What was found, and with which filters, in words. */
  function resultStatus(answer, count) {
    var words = filterWords();
    var filters = [" · " + words[0].join(" · "), " · " + words[1].join(" · ")];
    if (state.mode === "name") {
      var q = "“" + state.q + "”";
      if (!count) {
        setStatus("info", "ไม่พบชื่อที่ตรงกับ " + q + filters[0] + " ลองสะกดแบบอื่นหรือลดตัวกรอง",
          "No name matches " + q + filters[1] + "; try another spelling or fewer filters");
        return;
      }
      var more = answer.truncated ? [" (ยังมีอีก พิมพ์ให้เจาะจงขึ้น)", " (more match: type more of the name)"] : ["", ""];
      var near = state.origin ? [" เรียงจากใกล้ไปไกล", ", nearest first"] : ["", ""];
      setStatus("ok", "พบ " + count + " แห่งที่ชื่อตรงกับ " + q + near[0] + filters[0] + more[0],
        count + " named like " + q + near[1] + filters[1] + more[1]);
    } else if (!count) {
      setStatus("info", "ไม่พบจุดบริการที่ตรงกับเงื่อนไข" + filters[0] + " ลองลดเงื่อนไขหรือเลือกจุดอื่น",
        "No service point matches" + filters[1] + "; try fewer filters or another place");
    } else {
      var ranked = rankingWords(answer.ranking);
      setStatus("ok", "พบ " + count + " แห่งที่ใกล้ที่สุด" + filters[0] + ranked[0],
        count + " nearest service points" + filters[1] + ranked[1]);
    }
  }

  /** How the nearest answer is ordered, in words: [Thai, English] (empty by distance). */
  function rankingWords(ranking) {
    if (!ranking || ranking.by !== "travel_time") return ["", ""];
    if (ranking.estimate_code === "far_from_road") {
      // no trip can start here: the API kept the distance order and says how far the road is
      var far = Math.round(Number(ranking.origin_snap_distance_m) || 0);
      return [" · เรียงตามระยะทาง: จุดที่เลือกอยู่ห่างถนน " + far + " ม.",
        " · ordered by distance: the chosen point is " + far + " m from the nearest road"];
    }
    if (ranking.estimate_code === "engine_unavailable" || ranking.estimate_code === "engine_error") {
      return [" · เรียงตามระยะทาง: ระบบหาเส้นทางไม่ตอบในขณะนี้",
        " · ordered by distance: the routing engine does not answer just now"];
    }
    var mode = ROUTE_MODES[ranking.mode] || ROUTE_MODES.drive;
    if (ranking.method === "straight_line") {
      return [" · เรียงตามเวลาเดินทางโดยประมาณจากระยะทางเส้นตรง (ยังไม่มีข้อมูลถนนบริเวณนี้)",
        " · ordered by an estimated travel time " + mode.by[1] + ", in a straight line (" +
        str(ranking.estimate_reason) + ")"];
    }
    return [" · เรียงตามเวลาเดินทาง (" + mode.by[0] + ")", " · ordered by travel time " + mode.by[1]];
  }

  function renderResults(answer, params, failed) {
    var results = Array.isArray(answer.results) ? answer.results : [];
    state.results = results;
    state.markers = {};
    resultLayer.clearLayers();
    var list = $("results");
    clear(list);
    showView("results");

    var bounds = L.latLngBounds([]);
    if (state.origin) bounds.extend([state.origin.lat, state.origin.lon]);
    results.forEach(function (p, i) {
      var n = i + 1;
      list.appendChild(resultItem(p, n, !!params.service));
      if (typeof p.lat === "number" && typeof p.lon === "number") {
        var tip = h("span", { class: "tip" }, h("strong", { text: n + ". " + str(p.name_th) }),
          h("br"), h("span", { class: "en", text: str(p.name_en) }));
        var marker = L.marker([p.lat, p.lon], {
          icon: numberIcon(n, p.id === state.selectedId),
          title: n + ". " + str(p.name_th) + " · " + str(p.name_en),
          alt: String(n),
          riseOnHover: true
        }).bindTooltip(tip, { direction: "top", offset: [0, -14] });
        marker.on("click", function () { selectPoint(p.id); }); // Enter on a marker too
        marker.addTo(resultLayer);
        state.markers[p.id] = { marker: marker, n: n };
        bounds.extend([p.lat, p.lon]);
      }
    });

    $("count").textContent = failed ? "" : "(" + results.length + ")";
    if (failed) return;
    body.setAttribute("data-state", "results");
    resultStatus(answer, results.length);
    if (results.length && bounds.isValid()) map.fitBounds(bounds, fitOptions());
  }

  function resultItem(p, n, withService) {
    var arrow = null;
    var dir = compass(p.bearing_deg);
    if (dir) {
      arrow = h("span", { class: "bearing", title: "ทิศ" + dir[0] + " · " + dir[1] },
        h("span", { class: "arrow", "aria-hidden": "true", text: "↑" }), " " + dir[1]);
      arrow.firstChild.style.transform = "rotate(" + Math.round(p.bearing_deg) + "deg)";
    }
    var button = h("button", { type: "button", class: "result-main" },
      h("span", { class: "num", text: String(n) }),
      h("span", { class: "result-body" },
        h("span", { class: "name-th", text: str(p.name_th) }),
        h("span", { class: "name-en", text: str(p.name_en) }),
        h("span", { class: "meta" },
          h("span", { class: "distance", text: formatDistance(p.distance_m) }),
          arrow,
          h("span", { class: "kind" }, kindLabel(p.kind)),
          travelLabel(p.travel)),
        h("span", { class: "badges" },
          openBadge(p),
          withService ? copyBadge(p.offering) : null,
          accessBadges(p))));
    button.addEventListener("click", function () { selectPoint(p.id); });
    var li = h("li", {
      class: "result" + (p.id === state.selectedId ? " selected" : ""),
      "data-id": str(p.id),
      "data-distance-m": typeof p.distance_m === "number" ? String(p.distance_m) : ""
    }, button);
    return li;
  }

  /** A result's trip (rank=travel_time): "≈" and a title when it is an estimate. */
  function travelLabel(travel) {
    if (!travel || typeof travel.duration_s !== "number") return null;
    var time = formatDuration(travel.duration_s);
    var estimate = travel.method !== "osrm";
    return h("span", {
      class: "travel" + (estimate ? " travel-estimate" : ""),
      title: estimate
        ? "ประมาณจากระยะทางเส้นตรง · estimated in a straight line, not on the roads"
        : "เวลาเดินทางบนถนน · travel time on the roads"
    }, (estimate ? "≈ " : "") + time[0] + " · " + time[1]);
  }

  // ------------------------------------------------------------------ details
  function showView(which) {
    $("results-view").hidden = which !== "results";
    $("details-view").hidden = which !== "details";
  }

  function highlight(id) {
    Array.prototype.forEach.call($("results").children, function (li) {
      li.classList.toggle("selected", li.getAttribute("data-id") === String(id));
    });
    Object.keys(state.markers).forEach(function (key) {
      var m = state.markers[key];
      m.marker.setIcon(numberIcon(m.n, String(key) === String(id)));
    });
  }

  function selectPoint(id) {
    state.selectedId = id;
    highlight(id);
    var m = state.markers[id];
    if (m) map.panTo(m.marker.getLatLng());
    showDetails(id);
  }

  function showDetails(id) {
    var seq = ++state.detailSeq;
    clearRoute();
    var box = $("details");
    clear(box);
    box.appendChild(h("p", { class: "loading" }, bi("กำลังโหลดรายละเอียด…", "Loading details…")));
    showView("details");
    updateUrl();
    body.setAttribute("data-state", "details-loading");
    return Promise.all([api("/v1/points/" + encodeURIComponent(String(id))), labelsReady]).then(function (both) {
      var p = both[0];
      if (seq !== state.detailSeq) return;
      renderDetails(p);
      body.setAttribute("data-state", "details");
      $("back").focus({ preventScroll: true });
      $("details-view").scrollIntoView({ block: "start" });
    }).catch(function (err) {
      if (seq !== state.detailSeq) return;
      clear(box);
      body.setAttribute("data-state", "error");
      showError(err, "โหลดรายละเอียดไม่ได้", "Could not load the details");
    });
  }

  function section(th, en) {
    var s = h("section", { class: "d-section" }, h("h3", null, bi(th, en)));
    for (var i = 2; i < arguments.length; i++) append(s, arguments[i]);
    return s;
  }

  function hoursTable(hours) {
    var weekly = hours && hours.weekly ? hours.weekly : null;
    if (!weekly) return h("p", null, bi("ไม่มีข้อมูลเวลาทำการ", "No opening hours given"));
    var today = bangkokDay();
    var rows = DAYS.map(function (d) {
      var spans = Array.isArray(weekly[d[0]]) ? weekly[d[0]] : [];
      var text = spans.length
        ? spans.map(function (iv) { return str(iv[0]) + "–" + str(iv[1]); }).join(", ")
        : null;
      return h("tr", { class: d[0] === today ? "today" : null },
        h("th", { scope: "row" }, bi(d[1], d[2])),
        h("td", null, text ? h("span", { class: "times", text: text }) : bi("ปิด", "closed", "closed")));
    });
    var table = h("table", { class: "hours" }, h("tbody", null, rows));
    var notes = [];
    if (hours.note_th || hours.note_en) {
      notes.push(h("p", { class: "note" }, bi(str(hours.note_th), str(hours.note_en))));
    }
    return [table, notes];
  }

  function safeLink(url) {
    // Only plain web links from the catalogue become clickable (never javascript: etc.).
    return /^https?:\/\//i.test(str(url)) ? str(url) : null;
  }

  function serviceBlock(s, selected) {
    var docs = Array.isArray(s.documents) ? s.documents : [];
    var copies = Array.isArray(s.copies_required) ? s.copies_required : [];
    var steps = Array.isArray(s.steps) ? s.steps : [];
    var status = s.no_copy || copies.length === 0
      ? badge("badge-nocopy", "ไม่ต้องใช้สำเนา", "No copies")
      : badge("badge-copies", "ต้องใช้สำเนา " + copies.length + " รายการ",
        copies.length + (copies.length === 1 ? " copy" : " copies"));
    var docList = h("ul", { class: "docs" }, docs.map(function (d) {
      return h("li", { class: d.copy_required ? "doc doc-copy" : "doc", "data-code": str(d.code) },
        h("span", { class: "doc-name" }, bi(str(d.name_th), str(d.name_en)),
          d.note ? h("span", { class: "doc-note", text: str(d.note) }) : null),
        d.copy_required
          ? badge("badge-copies", "ต้องใช้สำเนา", "copy needed")
          : badge("badge-nocopy", "ไม่ต้องใช้สำเนา", "no copy"));
    }));
    var feeNote = s.fee_note_th || s.fee_note_en
      ? h("p", { class: "fee-note" }, bi(str(s.fee_note_th), str(s.fee_note_en)))
      : null;
    var link = safeLink(s.link);
    var block = h("details", { class: "service" + (selected ? " selected" : ""), "data-code": str(s.code) },
      h("summary", null,
        h("span", { class: "svc-name" }, bi(str(s.name_th), str(s.name_en))),
        status),
      h("dl", { class: "facts" },
        h("dt", null, bi("ระยะเวลา", "Time")), h("dd", null, formatMinutes(s.processing_minutes)),
        h("dt", null, bi("ค่าธรรมเนียม", "Fee")), h("dd", null, formatFee(s.fee_thb)),
        s.no_copy && s.no_copy_since
          ? [h("dt", null, bi("ไม่ใช้สำเนาตั้งแต่", "No copies since")),
            h("dd", { text: str(s.no_copy_since) })]
          : null),
      feeNote,
      docs.length
        ? [h("h4", null, bi("เอกสารที่ต้องใช้", "Documents")), docList]
        : h("p", { class: "muted" }, bi("ไม่ต้องใช้เอกสาร", "No documents needed")),
      steps.length
        ? [h("h4", null, bi("ขั้นตอน", "Steps")), h("ol", { class: "steps" }, steps.map(function (st) {
          return h("li", null, bi(str(st.th), str(st.en)),
            typeof st.minutes === "number"
              ? h("span", { class: "muted step-time", text: st.minutes + " นาที · min" })
              : null);
        }))]
        : null,
      s.notes ? h("p", { class: "note svc-note", text: str(s.notes) }) : null,
      link
        ? h("p", { class: "svc-link" }, h("a", { href: link, target: "_blank", rel: "noopener noreferrer" },
          bi("คู่มือสำหรับประชาชน", "Citizen's Manual")))
        : null);
    if (selected) block.open = true;
    return block;
  }

  function stars(score) {
    var n = Math.max(0, Math.min(5, Math.round(Number(score) || 0)));
    return "★★★★★".slice(0, n) + "☆☆☆☆☆".slice(0, 5 - n);
  }

  function ratingSummary(rating, services) {
    rating = rating || {};
    var names = {};
    (services || []).forEach(function (s) { names[s.code] = s; });
    var out = [];
    if (rating.count) {
      out.push(h("p", { class: "rating" },
        h("span", { class: "stars", text: "★ " + Number(rating.average).toFixed(1) }), " ",
        bi("จาก " + rating.count + " ความเห็น", "from " + rating.count + " rating" + (rating.count === 1 ? "" : "s"))));
    } else {
      out.push(h("p", { class: "muted" }, bi("ยังไม่มีคะแนน", "No ratings yet")));
    }
    var recent = Array.isArray(rating.recent) ? rating.recent : [];
    if (recent.length) {
      out.push(h("ul", { class: "comments" }, recent.map(function (r) {
        var when = str(r.created_at).slice(0, 10);
        var svc = r.service && names[r.service] ? names[r.service].name_th : r.service;
        return h("li", { class: "comment" },
          h("span", { class: "comment-head" },
            h("span", { class: "stars", text: stars(r.score), title: r.score + "/5" }),
            h("span", { class: "muted", text: " " + when + (svc ? " · " + str(svc) : "") })),
          r.comment ? h("span", { class: "comment-text", text: str(r.comment) }) : null);
      })));
    }
    return out;
  }

  function ratingForm(p, summaryBox) {
    var maxLen = parseInt(body.getAttribute("data-max-comment"), 10) || 1000;
    var scoreBoxes = [1, 2, 3, 4, 5].map(function (n) {
      return h("label", { class: "score" },
        h("input", { type: "radio", name: "score", value: String(n), required: true }),
        h("span", { "aria-hidden": "true", text: n + "★" }),
        h("span", { class: "sr-only", text: n + " ดาว · " + n + (n === 1 ? " star" : " stars") }));
    });
    var serviceSelect = h("select", { name: "service", id: "rate-service", class: "rate-service" },
      h("option", { value: "", text: "— ไม่ระบุ · not said —" }),
      (p.services || []).map(function (s) {
        return h("option", { value: str(s.code), text: str(s.name_th) + " · " + str(s.name_en) });
      }));
    var chosen = $("service").value;
    if (chosen && (p.services || []).some(function (s) { return s.code === chosen; })) {
      serviceSelect.value = chosen;
    }
    var comment = h("textarea", {
      name: "comment", id: "rate-comment", rows: "3", maxlength: String(maxLen), class: "rate-comment"
    });
    var submit = h("button", { type: "submit", class: "btn btn-primary" }, bi("ส่งคะแนน", "Send"));
    var form = h("form", { class: "rate-form", novalidate: true },
      h("fieldset", { class: "scores" },
        h("legend", null, bi("คะแนน", "Score")), scoreBoxes),
      h("label", { class: "field-label", for: "rate-service" },
        bi("บริการที่ใช้ (ไม่บังคับ)", "Service used (optional)")),
      serviceSelect,
      h("label", { class: "field-label", for: "rate-comment" },
        bi("ความเห็น (ไม่บังคับ)", "Comment (optional)")),
      comment, h("div", { class: "row" }, submit));
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var picked = form.querySelector("input[name=score]:checked");
      if (!picked) {
        showError(new Error("choose a score from 1 to 5"), "กรุณาเลือกคะแนน", "Please choose a score");
        return;
      }
      var rating = { score: Number(picked.value) };
      if (comment.value.trim()) rating.comment = comment.value;
      if (serviceSelect.value) rating.service = serviceSelect.value;
      submit.disabled = true;
      setStatus("busy", "กำลังส่งคะแนน…", "Sending your rating…");
      api("/v1/points/" + encodeURIComponent(String(p.id)) + "/ratings", null, undefined, rating)
        .then(function (created) {
          form.reset();
          clear(summaryBox);
          append(summaryBox, ratingSummary(created.summary, p.services));
          setStatus("ok", "ขอบคุณสำหรับคะแนน", "Thank you for your rating");
        })
        .catch(function (err) {
          showError(err, "ส่งคะแนนไม่สำเร็จ", "Could not send the rating");
        })
        .then(function () { submit.disabled = false; });
    });
    return form;
  }

  function renderDetails(p) {
    var box = $("details");
    clear(box);
    var fromList = null;
    state.results.forEach(function (r) { if (r.id === p.id) fromList = r; });

    box.appendChild(h("header", { class: "d-head" },
      h("h2", { class: "d-name", text: str(p.name_th) }),
      h("p", { class: "d-name-en", text: str(p.name_en) }),
      h("p", { class: "d-kind" }, kindLabel(p.kind),
        fromList ? h("span", { class: "distance", text: " · " + formatDistance(fromList.distance_m) }) : null),
      h("div", { class: "badges" }, sourceBadge(p.source), openBadge(p), accessBadges(p))));

    var generated = p.source === "generated";
    if (generated) {
      box.appendChild(h("p", { class: "generated-note", "data-source": "generated" },
        bi("จุดบริการนี้สร้างขึ้นเพื่อการสาธิต ไม่ใช่สำนักงานจริง ชื่อ ตำแหน่ง เบอร์โทร เวลาทำการ และบริการเป็นข้อมูลจำลอง",
          "This point was generated for the demo and is not a real office: its name, place, " +
          "phones, hours and services are made up.")));
    } else if (p.provenance && p.provenance.phones === "synthetic") {
      // a real office: its name and pin are real, but no public source gives its phones,
      // hours or No-Copy status, and the demo made them up
      box.appendChild(h("p", { class: "generated-note", "data-source": "partly-synthetic" },
        bi("ชื่อและตำแหน่งเป็นข้อมูลจริง แต่เบอร์โทร เวลาทำการ และสถานะไม่ต้องใช้สำเนาเป็นข้อมูลจำลองเพื่อการสาธิต",
          "The name and place are real; the phones, hours and No-Copy status are made up for " +
          "the demo.")));
    }

    if (p.agency) {
      box.appendChild(section("หน่วยงาน", "Agency",
        h("p", null, bi(str(p.agency.name_th), str(p.agency.name_en)))));
    }

    var addr = [];
    var postcode = str(p.postcode);
    if (p.address_th) {
      var th = str(p.address_th);
      addr.push(h("p", { text: postcode && th.indexOf(postcode) < 0 ? th + " " + postcode : th }));
    }
    if (p.address_en) addr.push(h("p", { class: "en", text: str(p.address_en) }));
    if (typeof p.lat === "number" && typeof p.lon === "number") {
      var dir = "https://www.openstreetmap.org/directions?route=" +
        (state.origin ? state.origin.lat.toFixed(5) + "%2C" + state.origin.lon.toFixed(5) : "") +
        "%3B" + p.lat.toFixed(5) + "%2C" + p.lon.toFixed(5);
      addr.push(h("p", null, h("a", { href: dir, target: "_blank", rel: "noopener noreferrer", class: "ext" },
        bi("เส้นทาง (OpenStreetMap)", "Directions"))));
    }
    box.appendChild(section("ที่อยู่", "Address", addr));
    if (typeof p.lat === "number" && typeof p.lon === "number") box.appendChild(routeSection(p));

    var phones = Array.isArray(p.phones) ? p.phones : [];
    var madeUpPhones = generated || !!(p.provenance && p.provenance.phones === "synthetic");
    // A made-up number is not a link: nobody should be rung by a demo.
    box.appendChild(section("โทรศัพท์", "Phone", phones.length
      ? h("ul", { class: "phones" }, phones.map(function (ph) {
        if (madeUpPhones) {
          return h("li", { class: "tel tel-generated" }, "☎ ", str(ph), " ",
            bi("(จำลอง)", "(generated)"));
        }
        var digits = str(ph).replace(/[^0-9+]/g, "");
        return h("li", null, h("a", { href: "tel:" + digits, class: "tel" }, "☎ ", str(ph)));
      }))
      : h("p", { class: "muted" }, bi("ไม่มีหมายเลขโทรศัพท์", "No phone number"))));

    box.appendChild(section("เวลาทำการ", "Opening hours (Asia/Bangkok)", hoursTable(p.opening_hours)));

    var summaryBox = h("div", { class: "rating-summary" }, ratingSummary(p.rating, p.services));
    var ratingSection = section("ความพึงพอใจ", "Ratings", summaryBox);

    var services = Array.isArray(p.services) ? p.services.slice() : [];
    var chosen = $("service").value;
    services.sort(function (a, b) {
      return (b.code === chosen) - (a.code === chosen);
    });
    var noCopyCount = services.filter(function (s) {
      return s.no_copy || !(s.copies_required && s.copies_required.length);
    }).length;
    box.appendChild(section("บริการ", "Services",
      h("p", { class: "muted" }, bi(
        "ไม่ต้องใช้สำเนา " + noCopyCount + " จาก " + services.length + " บริการ",
        noCopyCount + " of " + services.length + " need no photocopies")),
      services.map(function (s) { return serviceBlock(s, s.code === chosen); })));

    box.appendChild(ratingSection);
    box.appendChild(section("ให้คะแนนหลังใช้บริการ", "Rate this office after your visit",
      ratingForm(p, summaryBox)));

    var source = SOURCES[p.source];
    box.appendChild(section("ที่มาของข้อมูล", "Where this comes from",
      h("p", { "data-source": str(p.source) }, source ? bi(source[0], source[1]) : bi(str(p.source), null)),
      p.updated_at
        ? h("p", { class: "muted" }, bi("ปรับปรุงล่าสุด " + str(p.updated_at).slice(0, 10),
          "last updated " + str(p.updated_at).slice(0, 10)))
        : null));
  }

  // ------------------------------------------------------------------ route
  function clearRoute() {
    state.routeSeq++;
    routeLayer.clearLayers();
    body.removeAttribute("data-route");
  }

  /** "Route here": by car or on foot, from the chosen point (GET /v1/route). */
  function routeSection(p) {
    var result = h("div", { class: "route-result", id: "route-result" });
    var buttons = ["drive", "walk"].map(function (mode) {
      var words = ROUTE_MODES[mode];
      var button = h("button", {
        type: "button",
        class: "btn route-btn" + (mode === "drive" ? " btn-primary" : ""),
        "data-mode": mode
      }, bi(words.button[0], words.button[1]));
      button.addEventListener("click", function () { showRoute(p, mode, result); });
      return button;
    });
    var from = state.origin
      ? bi("จากจุดที่คุณเลือกบนแผนที่", "From the point you chose on the map")
      : bi("แตะบนแผนที่หรือกด “ตำแหน่งของฉัน” เพื่อเลือกจุดเริ่มต้น",
        "Tap the map or press “My location” to choose where you start");
    return section("เส้นทางไปที่นี่", "Route here",
      h("p", { class: "muted route-from" }, from),
      h("div", { class: "row route-buttons" }, buttons),
      result);
  }

  function showRoute(p, mode, result) {
    clear(result);
    if (!state.origin) {
      setStatus("info", "เลือกจุดเริ่มต้นก่อน: แตะบนแผนที่หรือกด “ตำแหน่งของฉัน”",
        "Choose where you start first: tap the map or press “My location”");
      return Promise.resolve();
    }
    var seq = ++state.routeSeq;
    var origin = state.origin;
    routeLayer.clearLayers();
    body.setAttribute("data-route", "loading");
    result.setAttribute("aria-busy", "true");
    setStatus("busy", "กำลังหาเส้นทาง…", "Finding the route…");
    var params = {
      from: origin.lat.toFixed(6) + "," + origin.lon.toFixed(6),
      to: String(p.id),
      mode: mode
    };
    return api("/v1/route", params).then(function (route) {
      if (seq !== state.routeSeq) return;
      drawRoute(route, origin, p);
      renderRoute(result, route, mode);
    }).catch(function (err) {
      if (seq !== state.routeSeq) return;
      body.setAttribute("data-route", "error");
      showError(err, "หาเส้นทางไม่ได้", "Could not find a route");
    }).then(function () {
      result.removeAttribute("aria-busy");
    });
  }

  /** The line on the map; on roads, a dashed line from each end to where it joins them. */
  function drawRoute(route, origin, p) {
    var estimate = route.method === "straight_line";
    var coords = route.geometry && Array.isArray(route.geometry.coordinates) ? route.geometry.coordinates : [];
    var line = coords.map(function (c) { return [c[1], c[0]]; });
    if (line.length < 2) return;
    L.polyline(line, {
      className: "route-line" + (estimate ? " route-estimate" : ""),
      color: estimate ? "#8a5a00" : "#1f5fbf",
      weight: 5,
      opacity: 0.9,
      dashArray: estimate ? "10 8" : null,
      interactive: false
    }).addTo(routeLayer);
    var snapped = route.snapped || {};
    if (!estimate) {
      [[[origin.lat, origin.lon], snapped.from], [[p.lat, p.lon], snapped.to]].forEach(function (end) {
        if (!Array.isArray(end[1])) return;
        L.polyline([end[0], [end[1][1], end[1][0]]], {
          className: "route-snap", color: "#5c6677", weight: 3, dashArray: "4 6", interactive: false
        }).addTo(routeLayer);
      });
    }
    var bounds = L.latLngBounds(line).extend([origin.lat, origin.lon]).extend([p.lat, p.lon]);
    allow(bounds);
    map.fitBounds(bounds, fitOptions());
  }

  /** Time and distance; a straight-line estimate says plainly that it is one, and why. */
  function renderRoute(result, route, mode) {
    var words = ROUTE_MODES[route.mode] || ROUTE_MODES[mode];
    var estimate = route.method === "straight_line";
    var time = formatDuration(route.duration_s);
    var about = estimate ? ["ประมาณ ", "about "] : ["", ""];
    var distance = formatDistance(route.distance_m);
    result.setAttribute("data-method", str(route.method));
    append(result, h("p", { class: "route-summary" },
      h("strong", { class: "route-time" }, bi(about[0] + time[0], about[1] + time[1])),
      " · ", h("span", { class: "route-distance", text: distance }),
      " · ", bi(words.by[0], words.by[1])));
    if (estimate) {
      var e = route.estimate || {};
      var speed = typeof e.assumed_speed_kmh === "number" ? e.assumed_speed_kmh : null;
      append(result, h("div", { class: "route-estimate", "data-reason": str(e.reason) },
        h("p", null, h("strong", null,
          bi("ค่าประมาณจากระยะทางเส้นตรง ไม่ใช่เส้นทางบนถนน", "A straight-line estimate, not a road route"))),
        h("p", null, bi(
          "ยังไม่มีข้อมูลถนนที่ครอบคลุมบริเวณนี้" +
            (speed !== null ? " เวลาคิดจากความเร็วเฉลี่ย " + speed + " กม./ชม." : ""),
          "Why: " + str(e.reason) + "." +
            (speed !== null ? " The time assumes " + speed + " km/h; the way by road is longer." : "")))));
      setStatus("info", "เส้นทางโดยประมาณ (เส้นตรง): " + about[0] + time[0] + " · " + distance,
        "Straight-line estimate, not a road route: " + about[1] + time[1]);
    } else {
      var snap = route.snap_distance_m || {};
      var fromRoad = Math.round(Number(snap.from) || 0);
      var toRoad = Math.round(Number(snap.to) || 0);
      append(result, h("p", { class: "muted route-how" }, bi(
        "ตามถนน ต้นทางห่างถนน " + fromRoad + " ม. ที่ทำการห่างถนน " + toRoad + " ม.",
        "On the roads: the start is " + fromRoad + " m from a road, the office " + toRoad + " m")));
      setStatus("ok", words.title[0] + ": " + time[0] + " · " + distance, words.title[1] + ": " + time[1]);
    }
    body.setAttribute("data-route", str(route.method));
    result.scrollIntoView({ block: "nearest" });
  }

  // ------------------------------------------------------------------ wiring
  function onFiltersChanged() {
    syncNoCopy();
    syncServiceName();
    if (state.origin || state.mode === "name") search();
  }

  function locate() {
    if (!("geolocation" in navigator)) {
      showError(new Error("navigator.geolocation is not available"),
        "เบราว์เซอร์นี้หาตำแหน่งไม่ได้", "This browser cannot tell your location");
      return;
    }
    var button = $("locate");
    button.disabled = true;
    setStatus("busy", "กำลังหาตำแหน่งของคุณ…", "Finding your location…");
    navigator.geolocation.getCurrentPosition(function (pos) {
      button.disabled = false;
      setOrigin(pos.coords.latitude, pos.coords.longitude);
    }, function (err) {
      button.disabled = false;
      var why = {
        1: ["ไม่ได้รับอนุญาตให้ใช้ตำแหน่ง", "Location permission was denied"],
        2: ["ไม่สามารถหาตำแหน่งได้", "Your position is unavailable"],
        3: ["หาตำแหน่งนานเกินไป", "Finding your location timed out"]
      }[err && err.code] || ["หาตำแหน่งไม่ได้", "Could not get your location"];
      showError(new Error(why[1] + (err && err.message ? ": " + err.message : "")), why[0], why[1]);
    }, { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 });
  }

  // Names of kinds and documents; searches wait for them (never rejects: codes are the fallback).
  var labelsReady = loadLabels();

  var kTimer = null;
  $("filters").addEventListener("submit", function (e) {
    e.preventDefault();
    useNearest();
    search();
  });
  $("name-search").addEventListener("submit", function (e) {
    e.preventDefault();
    searchByName();
  });
  $("q").addEventListener("input", function () {
    $("q").removeAttribute("aria-invalid");
    if (!$("q").value.trim() && state.mode === "name") { // emptied: back to nearest
      state.mode = "nearest";
      state.q = "";
      updateUrl();
    }
  });
  $("service").addEventListener("change", onFiltersChanged);
  FLAGS.forEach(function (flag) { $(flag).addEventListener("change", onFiltersChanged); });
  $("k").addEventListener("input", function () {
    clearTimeout(kTimer);
    kTimer = setTimeout(function () { if (state.origin || state.mode === "name") search(); }, 400);
  });
  $("locate").addEventListener("click", locate);
  $("back").addEventListener("click", function () {
    state.selectedId = null;
    state.detailSeq++;
    clearRoute();
    showView("results");
    highlight(null);
    updateUrl();
    body.setAttribute("data-state", state.results.length ? "results" : "idle");
  });
  $("k").setAttribute("max", String(maxK()));

  // ------------------------------------------------------------------ start-up (URL state)
  function number(value, lo, hi) {
    if (value === null || value === "") return null;
    var n = Number(value);
    return isFinite(n) && n >= lo && n <= hi ? n : null;
  }

  function truthy(value) {
    return value === "1" || value === "true" || value === "yes" || value === "on";
  }

  function start() {
    var q = new URL(window.location.href).searchParams;
    var center = (q.get("center") || "").split(",");
    var clat = number(center[0], -90, 90);
    var clon = number(center[1], -180, 180);
    var zoom = number(q.get("zoom"), 5, 18);
    if (clat !== null && clon !== null) {
      allow(L.latLngBounds([[clat, clon], [clat, clon]]));
      map.setView([clat, clon], zoom || 12);
    }

    var k = number(q.get("k"), 1, maxK());
    if (k !== null) $("k").value = String(Math.round(k));
    FLAGS.forEach(function (flag) { if (truthy(q.get(flag))) $(flag).checked = true; });

    var words = (q.get("q") || "").trim();
    if (words) {
      $("q").value = words;
      state.mode = "name";
      state.q = words;
    }
    Promise.all([labelsReady, loadServices()]).then(function () {
      var service = q.get("service");
      if (service) {
        if (state.services[service]) {
          $("service").value = service;
        } else {
          showError(new Error("unknown service code: " + service),
            "ไม่รู้จักบริการในลิงก์", "The link names an unknown service");
        }
      }
      syncNoCopy();
      syncServiceName();
      var lat = number(q.get("lat"), -90, 90);
      var lon = number(q.get("lon"), -180, 180);
      var point = q.get("point");
      var searching = null;
      var located = lat !== null && lon !== null;
      if (located) {
        allow(L.latLngBounds([[lat, lon], [lat, lon]]));
        if (!(clat !== null && clon !== null)) map.setView([lat, lon], 13);
        setOrigin(lat, lon, true);
      }
      if (located || state.mode === "name") {
        searching = search();
      } else if ($("status").className.indexOf("status-error") < 0) {
        setStatus("info", "ค้นหาด้วยชื่อ แตะบนแผนที่ หรือกด “ตำแหน่งของฉัน” เพื่อหาจุดบริการที่ใกล้ที่สุด",
          "Search by name, tap the map or press “My location” to find the nearest service points");
        body.setAttribute("data-state", "idle");
      }
      body.setAttribute("data-ready", ""); // usable: map, services and names are in
      if (point && /^[0-9A-Za-z_-]{1,64}$/.test(point)) {
        var id = /^[0-9]+$/.test(point) ? Number(point) : point;
        Promise.resolve(searching).then(function () { selectPoint(id); });
      }
    });
  }

  start();
})();
