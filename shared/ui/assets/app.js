// nzj's page script, a progressive enhancement: without it the page works, times show in UTC
// and nothing refreshes by itself. With it: times in the browser's zone (UTC on hover), the
// time-range filter in the browser's zone, and a list or job that refreshes in place while jobs
// run (only the part that changes is replaced, so nothing jumps and focus stays).
(function () {
  "use strict";
  function localTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.textContent = d.toLocaleString(); }
    });
  }
  function zoneFields() {
    document.querySelectorAll("input[name=tz]").forEach(function (el) {
      el.value = String(new Date().getTimezoneOffset());
    });
  }
  function refresh() {
    var live = document.getElementById("live");
    if (!live || !live.dataset.refresh) { return; }
    var every = Math.max(1, parseInt(live.dataset.refresh, 10) || 3) * 1000;
    setTimeout(function () {
      fetch(location.href, { credentials: "same-origin", headers: { "x-nzj-refresh": "1" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          var next = new DOMParser().parseFromString(html, "text/html").getElementById("live");
          if (!next) { return; }
          localTimes(next);
          var current = document.getElementById("live");
          if (current.innerHTML !== next.innerHTML) { current.innerHTML = next.innerHTML; }
          if (next.dataset.refresh) { current.dataset.refresh = next.dataset.refresh; } else { delete current.dataset.refresh; }
          refresh();
        })
        .catch(function () { refresh(); });
    }, every);
  }
  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    zoneFields();
    refresh();
  });
})();
