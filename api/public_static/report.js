/* The citizens' reporting page (/report): location from the device, photos scaled down on the phone,
   the proof-of-work challenge solved here (SHA-256, no library), and the report sent without cookies.
   Every text comes from the page (i18n) through the JSON block #report-texts. */
(function () {
  "use strict";
  var form = document.getElementById("report-form");
  if (!form) { return; }
  var texts = JSON.parse(document.getElementById("report-texts").textContent);
  var message = document.getElementById("report-message");
  var where = document.getElementById("report-where");
  var MAX_PHOTOS = 3, MAX_SIDE = 1600;

  function say(text) { message.textContent = text || ""; }

  // --- SHA-256 of an ASCII string (FIPS 180-4), enough for "nonce:counter" ---
  var K = [0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2];
  var W = new Array(64);

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  function sha256(text) {
    var bytes = [], i;
    for (i = 0; i < text.length; i++) { bytes.push(text.charCodeAt(i) & 0xff); }
    var bits = bytes.length * 8;
    bytes.push(0x80);
    while (bytes.length % 64 !== 56) { bytes.push(0); }
    bytes.push(0, 0, 0, 0, (bits >>> 24) & 0xff, (bits >>> 16) & 0xff, (bits >>> 8) & 0xff, bits & 0xff);
    var h = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];
    for (var block = 0; block < bytes.length; block += 64) {
      for (i = 0; i < 16; i++) {
        var j = block + i * 4;
        W[i] = (bytes[j] << 24) | (bytes[j + 1] << 16) | (bytes[j + 2] << 8) | bytes[j + 3];
      }
      for (i = 16; i < 64; i++) {
        var s0 = rotr(W[i - 15], 7) ^ rotr(W[i - 15], 18) ^ (W[i - 15] >>> 3);
        var s1 = rotr(W[i - 2], 17) ^ rotr(W[i - 2], 19) ^ (W[i - 2] >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
      for (i = 0; i < 64; i++) {
        var t1 = (k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        k = g; g = f; f = e; e = (d + t1) | 0; d = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      h[0] = (h[0] + a) | 0; h[1] = (h[1] + b) | 0; h[2] = (h[2] + c) | 0; h[3] = (h[3] + d) | 0;
      h[4] = (h[4] + e) | 0; h[5] = (h[5] + f) | 0; h[6] = (h[6] + g) | 0; h[7] = (h[7] + k) | 0;
    }
    return h;
  }

  function zeroBits(h) {
    var count = 0;
    for (var i = 0; i < 8; i++) {
      if (h[i] === 0) { count += 32; continue; }
      return count + Math.clz32(h[i]);
    }
    return count;
  }

  // Solve in slices so the page stays responsive while the phone works.
  function solve(nonce, difficulty) {
    return new Promise(function (resolve) {
      var counter = 0;
      (function slice() {
        for (var end = counter + 20000; counter < end; counter++) {
          if (zeroBits(sha256(nonce + ":" + counter)) >= difficulty) { resolve(String(counter)); return; }
        }
        setTimeout(slice, 0);
      })();
    });
  }

  // --- location ---
  document.getElementById("report-locate").addEventListener("click", function () {
    if (!navigator.geolocation) { where.textContent = texts.no_geolocation; return; }
    where.textContent = texts.locating;
    navigator.geolocation.getCurrentPosition(function (pos) {
      form.elements.lon.value = pos.coords.longitude.toFixed(6);
      form.elements.lat.value = pos.coords.latitude.toFixed(6);
      where.textContent = texts.located + " (" + form.elements.lat.value + ", " + form.elements.lon.value + ")";
    }, function () { where.textContent = texts.location_failed; }, {enableHighAccuracy: true, timeout: 15000});
  });

  // --- photos: scaled down to MAX_SIDE as JPEG on the phone; anything that is no image goes as it is ---
  function shrink(file) {
    return new Promise(function (resolve) {
      if (!window.createImageBitmap) { resolve(file); return; }
      createImageBitmap(file).then(function (bitmap) {
        var scale = Math.min(1, MAX_SIDE / Math.max(bitmap.width, bitmap.height));
        var canvas = document.createElement("canvas");
        canvas.width = Math.round(bitmap.width * scale);
        canvas.height = Math.round(bitmap.height * scale);
        canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        canvas.toBlob(function (blob) { resolve(blob || file); }, "image/jpeg", 0.85);
      }, function () { resolve(file); });
    });
  }

  function fetchJson(url, options) {
    options = options || {};
    options.credentials = "omit";  // the public side takes no cookies
    return fetch(url, options).then(function (response) {
      return response.json().then(function (body) { return {status: response.status, body: body}; });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(form.elements.photo.files || []);
    if (files.length > MAX_PHOTOS) { say(texts.too_many_photos); return; }
    if (!form.elements.doorplate.value.trim() && !form.elements.lon.value) { say(texts.location_required); return; }
    var button = form.querySelector("button[type=submit]");
    button.disabled = true;
    say(texts.solving);
    var data = new FormData();
    ["category", "description", "lon", "lat", "doorplate", "name", "phone"].forEach(function (name) {
      data.append(name, form.elements[name].value.trim());
    });
    Promise.all(files.map(shrink)).then(function (blobs) {
      blobs.forEach(function (blob, i) { data.append("photo", blob, "photo" + i + ".jpg"); });
      return fetchJson("/api/v1/public/challenge");
    }).then(function (answer) {
      if (answer.status !== 200) { throw answer; }
      return solve(answer.body.nonce, answer.body.difficulty).then(function (counter) {
        data.append("challenge", answer.body.nonce);
        data.append("counter", counter);
        say(texts.sending);
        return fetchJson("/api/v1/public/reports", {method: "POST", body: data});
      });
    }).then(function (answer) {
      if (answer.status !== 201) { throw answer; }
      var code = answer.body.tracking_code;
      form.hidden = true;
      document.getElementById("report-done").hidden = false;
      document.querySelector("[data-testid=report-tracking-code]").textContent = code;
      document.getElementById("report-follow").href = "/report/" + encodeURIComponent(code) +
        "?lang=" + encodeURIComponent(document.documentElement.lang);
    }).catch(function (answer) {
      var error = answer && answer.body && answer.body.error;
      say(error ? texts.failed + (texts["error." + error.code] || error.message) : texts.network);
      button.disabled = false;
    });
  });
})();
