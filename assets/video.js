/* The video wall (/video, issue 19): plays each cell's <video data-src data-kind="hls"> with the vendored
 * hls.js (loaded from /assets/vendor on the first wall seen, never on other pages) and each <video
 * data-kind="whep"> over WebRTC (assets/video_whep.js), shows what failed in the
 * cell (stream not found, gateway down, codec) from hls.js's error events, stops cells that are out of view
 * or in a hidden tab, and puts a cell in full screen from its button. Runs on every page; does nothing where
 * there is no wall. */
(function () {
  "use strict";
  var HLS_URL = "/assets/vendor/hls.min.js";
  var RETRY_MS = 5000;
  var hlsReady = null;
  var players = new Set();
  var observer = null;

  function loadHls() {
    if (window.Hls) { return Promise.resolve(window.Hls); }
    if (!hlsReady) {
      hlsReady = new Promise(function (resolve, reject) {
        var script = document.createElement("script");
        script.src = HLS_URL;
        script.onload = function () { resolve(window.Hls); };
        script.onerror = function () { hlsReady = null; reject(new Error("hls.js did not load")); };
        document.head.appendChild(script);
      });
    }
    return hlsReady;
  }

  function cellOf(video) { return video.closest("[data-testid='video-cell']"); }

  function showError(video, code) {
    var cell = cellOf(video);
    var wall = video.closest(".video-wall");
    if (!cell) { return; }
    var line = cell.querySelector(".video-error");
    var text = code && wall ? (wall.getAttribute("data-msg-" + code) || code) : "";
    if (line) { line.textContent = text; }
    cell.classList.toggle("has-error", Boolean(text));
    cell.setAttribute("data-error", code || "");
  }

  /* hls.js error data → one of not_found, gateway_down, codec, network, media. */
  function classify(Hls, data) {
    var details = String(data.details || "");
    var status = data.response && typeof data.response.code === "number" ? data.response.code : 0;
    if (/codec/i.test(details) || details === Hls.ErrorDetails.MANIFEST_INCOMPATIBLE_CODECS_ERROR) { return "codec"; }
    if (data.type === Hls.ErrorTypes.NETWORK_ERROR) {
      if (status === 404 || status === 410) { return "not_found"; }
      if (!status || status >= 500) { return "gateway_down"; }
      return "network";
    }
    return "media";
  }

  function visible(video) {
    return document.visibilityState === "visible" && video.__cityopsInView !== false;
  }

  function resume(video) {
    var state = video.__cityops;
    if (!state || !visible(video)) { return; }
    if (state.hls && state.stopped) { state.hls.startLoad(-1); }
    state.stopped = false;
    video.muted = true;
    var played = video.play();
    if (played && played.catch) { played.catch(function () { /* autoplay refused: stays paused */ }); }
  }

  function pause(video) {
    var state = video.__cityops;
    if (!state) { return; }
    if (state.hls && !state.stopped) { state.hls.stopLoad(); }
    state.stopped = true;
    video.pause();
  }

  function detach(video) {
    var state = video.__cityops;
    if (state && state.hls) { state.hls.destroy(); }
    if (state && state.whep) { state.whep.close(); }
    if (state && state.timer) { clearTimeout(state.timer); }
    video.__cityops = null;
    players.delete(video);
    if (observer) { observer.unobserve(video); }
  }

  function attach(video) {
    var src = video.getAttribute("data-src");
    if (video.__cityops && video.__cityops.src === src) { return; }
    detach(video);
    var state = { src: src, hls: null, whep: null, stopped: false, timer: null };
    video.__cityops = state;
    players.add(video);
    if (observer) { observer.observe(video); }
    video.muted = true;
    video.addEventListener("playing", function () { showError(video, ""); });
    if (video.getAttribute("data-kind") === "whep") {
      if (!window.RTCPeerConnection || !window.CityOpsWhep) { showError(video, "codec"); return; }
      state.whep = window.CityOpsWhep.play(video, src, function (code) {
        if (video.__cityops === state) { showError(video, code); }
      });
      return;
    }
    loadHls().then(function (Hls) {
      if (video.__cityops !== state) { return; }
      if (!Hls.isSupported()) {
        if (video.canPlayType("application/vnd.apple.mpegurl")) { video.src = src; resume(video); } else { showError(video, "codec"); }
        return;
      }
      var hls = new Hls({ liveDurationInfinity: true, backBufferLength: 10 });
      state.hls = hls;
      hls.on(Hls.Events.ERROR, function (_event, data) {
        if (!data.fatal) { return; }
        var code = classify(Hls, data);
        showError(video, code);
        if (code === "codec") { return; }
        state.timer = setTimeout(function () {  // the stream may come back: try again
          if (video.__cityops !== state) { return; }
          if (data.type === Hls.ErrorTypes.MEDIA_ERROR) { hls.recoverMediaError(); } else { hls.loadSource(src); hls.startLoad(-1); }
        }, RETRY_MS);
      });
      hls.on(Hls.Events.FRAG_LOADED, function () { if (video.getAttribute("data-error")) { showError(video, ""); } });
      hls.loadSource(src);
      hls.attachMedia(video);
      if (visible(video)) { resume(video); } else { pause(video); }
    }, function () { showError(video, "media"); });
  }

  function scan() {
    if (!players.size && !document.querySelector(".video-wall")) { return; }
    players.forEach(function (video) { if (!document.contains(video)) { detach(video); } });
    document.querySelectorAll("[data-testid='video-cell'] video[data-src]").forEach(attach);
    document.querySelectorAll("[data-testid='video-cell'] video:not([data-src])").forEach(detach);
  }

  function start() {
    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        entries.forEach(function (entry) {
          entry.target.__cityopsInView = entry.isIntersecting;
          if (entry.isIntersecting) { resume(entry.target); } else { pause(entry.target); }
        });
      });
    }
    document.addEventListener("visibilitychange", function () {
      players.forEach(function (video) { if (visible(video)) { resume(video); } else { pause(video); } });
    });
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest(".video-fullscreen");
      var cell = button && button.closest("[data-testid='video-cell']");
      if (!cell) { return; }
      if (document.fullscreenElement === cell) { document.exitFullscreen(); } else if (cell.requestFullscreen) { cell.requestFullscreen(); }
    });
    var pending = false;
    new MutationObserver(function () {
      if (pending) { return; }
      pending = true;
      window.requestAnimationFrame(function () { pending = false; scan(); });
    }).observe(document.body, { childList: true, subtree: true, attributes: true, attributeFilter: ["data-src"] });
    scan();
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
