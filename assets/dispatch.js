/* Clientside helpers of the dispatch pages (issue 5): shrink a photo in the browser before it is sent
   (a phone photo of 4 MB becomes ~200 kB, and its EXIF/GPS never leaves the phone), and ask the device
   for its location. Both return Promises, which Dash awaits. */
window.dash_clientside = Object.assign({}, window.dash_clientside, {
  cityops_dispatch: {
    shrinkPhoto: function (contents) {
      var noUpdate = window.dash_clientside.no_update;
      if (!contents) { return [noUpdate, noUpdate]; }
      return new Promise(function (resolve) {
        var img = new Image();
        img.onload = function () {
          var max = 1600;
          var scale = Math.min(1, max / Math.max(img.naturalWidth, img.naturalHeight));
          var canvas = document.createElement("canvas");
          canvas.width = Math.max(1, Math.round(img.naturalWidth * scale));
          canvas.height = Math.max(1, Math.round(img.naturalHeight * scale));
          canvas.getContext("2d").drawImage(img, 0, 0, canvas.width, canvas.height);
          var small = canvas.toDataURL("image/jpeg", 0.82);
          resolve([small, small]);
        };
        // Not an image the browser can draw: send it as it is, the server refuses it with a reason.
        img.onerror = function () { resolve([contents, ""]); };
        img.src = contents;
      });
    },
    locate: function (clicks) {
      if (!clicks) { return window.dash_clientside.no_update; }
      return new Promise(function (resolve) {
        if (!navigator.geolocation) { resolve({error: "unsupported"}); return; }
        navigator.geolocation.getCurrentPosition(
          function (pos) {
            resolve({lon: pos.coords.longitude, lat: pos.coords.latitude,
                     accuracy: pos.coords.accuracy, source: "device"});
          },
          function (err) { resolve({error: err && err.code === 1 ? "denied" : "unavailable"}); },
          {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000}
        );
      });
    }
  }
});
