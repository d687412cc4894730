/* pocusiq view/serve: the before | after wipe and the synchronised cine player.
 *
 * Markup: <div class="wipe"> with <img class="before">, <img class="after">, <div class="divider">.
 * Dragging (pointer) or the range input with data-wipe-for sets the CSS variable --pos (0-100 %);
 * the "after" image is clipped to the right of it. A cine card holds a <script type="application/json"
 * class="cine-data"> with {fps, before:[src...], after:[src...], labels:[...]}; one timer swaps both
 * images together, so before and after always show the same frame.
 */
(function () {
  "use strict";
  function setPos(wipe, fraction) {
    var f = Math.min(1, Math.max(0, fraction));
    wipe.style.setProperty("--pos", (f * 100).toFixed(2) + "%");
    wipe.dataset.pos = f.toFixed(4);
    var card = wipe.closest(".card") || document;
    var range = card.querySelector("input.wipe-range");
    if (range && Math.abs(range.value / 1000 - f) > 0.0005) range.value = Math.round(f * 1000);
  }
  function initWipe(wipe) {
    if (wipe.dataset.ready) return;
    wipe.dataset.ready = "1";
    var dragging = false;
    function fromEvent(ev) {
      var box = wipe.getBoundingClientRect();
      setPos(wipe, (ev.clientX - box.left) / box.width);
    }
    wipe.addEventListener("pointerdown", function (ev) {
      if (wipe.classList.contains("sbs")) return;
      dragging = true;
      try { wipe.setPointerCapture(ev.pointerId); } catch (e) { /* synthetic pointer */ }
      fromEvent(ev);
      ev.preventDefault();
    });
    wipe.addEventListener("pointermove", function (ev) { if (dragging) fromEvent(ev); });
    function stop() { dragging = false; }
    wipe.addEventListener("pointerup", stop);
    wipe.addEventListener("pointercancel", stop);
    var card = wipe.closest(".card") || document;
    var range = card.querySelector("input.wipe-range");
    if (range) range.addEventListener("input", function () { setPos(wipe, range.value / 1000); });
    var layout = card.querySelector("button.layout");
    if (layout) {
      var label = function () {
        var sbs = wipe.classList.contains("sbs");
        layout.textContent = sbs ? "Wipe" : "Side by side";
        if (range) range.disabled = sbs;
      };
      layout.addEventListener("click", function () { wipe.classList.toggle("sbs"); label(); });
      label();
    }
    setPos(wipe, 0.5);
  }
  function initCine(card) {
    if (card.dataset.cineReady) return;
    var node = card.querySelector("script.cine-data");
    if (!node) return;
    card.dataset.cineReady = "1";
    var data = JSON.parse(node.textContent);
    var before = card.querySelector(".wipe img.before");
    var after = card.querySelector(".wipe img.after");
    var button = card.querySelector("button.play");
    var scrub = card.querySelector("input.scrub");
    var label = card.querySelector(".frame-label");
    var n = Math.min(data.before.length, data.after.length);
    var index = 0, timer = null, period = 1000 / Math.max(1, data.fps || 10);
    // decode every frame once so that playback does not wait on data-URI decoding
    var cache = [];
    for (var i = 0; i < n; i++) {
      var a = new Image(); a.src = data.before[i];
      var b = new Image(); b.src = data.after[i];
      cache.push([a, b]);
    }
    scrub.max = n - 1;
    function show(i) {
      index = ((i % n) + n) % n;
      before.src = data.before[index];
      after.src = data.after[index];
      scrub.value = index;
      card.dataset.frame = index;
      label.textContent = "frame " + (index + 1) + " / " + n +
        (data.labels ? "  (source frame " + data.labels[index] + ")" : "");
    }
    function play() {
      if (timer) return;
      var last = performance.now();
      button.textContent = "Pause";
      timer = setInterval(function () {
        var now = performance.now();
        var steps = Math.max(1, Math.round((now - last) / period));
        last += steps * period;
        show(index + steps);
      }, period);
      card.dataset.playing = "1";
    }
    function pause() {
      if (timer) clearInterval(timer);
      timer = null;
      button.textContent = "Play";
      card.dataset.playing = "0";
    }
    button.addEventListener("click", function () { timer ? pause() : play(); });
    scrub.addEventListener("input", function () { pause(); show(parseInt(scrub.value, 10)); });
    show(0);
  }
  function initAll(root) {
    (root || document).querySelectorAll(".wipe").forEach(initWipe);
    (root || document).querySelectorAll(".card").forEach(initCine);
  }
  window.pocusiqView = { initAll: initAll, setPos: setPos };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { initAll(); });
  else initAll();
})();
