/* The big screen's (/) browser-side callbacks (callbacks/bigscreen/): the screen's size, measured once so that
   the chart fonts follow it as the page's fonts do, and the wall zoom — the map's zoom fits a panel about
   1,000 px wide (callbacks/mapkit.py fit_zoom); a wall wider than 1920 px shows the same picture with more
   pixels, so the city is zoomed in by log2(width / 1920) once its map arrives (with a new uirevision, or
   Plotly would keep the view MapLibre reported after the first draw). */
(function () {
  /* The screen's width against 1920 px, to two decimals. */
  function chartScale(width) {
    return Math.round(width / 19.2) / 100;
  }

  /* The zoom of a map drawn for 1920 px on a screen ``width`` px wide; null below 1.2 × (nothing to do). */
  function wallZoom(zoom, width) {
    var scale = width / 1920;
    if (typeof zoom !== "number" || scale < 1.2) { return null; }
    return zoom + Math.log2(scale);
  }

  if (typeof window !== "undefined") {
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
      cityops_bigscreen: {
        chart_scale: function (_id) {
          return chartScale(window.innerWidth);
        },
        wall_zoom: function (version, figure) {
          var map = figure && figure.layout && figure.layout.map;
          var zoom = version && map ? wallZoom(map.zoom, window.innerWidth) : null;
          if (zoom === null) { return window.dash_clientside.no_update; }
          var patch = new window.dash_clientside.Patch();
          patch.assign(["layout", "map", "zoom"], zoom);
          patch.assign(["layout", "uirevision"], "wall");  // a new revision: the view is ours to set, not the user's
          return patch.build();
        }
      }
    });
  }
  if (typeof module !== "undefined") { module.exports = {chartScale: chartScale, wallZoom: wallZoom}; }
})();
