// Follows a running study or scenario run: every 2 s (or data-live-interval ms), replaces the region marked
// data-live-url with the server's fresh fragment (an aria-live region, so screen readers hear the change). Stops when
// the fragment says it has ended (data-final), then opens the fragment's data-then page if it names one (a finished
// scenario run shows its result), or when the user presses Pause. Without script the page still works: reload shows
// the same fragment.
(function () {
  'use strict';
  var region = document.querySelector('[data-live-url]');
  if (!region) { return; }
  var button = document.getElementById('live-toggle');
  var paused = false;
  var timer = null;
  var interval = parseInt(region.getAttribute('data-live-interval') || '2000', 10);
  function ended() { return region.querySelector('[data-final="true"]') !== null; }
  function then() {
    var final = region.querySelector('[data-final="true"][data-then]');
    var target = final ? final.getAttribute('data-then') : null;
    // Only a path on this coordinator ("/x", never "//host" or a scheme).
    if (target && target.charAt(0) === '/' && target.charAt(1) !== '/') { window.location.assign(target); }
  }
  function schedule() {
    if (!paused && !ended()) { timer = window.setTimeout(refresh, interval); }
    else if (ended()) { if (button) { button.hidden = true; } then(); }
  }
  function refresh() {
    fetch(region.getAttribute('data-live-url'), { credentials: 'same-origin', headers: { 'Accept': 'text/html' } })
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.text(); })
      .then(function (html) { region.innerHTML = html; schedule(); })
      .catch(function () { timer = window.setTimeout(refresh, 5000); });
  }
  if (button) {
    button.hidden = ended();
    button.addEventListener('click', function () {
      paused = !paused;
      button.textContent = paused ? 'Resume live updates' : 'Pause live updates';
      button.setAttribute('aria-pressed', paused ? 'true' : 'false');
      if (paused) { window.clearTimeout(timer); } else { refresh(); }
    });
  }
  schedule();
})();
