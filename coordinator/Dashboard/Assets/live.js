// Follows a running study: every 2 s, replaces the region marked data-live-url with the server's fresh fragment
// (an aria-live region, so screen readers hear the change). Stops when the fragment says the study has ended,
// or when the user presses Pause. Without script the page still works: reload shows the same fragment.
(function () {
  'use strict';
  var region = document.querySelector('[data-live-url]');
  if (!region) { return; }
  var button = document.getElementById('live-toggle');
  var paused = false;
  var timer = null;
  function ended() { return region.querySelector('[data-final="true"]') !== null; }
  function schedule() {
    if (!paused && !ended()) { timer = window.setTimeout(refresh, 2000); }
    else if (ended() && button) { button.hidden = true; }
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
