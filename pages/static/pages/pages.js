// The pages' only script: it refreshes states in place, every few seconds, from JSON the
// session may read (the API, or the process page's small endpoint). No library, no build.
(function () {
  "use strict";
  var INTERVAL = 3000;
  var STATES = ["unscheduled", "pending", "running", "completed", "failed", "error",
    "cancelled", "stopping", "stopped"];

  function setState(element, state) {
    if (!element || element.textContent === state) return;
    STATES.forEach(function (name) { element.classList.remove("state-" + name); });
    element.classList.add("state-" + state);
    if (element.tagName.toLowerCase() !== "a") element.textContent = state;
  }

  function formatTime(value) {
    if (!value) return "—";
    return value.replace("T", " ").replace(/(\.\d+)?(Z|[+-]\d\d:\d\d)$/, "");
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (!response.ok) {
          var error = new Error(url + " answered " + response.status);
          error.status = response.status;
          throw error;
        }
        return response.json();
      });
  }

  function every(refresh) {
    var timer = null;
    function tick() {
      refresh().then(function (again) {
        if (again !== false) timer = setTimeout(tick, INTERVAL);
      }, function (error) {
        // Logged out, or no longer allowed to see it (another tab changed the session):
        // stop. Anything else may be a server restarting: try again later.
        if (error.status >= 400 && error.status < 500) return;
        timer = setTimeout(tick, INTERVAL * 3);
      });
    }
    timer = setTimeout(tick, INTERVAL);
    return timer;
  }

  // The process list: the same page of ListProcesses, with the same filters.
  function refreshList(table) {
    var url = table.getAttribute("data-refresh-list") + window.location.search;
    every(function () {
      return getJSON(url).then(function (body) {
        body.results.forEach(function (process) {
          var row = table.querySelector('tr[data-process="' + process.id + '"]');
          if (!row) return;
          setState(row.querySelector("[data-state]"), process.state);
          var finished = row.querySelector("[data-finished]");
          if (finished) finished.textContent = formatTime(process.finished);
        });
      });
    });
  }

  // The process page: its state, its buttons, and the nodes and rows of the shown run.
  function refreshProcess(section) {
    var url = section.getAttribute("data-refresh-process");
    // Only an active process changes by itself; a retry reloads the page.
    if (section.getAttribute("data-active") !== "true") return;
    every(function () {
      return getJSON(url).then(function (body) {
        setState(section.querySelector("[data-process-state]"), body.state);
        var finished = section.querySelector("[data-process-finished]");
        if (finished) finished.textContent = formatTime(body.finished);
        section.querySelectorAll("[data-when]").forEach(function (form) {
          var wanted = form.getAttribute("data-when") === "active";
          form.hidden = body.active !== wanted;
        });
        Object.keys(body.tasks).forEach(function (id) {
          var state = body.tasks[id];
          section.querySelectorAll('[data-task="' + id + '"]').forEach(function (element) {
            if (element.tagName.toLowerCase() === "tr") {
              setState(element.querySelector("[data-state]"), state);
            } else {
              setState(element, state);
              var detail = element.querySelector("[data-detail]");
              if (detail) detail.textContent = detail.textContent.replace(/^[a-z]+/, state);
            }
          });
        });
        return body.active;
      });
    });
  }

  // The task page: its state and its log tail, scrolled to the end, while it is active.
  function refreshTask(section) {
    var url = section.getAttribute("data-refresh-task");
    var log = section.querySelector("[data-log]");
    if (log) log.scrollTop = log.scrollHeight;
    if (section.getAttribute("data-active") !== "true") return;
    every(function () {
      return getJSON(url).then(function (body) {
        setState(section.querySelector("[data-task-state]"), body.state);
        var finished = section.querySelector("[data-task-finished]");
        if (finished) finished.textContent = formatTime(body.finished);
        if (log && body.logs && log.textContent !== body.logs) {
          log.textContent = body.logs;
          log.scrollTop = log.scrollHeight;
        }
        var stop = section.querySelector('[data-when="stoppable"]');
        var active = ["pending", "running", "stopping"].indexOf(body.state) >= 0;
        if (stop) stop.hidden = !active || body.state === "stopping";
        return active;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    document.querySelectorAll("[data-refresh-list]").forEach(refreshList);
    document.querySelectorAll("[data-refresh-process]").forEach(refreshProcess);
    document.querySelectorAll("[data-refresh-task]").forEach(refreshTask);
  });
})();
