/* pocusiq serve: upload -> enhance -> before | after (wipe.js) -> download; and the live MJPEG view. */
(function () {
  "use strict";
  var $ = function (id) { return document.getElementById(id); };
  var drop = $("drop"), input = $("file"), status = $("status"), errorBox = $("error");
  var card = $("result");
  var cineTimer = null;

  function showError(box, message) { box.textContent = message; box.hidden = !message; }
  function fmt(v) { return v === null || v === undefined ? "n/a" : Number(v).toPrecision(4).replace(/\.?0+$/, ""); }
  function td(text, cls) { var c = document.createElement("td"); c.textContent = text; if (cls) c.className = cls; return c; }

  function renderScores(scores) {
    $("scope").textContent = "Quality, no reference (" + scores.scope + ")";
    var body = $("scores"); body.textContent = "";
    scores.rows.forEach(function (r) {
      var tr = document.createElement("tr"); tr.dataset.metric = r.key;
      var name = td(r.label + (r.higher_is_better === null ? "" : r.higher_is_better ? " (higher is better)" : " (lower is better)"));
      tr.appendChild(name); tr.appendChild(td(fmt(r.before))); tr.appendChild(td(fmt(r.after)));
      var change = "", cls = "";
      if (r.before !== null && r.after !== null) {
        var d = r.after - r.before; change = (d >= 0 ? "+" : "") + fmt(d);
        if (r.higher_is_better !== null && d !== 0) cls = (d > 0) === r.higher_is_better ? "better" : "worse";
      }
      tr.appendChild(td(change, cls)); body.appendChild(tr);
      if (r.note) { var n = document.createElement("tr"); var c = td(r.label + " n/a: " + r.note, "na"); c.colSpan = 4; n.appendChild(c); body.appendChild(n); }
    });
  }

  function renderCine(job) {
    var controls = $("cine-controls");
    if (cineTimer) { clearInterval(cineTimer); cineTimer = null; }
    var before = card.querySelector("img.before"), after = card.querySelector("img.after");
    var n = Math.min(job.before.length, job.after.length);
    controls.hidden = n < 2;
    var fresh = controls.cloneNode(true); controls.parentNode.replaceChild(fresh, controls); controls = fresh;
    var button = controls.querySelector("button.play"), scrub = controls.querySelector("input.scrub");
    var label = controls.querySelector(".frame-label");
    var index = 0, period = 1000 / Math.max(1, job.fps || 10);
    for (var i = 0; i < n && n > 1; i++) { new Image().src = job.before[i]; new Image().src = job.after[i]; }
    scrub.max = Math.max(0, n - 1);
    function show(i) {
      index = ((i % n) + n) % n;
      before.src = job.before[index]; after.src = job.after[index];
      scrub.value = index; card.dataset.frame = index;
      label.textContent = "frame " + (index + 1) + " / " + n + (n > 1 ? "  (source frame " + job.labels[index] + ")" : "");
    }
    button.addEventListener("click", function () {
      if (cineTimer) { clearInterval(cineTimer); cineTimer = null; button.textContent = "Play"; return; }
      button.textContent = "Pause";
      cineTimer = setInterval(function () { show(index + 1); }, period);
    });
    scrub.addEventListener("input", function () {
      if (cineTimer) { clearInterval(cineTimer); cineTimer = null; button.textContent = "Play"; }
      show(parseInt(scrub.value, 10));
    });
    show(0);
  }

  function render(job) {
    card.hidden = false;
    $("result-name").textContent = job.name;
    var sub = job.width + "x" + job.height + " px, " + job.kind + ", " + job.frames + " frame(s)";
    if (job.shown_frames < job.frames) sub += "; shown " + job.shown_frames + " (evenly spaced)";
    if (job.region && job.region.box) sub += "; enhanced region " + job.region.kind + " " + job.region.box.join(",");
    sub += "; " + job.seconds + " s; model " + job.model;
    $("result-sub").textContent = sub;
    var wipe = card.querySelector(".wipe");
    var shown = Math.max(job.width, Math.min(640, 4 * job.width));
    if (job.before.length > 1) shown = Math.min(shown, 640);
    wipe.style.width = shown + "px"; wipe.style.setProperty("--w", shown + "px");
    wipe.classList.toggle("zoomed", job.width < 640);
    renderCine(job);
    var links = $("downloads"); links.textContent = "";
    job.downloads.forEach(function (d) {
      var a = document.createElement("a"); a.className = "button download"; a.href = d.url;
      a.download = d.filename; a.textContent = "Download " + d.label; a.dataset.which = d.label;
      links.appendChild(a);
    });
    renderScores(job.scores);
    window.pocusiqView.initAll(card);
    window.pocusiqView.setPos(wipe, 0.5);
  }

  function upload(file) {
    showError(errorBox, "");
    status.textContent = "Enhancing " + file.name + " (" + (file.size / 1e6).toFixed(1) + " MB)...";
    var form = new FormData(); form.append("file", file); form.append("roi", $("roi").value);
    fetch("/api/enhance", { method: "POST", body: form, headers: { "X-Pocusiq": "1" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; },
                                               function () { return { ok: false, body: { error: "HTTP " + r.status } }; }); })
      .then(function (res) {
        if (!res.ok) { status.textContent = ""; showError(errorBox, res.body.error || "failed"); return; }
        status.textContent = "Done: " + res.body.name; render(res.body);
      })
      .catch(function (e) { status.textContent = ""; showError(errorBox, "request failed: " + e); });
  }

  input.addEventListener("change", function () { if (input.files.length) upload(input.files[0]); input.value = ""; });
  ["dragenter", "dragover"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.add("over"); }); });
  ["dragleave", "drop"].forEach(function (t) { drop.addEventListener(t, function (e) { e.preventDefault(); drop.classList.remove("over"); }); });
  drop.addEventListener("drop", function (e) { if (e.dataTransfer.files.length) upload(e.dataTransfer.files[0]); });

  // live
  var liveImg = $("live-img"), liveStats = $("live-stats"), liveError = $("live-error"), poll = null;
  function pollStats() {
    fetch("/api/live/stats").then(function (r) { return r.json(); }).then(function (s) {
      liveStats.dataset.fps = s.fps; liveStats.dataset.frames = s.frames;
      liveStats.textContent = s.frames ? (s.fps.toFixed(1) + " frames/s shown, enhance " + s.enhance_ms.toFixed(1) +
        " ms/frame, " + s.frames + " frames, " + s.width + "x" + s.height + (s.running ? "" : s.ended ? " (ended)" : " (stopped)")) : (s.running ? "starting..." : "");
      if (s.error) showError(liveError, s.error);  // cleared by Start, never by a poll (it would hide a check error)
      if (!s.running && poll) { clearInterval(poll); poll = null; }
    }).catch(function () {});
  }
  $("live-start").addEventListener("click", function () {
    var source = $("live-source").value.trim();
    if (!source) { showError(liveError, "enter a capture device index (0, 1, ...) or a video file path"); return; }
    showError(liveError, "");
    fetch("/api/live/check?source=" + encodeURIComponent(source)).then(function (r) { return r.json(); }).then(function (c) {
      if (c.error) { showError(liveError, c.error); return; }
      liveImg.hidden = false;
      liveImg.src = "/api/live/stream?source=" + encodeURIComponent(source) + "&sbs=" + ($("live-sbs").checked ? 1 : 0) + "&roi=" + $("roi").value + "&t=" + Date.now();
      if (!poll) poll = setInterval(pollStats, 500);
    }).catch(function (e) { showError(liveError, "request failed: " + e); });
  });
  $("live-stop").addEventListener("click", function () {
    fetch("/api/live/stop", { method: "POST", headers: { "X-Pocusiq": "1" } }).then(pollStats);
    liveImg.removeAttribute("src"); liveImg.hidden = true;
  });
  liveImg.addEventListener("error", pollStats);
})();
