/* The city map's browser side (Dash clientside callbacks of callbacks/bigscreen.py and maplive.py): layer
   toggles, the video wall, the dense layers drawn for the view from the arrays the server sent once, and the
   live layers (every open incident and firing alert) drawn for the view from the Store the server patches.
   Component ids are those of layouts/ids.py. Nothing here talks to the server; the map's view goes into a Store. */
(function () {
  function trigger() {
    var ctx = window.dash_clientside.callback_context;
    var first = ctx && ctx.triggered && ctx.triggered[0];
    return first ? String(first.prop_id).split('.')[0] : '';
  }

  /* --- the dense layers (doorplates, cameras): what the view needs of the arrays sent once ---------- */
  var GRAPH = '#bigscreen-map .js-plotly-plot';
  var VIEW_STORE = 'bigscreen-view';
  var decoded = {key: null, layers: null};

  function typed(spec) {
    var bin = atob(spec.bdata), bytes = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { bytes[i] = bin.charCodeAt(i); }
    if (spec.dtype === 'f4') { return new Float32Array(bytes.buffer); }
    return spec.dtype === 'u4' ? new Uint32Array(bytes.buffer) : bytes;
  }

  /* The dense payload's arrays, decoded once per data version (cells lazily, per level). */
  function layersOf(dense) {
    var key = dense.version.join(',');
    if (decoded.key !== key) {
      var layers = {};
      ['doorplates', 'cameras'].forEach(function (kind) {
        var d = dense[kind];
        layers[kind] = {lon: typed(d.lon), lat: typed(d.lat), online: d.online ? typed(d.online) : null,
                        cellSpecs: d.cells, cells: {}};
      });
      decoded = {key: key, layers: layers};
    }
    return decoded.layers;
  }

  function cellsAt(layer, level) {
    if (!layer.cells[level]) {
      var spec = layer.cellSpecs[String(level)], c = {};
      ['lon', 'lat', 'count', 'size', 'share'].forEach(function (k) { c[k] = typed(spec[k]); });
      c.total = c.count.reduce(function (a, b) { return a + b; }, 0);
      layer.cells[level] = c;
    }
    return layer.cells[level];
  }

  /* Every point inside the view: lon, lat, its index (customdata, for clicks) and, for cameras, online. */
  function pointsIn(layer, view) {
    var out = {lon: [], lat: [], customdata: [], color: []};
    for (var i = 0; i < layer.lon.length; i++) {
      var x = layer.lon[i], y = layer.lat[i];
      if (x >= view.west && x <= view.east && y >= view.south && y <= view.north) {
        out.lon.push(x); out.lat.push(y); out.customdata.push(i);
        if (layer.online) { out.color.push(layer.online[i]); }
      }
    }
    return out;
  }

  function pushView(map) {
    var b = map.getBounds();
    window.dash_clientside.set_props(VIEW_STORE, {data: {west: b.getWest(), south: b.getSouth(),
      east: b.getEast(), north: b.getNorth(), zoom: map.getZoom()}});
  }

  /* Follow the big screen's MapLibre map (Plotly may replace it): report its view after every move. */
  setInterval(function () {
    var gd = document.querySelector(GRAPH);
    var sub = gd && gd._fullLayout && gd._fullLayout.map && gd._fullLayout.map._subplot;
    var map = sub && sub.map;
    if (!map || map.__cityopsView || !window.dash_clientside.set_props) { return; }
    map.__cityopsView = true;
    map.on('moveend', function () { pushView(map); });
    pushView(map);
  }, 250);

  /* --- the live layers (every open incident and firing alert, callbacks/maplive.py): for the view ---- */
  var liveDrawn = {data: null, key: ''};

  /* A live layer's rows {id: [lon, lat, rank, text]} grouped in cells as callbacks/mapkit.py cells() does
     (the same float64 arithmetic on the same rounded positions): centroid, count, worst rank. */
  function liveCells(rows, live, level, colours, base) {
    var sizeX = live.cell_px * 360 / (512 * Math.pow(2, level));
    var sizeY = sizeX * Math.cos(live.ref_lat * (Math.PI / 180));
    var byKey = new Map();
    Object.keys(rows).forEach(function (id) {
      var r = rows[id], key = Math.floor(r[0] / sizeX) + ',' + Math.floor(r[1] / sizeY), c = byKey.get(key);
      if (!c) { c = {n: 0, x: 0, y: 0, worst: 0}; byKey.set(key, c); }
      c.n += 1; c.x += r[0]; c.y += r[1];
      if (r[2] > c.worst) { c.worst = r[2]; }
    });
    var out = {lon: [], lat: [], customdata: [], text: [], size: [], color: [], count: 0};
    byKey.forEach(function (c) {
      out.lon.push(c.x / c.n); out.lat.push(c.y / c.n); out.customdata.push(-1); out.text.push(String(c.n));
      out.size.push(Math.min(30, base + 2.2 * Math.log2(c.n))); out.color.push(colours[c.worst]);
      out.count += c.n;
    });
    return out;
  }

  /* Every live point inside the view, with its id (customdata, for clicks) and its hover text: the row's
     text, then its tag's label when it has one (an incident's state). */
  function livePointsIn(rows, view, colours, size, tags) {
    var out = {lon: [], lat: [], customdata: [], text: [], size: size, color: [], count: 0};
    Object.keys(rows).forEach(function (id) {
      var r = rows[id];
      if (r[0] >= view.west && r[0] <= view.east && r[1] >= view.south && r[1] <= view.north) {
        out.lon.push(r[0]); out.lat.push(r[1]); out.customdata.push(Number(id));
        out.text.push(r.length > 4 ? r[3] + ' · ' + tags[r[4]] : r[3]);
        out.color.push(colours[r[2]]); out.count += 1;
      }
    });
    return out;
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_map: {
      /* The doorplate and camera traces for the view: cells below cluster_maxzoom, else every point in view.
         Each trace's meta says what it holds ({mode, level | bbox, count}): for the skip, the tests and debugging. */
      dense_view: function (dense, view, figure) {
        if (!dense || !view) { return window.dash_clientside.no_update; }
        var layers = layersOf(dense), patch = new window.dash_clientside.Patch(), changed = false;
        var points = view.zoom >= dense.cluster_maxzoom;
        var level = Math.min(Math.max(Math.floor(view.zoom), dense.min_cell_level), dense.cluster_maxzoom - 1);
        ['doorplates', 'cameras'].forEach(function (kind) {
          var layer = layers[kind], i = dense.traces[kind];
          var held = figure && figure.data && figure.data[i] && figure.data[i].meta;
          var d, meta;
          if (points) {
            d = pointsIn(layer, view);
            d.size = dense.point_size[kind]; d.text = []; d.hoverinfo = 'none';
            meta = {mode: 'points', bbox: [view.west, view.south, view.east, view.north], count: d.lon.length};
          } else {
            if (held && held.mode === 'cells' && held.level === level) { return; }  // drawn already: no redraw
            var c = cellsAt(layer, level);
            d = {lon: Array.from(c.lon), lat: Array.from(c.lat), customdata: Array.from(c.count, function () { return -1; }),
                 size: Array.from(c.size), color: Array.from(c.share), text: Array.from(c.count, String),
                 hoverinfo: 'text+name'};
            meta = {mode: 'cells', level: level, count: c.total};
          }
          changed = true;
          ['lon', 'lat', 'customdata', 'text', 'hoverinfo'].forEach(function (k) { patch.assign(['data', i, k], d[k]); });
          patch.assign(['data', i, 'marker', 'size'], d.size);
          if (layer.online) { patch.assign(['data', i, 'marker', 'color'], d.color); }
          patch.assign(['data', i, 'meta'], meta);
        });
        return changed ? patch.build() : window.dash_clientside.no_update;
      },
      /* The incident and alert traces for the view from the live Store (every point, kept current by deltas):
         cells with counts below cluster_maxzoom, every point in view from it; and the totals badge. */
      live_view: function (live, view, figure) {
        if (!live || !live.layers) { return window.dash_clientside.no_update; }
        var map = figure && figure.layout && figure.layout.map;
        var zoom = view ? view.zoom : (map && map.zoom) || 0;
        var points = !!view && zoom >= live.cluster_maxzoom;
        var level = Math.min(Math.max(Math.floor(zoom), live.min_cell_level), live.cluster_maxzoom - 1);
        var key = points ? 'points:' + [view.west, view.south, view.east, view.north].join(',') : 'cells:' + level;
        if (liveDrawn.data === live && liveDrawn.key === key) { return window.dash_clientside.no_update; }
        liveDrawn = {data: live, key: key};
        var patch = new window.dash_clientside.Patch(), totals = {};
        Object.keys(live.traces).forEach(function (layer) {
          var i = live.traces[layer], rows = live.layers[layer] || {}, colours = live.colours[layer];
          var d = points ? livePointsIn(rows, view, colours, live.point_size[layer], live.tags[layer] || [])
            : liveCells(rows, live, level, colours, live.point_size[layer]);
          totals[layer] = Object.keys(rows).length;
          ['lon', 'lat', 'customdata', 'text'].forEach(function (k) { patch.assign(['data', i, k], d[k]); });
          patch.assign(['data', i, 'hoverinfo'], points ? 'text' : 'text+name');
          patch.assign(['data', i, 'marker', 'size'], d.size);
          patch.assign(['data', i, 'marker', 'color'], d.color);
          patch.assign(['data', i, 'meta'], points
            ? {mode: 'points', bbox: [view.west, view.south, view.east, view.north], count: d.count}
            : {mode: 'cells', level: level, count: d.count});
        });
        patch.assign(['layout', 'annotations', 0, 'text'],
                     live.totals.replace('{incidents}', totals.incidents).replace('{alerts}', totals.alerts));
        return patch.build();
      },
      /* Show or hide the traces and basemap layers of each switcher layer (figure.layout.meta.layers). */
      toggle_layers: function (values, figure) {
        var index = figure && figure.layout && figure.layout.meta && figure.layout.meta.layers;
        if (!index) { return window.dash_clientside.no_update; }
        var shown = new Set(values || []);
        var patch = new window.dash_clientside.Patch();
        Object.keys(index).forEach(function (key) {
          var on = shown.has(key);
          index[key].traces.forEach(function (i) { patch.assign(['data', i, 'visible'], on); });
          index[key].layers.forEach(function (i) { patch.assign(['layout', 'map', 'layers', i, 'visible'], on); });
        });
        return patch.build();
      },
      /* A clicked or found camera opens the video wall; the × closes it. */
      video_wall_open: function (selected) {
        if (trigger() === 'bigscreen-videowall-close') { return 'videowall'; }
        if (selected && selected.kind === 'camera') { return 'videowall open'; }
        return window.dash_clientside.no_update;
      },
      /* The saved patrol list (browser local storage): add the selected camera, or clear the list. */
      patrol_saved: function (_save, _clear, selected, saved) {
        if (trigger() === 'bigscreen-patrol-clear') { return []; }
        if (!selected || selected.kind !== 'camera') { return window.dash_clientside.no_update; }
        var list = (saved || []).filter(function (id) { return id !== selected.id; });
        list.push(selected.id);
        return list.slice(-64);
      },
      /* Play/pause the rotation and set its interval (seconds). */
      patrol_play: function (_clicks, seconds, disabled) {
        var interval = (seconds || 10) * 1000;
        if (trigger() === 'bigscreen-patrol-play') { return [!disabled, interval]; }
        return [disabled === undefined ? true : disabled, interval];
      }
    }
  });
})();
