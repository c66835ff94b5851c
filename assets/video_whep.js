/* WebRTC playback from a WHEP endpoint (WebRTC-HTTP Egress Protocol, RFC 9725) for the video wall (issue 19),
 * no library: a receive-only RTCPeerConnection makes an SDP offer, POSTs it (Content-Type: application/sdp)
 * to the camera's WHEP URL once ICE gathering is done (or after two seconds), and takes the gateway's SDP
 * answer; the remote stream plays in the cell's <video>. The session resource the gateway names in its
 * Location header is DELETEd when the cell stops. assets/video.js calls window.CityOpsWhep.play. */
(function () {
  "use strict";
  var ICE_WAIT_MS = 2000;

  function iceGathered(pc) {
    return new Promise(function (resolve) {
      if (pc.iceGatheringState === "complete") { resolve(); return; }
      var timer = setTimeout(resolve, ICE_WAIT_MS);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
      });
    });
  }

  /* Errors → the wall's codes: not_found (404/410), gateway_down (no answer, 5xx), whep (anything else). */
  function failure(status) {
    if (status === 404 || status === 410) { return "not_found"; }
    if (!status || status >= 500) { return "gateway_down"; }
    return "whep";
  }

  function play(video, url, fail) {
    var session = { pc: null, location: null, closed: false };
    var pc = new RTCPeerConnection({ bundlePolicy: "max-bundle" });  // no ICE servers: the gateway is local
    session.pc = pc;
    pc.addTransceiver("video", { direction: "recvonly" });
    pc.addTransceiver("audio", { direction: "recvonly" });
    pc.ontrack = function (event) {
      var stream = event.streams && event.streams[0];
      if (stream && video.srcObject !== stream) {
        video.srcObject = stream;
        video.muted = true;
        var played = video.play();
        if (played && played.catch) { played.catch(function () { /* autoplay refused: stays paused */ }); }
      }
    };
    pc.onconnectionstatechange = function () {
      if (!session.closed && pc.connectionState === "failed") { fail("whep"); }
    };
    pc.createOffer()
      .then(function (offer) { return pc.setLocalDescription(offer); })
      .then(function () { return iceGathered(pc); })
      .then(function () {
        return fetch(url, { method: "POST", headers: { "Content-Type": "application/sdp" },
                            body: pc.localDescription.sdp, credentials: "omit", cache: "no-store" })
          .catch(function () { throw failure(0); });
      })
      .then(function (response) {
        if (!response.ok) { throw failure(response.status); }
        var location = response.headers.get("Location");
        if (location) { session.location = new URL(location, url).href; }
        return response.text();
      })
      .then(function (answer) {
        if (session.closed) { return null; }
        return pc.setRemoteDescription({ type: "answer", sdp: answer });
      })
      .catch(function (error) {
        if (!session.closed) { fail(typeof error === "string" ? error : "whep"); }
      });
    session.close = function () {
      session.closed = true;
      pc.close();
      if (session.location) { fetch(session.location, { method: "DELETE", credentials: "omit" }).catch(function () {}); }
      if (video.srcObject) { video.srcObject = null; }
    };
    return session;
  }

  window.CityOpsWhep = { play: play, failure: failure };
}());
