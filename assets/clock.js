/* The title-bar clock (layouts/shell.py, callbacks/shell.py): the time in the command centre's zone
   (CITYOPS_TZ) in the interface language, both given by the server as the clock's data-tz and data-lang —
   not the browser's own zone and locale, which on a wall computer or a visitor's laptop may be anything. */
(function () {
  var formats = {};

  function formatter(lang, tz) {
    var key = lang + "|" + tz;
    if (!formats[key]) {
      var options = {dateStyle: "medium", timeStyle: "medium", hourCycle: "h23"};
      try {
        formats[key] = new Intl.DateTimeFormat(lang, Object.assign({timeZone: tz}, options));
      } catch (e) {  // a zone this browser does not know: its own zone rather than no clock at all
        formats[key] = new Intl.DateTimeFormat(lang || undefined, options);
      }
    }
    return formats[key];
  }

  function clockText(lang, tz, when) {
    return formatter(lang, tz).format(when);
  }

  if (typeof window !== "undefined") {
    window.dash_clientside = Object.assign({}, window.dash_clientside, {
      cityops_shell: {
        clock: function (_n, clockId) {
          var clock = document.getElementById(clockId);
          if (!clock) { return window.dash_clientside.no_update; }
          return clockText(clock.dataset.lang, clock.dataset.tz, new Date());
        }
      }
    });
  }
  if (typeof module !== "undefined") { module.exports = {clockText: clockText}; }
})();
