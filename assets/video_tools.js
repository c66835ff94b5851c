/* The video wall's tools (/video, issue 19): a cell's snapshot button grabs the frame its <video> (or MJPEG/JPEG
 * <img>) shows onto a canvas and POSTs it as a JPEG to /api/v1/cameras/{code}/snapshots for the incident or
 * emergency event named in the snapshot bar; cameras listed beside the wall are dragged onto a cell, which
 * tells the server through the Store "video-drop" (dash_clientside.set_props). Messages come from the
 * data-msg-* attributes the page carries. Runs on every page; does nothing where there is no wall. */
(function () {
  "use strict";
  var DROP_STORE = "video-drop";
  var CAMERA_TYPE = "application/x-cityops-camera";

  function say(key, extra) {
    var line = document.getElementById("video-snap-message");
    if (!line) { return; }
    var text = (line.getAttribute("data-msg-" + key) || key);
    Object.keys(extra || {}).forEach(function (name) { text = text.replace("{" + name + "}", extra[name]); });
    line.textContent = key === "failed" && extra && extra.reason ? text + extra.reason : text;
    line.setAttribute("data-state", key);
  }

  /* The cell's current picture as a JPEG data: URL, or null when it shows none. */
  function grab(cell) {
    var video = cell.querySelector("video");
    var image = cell.querySelector("img.video-image");
    var source = null, width = 0, height = 0;
    if (video && video.videoWidth && video.readyState >= 2) {
      source = video; width = video.videoWidth; height = video.videoHeight;
    } else if (image && image.naturalWidth) {
      source = image; width = image.naturalWidth; height = image.naturalHeight;
    }
    if (!source) { return null; }
    var canvas = document.createElement("canvas");
    canvas.width = width; canvas.height = height;
    canvas.getContext("2d").drawImage(source, 0, 0, width, height);
    return canvas.toDataURL("image/jpeg", 0.85);  // throws on a cross-origin image without CORS
  }

  function target() {
    var kind = document.querySelector("#video-snap-kind input:checked");
    var field = document.getElementById("video-snap-target");
    var value = field ? field.value.trim() : "";
    if (!value) { return null; }
    if (kind && kind.value === "event") {
      var id = Number(value);
      return Number.isInteger(id) && id > 0 ? { event: id } : null;
    }
    return { incident: value };
  }

  function snapshot(cell) {
    var code = cell.getAttribute("data-camera");
    var goal = target();
    if (!goal) { say("no_target"); return; }
    var image;
    try { image = grab(cell); } catch (error) { say("failed", { reason: String(error && error.name || error) }); return; }
    if (!image) { say("blank"); return; }
    goal.image = image;
    fetch("/api/v1/cameras/" + encodeURIComponent(code) + "/snapshots", {
      method: "POST", credentials: "same-origin", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(goal)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (response.status === 201) { say("saved", { camera: code }); return; }
        var error = body && body.error;
        say("failed", { reason: error ? error.message || error.code : String(response.status) });
      });
    }, function () { say("failed", { reason: "network" }); });
  }

  function cellOf(node) { return node && node.closest ? node.closest("[data-testid='video-cell']") : null; }

  function start() {
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest(".video-snapshot");
      var cell = cellOf(button);
      if (cell) { snapshot(cell); }
    });
    document.addEventListener("dragstart", function (event) {
      var item = event.target.closest && event.target.closest(".video-list-item[data-camera]");
      if (!item) { return; }
      event.dataTransfer.setData(CAMERA_TYPE, item.getAttribute("data-camera"));
      event.dataTransfer.setData("text/plain", item.getAttribute("data-camera"));
      event.dataTransfer.effectAllowed = "copy";
    });
    document.addEventListener("dragover", function (event) {
      var cell = cellOf(event.target);
      if (!cell || !Array.prototype.includes.call(event.dataTransfer.types, CAMERA_TYPE)) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
      cell.classList.add("drop-target");
    });
    document.addEventListener("dragleave", function (event) {
      var cell = cellOf(event.target);
      if (cell && !cell.contains(event.relatedTarget)) { cell.classList.remove("drop-target"); }
    });
    document.addEventListener("drop", function (event) {
      var cell = cellOf(event.target);
      var code = cell && event.dataTransfer.getData(CAMERA_TYPE);
      if (!code) { return; }
      event.preventDefault();
      cell.classList.remove("drop-target");
      var index = Number(cell.getAttribute("data-cell"));
      if (window.dash_clientside && window.dash_clientside.set_props) {
        window.dash_clientside.set_props(DROP_STORE, { data: { code: code, cell: index, at: Date.now() } });
      }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
}());
