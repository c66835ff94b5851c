/* The city map's pure UI toggles, run in the browser (Dash clientside callbacks of callbacks/bigscreen.py).
   Component ids are those of layouts/ids.py. Nothing here talks to the server. */
(function () {
  function trigger() {
    var ctx = window.dash_clientside.callback_context;
    var first = ctx && ctx.triggered && ctx.triggered[0];
    return first ? String(first.prop_id).split('.')[0] : '';
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops_map: {
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
