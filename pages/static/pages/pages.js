// The pages' only script: it refreshes states in place, every few seconds, from JSON the
// session may read (the API, or the pages' own small endpoints). Every refresh is a
// conditional request: while nothing changed, the server answers 304 without a body.
// No library, no build.
(function () {
  "use strict";
  var INTERVAL = 3000;
  var STATES = ["unscheduled", "pending", "running", "completed", "failed", "error",
    "cancelled", "stopping", "stopped"];
  // The order of the states in a bar, as pages/graph.py draws them.
  var BAR_ORDER = ["completed", "failed", "error", "cancelled", "stopped", "stopping",
    "running", "pending", "unscheduled"];
  var ACTIVE = ["pending", "running", "stopping"];

  function setState(element, state) {
    if (!element || element.getAttribute("data-shown-state") === state) return;
    STATES.forEach(function (name) { element.classList.remove("state-" + name); });
    element.classList.add("state-" + state);
    element.setAttribute("data-shown-state", state);
    if (element.tagName.toLowerCase() !== "a") element.textContent = state;
  }

  function formatNumber(value) {
    return Number(value || 0).toLocaleString("en-US");
  }

  // Times as the server writes them: to the second, in UTC, with the zone.
  function formatTime(value) {
    if (!value) return "—";
    var date = new Date(value);
    if (isNaN(date.getTime())) return value;
    return date.toISOString().replace("T", " ").replace(/\.\d+Z$/, "") + " UTC";
  }

  function formatDuration(seconds) {
    seconds = Math.max(Math.floor(seconds), 0);
    var minutes = Math.floor(seconds / 60), hours = Math.floor(minutes / 60);
    var days = Math.floor(hours / 24);
    if (days) return days + " day" + (days > 1 ? "s" : "") + " " + (hours % 24) + " h";
    if (hours) return hours + " h " + (minutes % 60) + " min";
    if (minutes) return minutes + " min " + (seconds % 60) + " s";
    return seconds + " s";
  }

  // Durations of what is still running grow between two refreshes.
  function tickDurations(root) {
    root.querySelectorAll("[data-elapsed-since]").forEach(function (element) {
      var since = Date.parse(element.getAttribute("data-elapsed-since"));
      var until = element.getAttribute("data-elapsed-until");
      var end = until ? Date.parse(until) : Date.now();
      if (!isNaN(since)) element.textContent = formatDuration((end - since) / 1000);
    });
  }

  // A conditional GET: the ETag of the last answer goes back in If-None-Match; a 304
  // resolves to null (nothing changed). The browser's cache is left out, so that the 304
  // reaches the script.
  var etags = {};
  function getConditional(url, accept) {
    var headers = { Accept: accept || "application/json" };
    if (etags[url]) headers["If-None-Match"] = etags[url];
    return fetch(url, { credentials: "same-origin", cache: "no-store", headers: headers })
      .then(function (response) {
        if (response.status === 304) return null;
        if (!response.ok) {
          var error = new Error(url + " answered " + response.status);
          error.status = response.status;
          throw error;
        }
        var etag = response.headers.get("ETag");
        if (etag) etags[url] = etag;
        return accept ? response.text() : response.json();
      });
  }

  function every(refresh) {
    function tick() {
      refresh().then(function (again) {
        if (again !== false) setTimeout(tick, INTERVAL);
      }, function (error) {
        // Logged out, or no longer allowed to see it (another tab changed the session):
        // stop. Anything else may be a server restarting: try again later.
        if (error.status >= 400 && error.status < 500) return;
        setTimeout(tick, INTERVAL * 3);
      });
    }
    setTimeout(tick, INTERVAL);
  }

  // The process list: its rows as the server renders them (new processes, states,
  // progress), from the same address with the same filters and page.
  function refreshList(table) {
    var url = table.getAttribute("data-refresh-list") + window.location.search;
    var body = table.querySelector("tbody");
    every(function () {
      return getConditional(url, "text/html").then(function (html) {
        if (html !== null) {
          body.innerHTML = html;
          tickDurations(body);
        }
      });
    });
  }

  // A bar of states (SVG rects): widths from counts, in BAR_ORDER, adding up to `width`.
  function setBar(bar, counts, total, x0, width) {
    var seen = 0, x = 0;
    BAR_ORDER.forEach(function (state) {
      seen += counts[state] || 0;
      var end = total ? Math.round(width * seen / total) : 0;
      var rect = bar.querySelector("rect.bar-" + state);
      if (rect) {
        rect.setAttribute("x", x0 + x);
        rect.setAttribute("width", end - x);
      }
      x = end;
    });
  }

  function summarize(counts) {
    var order = ["running", "failed", "error", "cancelled", "stopping", "stopped", "pending",
      "unscheduled", "completed"];
    var present = Object.keys(counts).filter(function (state) { return counts[state] > 0; });
    if (present.length === 1) return present[0];
    for (var i = 0; i < order.length; i++) {
      if (counts[order[i]]) return order[i];
    }
    return "unscheduled";
  }

  function groupDetail(counts, total) {
    var failed = (counts.failed || 0) + (counts.error || 0);
    var parts = [formatNumber(counts.completed) + "/" + formatNumber(total) + " done"];
    if (failed) parts.push(formatNumber(failed) + " failed");
    if (counts.running) parts.push(formatNumber(counts.running) + " running");
    return parts.join(" · ");
  }

  function refreshGroups(section, groups) {
    Object.keys(groups).forEach(function (key) {
      var node = section.querySelector('[data-group="' + key + '"]');
      if (!node) return;
      var counts = groups[key];
      var total = Number(node.getAttribute("data-total"));
      setState(node, summarize(counts));
      var detail = node.querySelector("[data-detail]");
      if (detail) detail.textContent = groupDetail(counts, total);
      var bar = node.querySelector("[data-bar]");
      if (bar) {
        var rect = node.querySelector("rect");
        setBar(bar, counts, total, Number(bar.getAttribute("data-x")),
          Number(rect.getAttribute("width")) - 16);
      }
    });
  }

  function refreshProgress(section, body) {
    var progress = body.progress;
    var set = function (selector, value) {
      var element = section.querySelector(selector);
      if (element) element.textContent = value;
    };
    set("[data-progress-done]", formatNumber(progress.done));
    set("[data-progress-total]", formatNumber(progress.total));
    set("[data-progress-percent]", progress.percent);
    set("[data-progress-failed]", formatNumber(progress.failed));
    var failedLink = section.querySelector("[data-progress-failed-link]");
    if (failedLink) failedLink.hidden = !progress.failed;
    var bar = section.querySelector("[data-progress] svg.bar");
    if (bar) setBar(bar, body.counts, progress.total, 0, 100);
    section.querySelectorAll("[data-count]").forEach(function (link) {
      var count = body.counts[link.getAttribute("data-count")] || 0;
      var value = link.querySelector("[data-count-value]");
      if (value) value.textContent = formatNumber(count);
      link.hidden = !count;
    });
    var elapsed = section.querySelector(".progress [data-elapsed-since]");
    if (elapsed && body.finished) elapsed.setAttribute("data-elapsed-until", body.finished);
    if (elapsed && !body.finished) elapsed.removeAttribute("data-elapsed-until");
  }

  // The process page: its state, progress, counts, buttons, the nodes of the graph and the
  // rows of the table's page.
  function refreshProcess(section) {
    var url = section.getAttribute("data-refresh-process");
    // Only an active process changes by itself; a retry reloads the page.
    if (section.getAttribute("data-active") !== "true") return;
    every(function () {
      tickDurations(section);
      return getConditional(url).then(function (body) {
        if (body === null) return true;
        setState(section.querySelector("[data-process-state]"), body.state);
        var finished = section.querySelector("[data-process-finished]");
        if (finished) finished.textContent = formatTime(body.finished);
        section.querySelectorAll("[data-when]").forEach(function (form) {
          var wanted = form.getAttribute("data-when") === "active";
          form.hidden = body.active !== wanted;
        });
        refreshProgress(section, body);
        refreshGroups(section, body.groups || {});
        Object.keys(body.tasks).forEach(function (id) {
          var state = body.tasks[id];
          section.querySelectorAll('[data-task="' + id + '"]').forEach(function (element) {
            if (element.tagName.toLowerCase() === "tr") {
              setState(element.querySelector("[data-state]"), state);
              var times = (body.rows || {})[id];
              if (times) {
                element.querySelector("[data-started]").textContent = formatTime(times.started);
                element.querySelector("[data-finished]").textContent = formatTime(times.finished);
                var duration = element.querySelector("[data-elapsed-since]");
                if (duration && times.finished) {
                  duration.setAttribute("data-elapsed-until", times.finished);
                }
              }
            } else {
              setState(element, state);
              var detail = element.querySelector("[data-detail]");
              if (detail) detail.textContent = detail.textContent.replace(/^[a-z]+/, state);
            }
          });
        });
        tickDurations(section);
        return body.active;
      });
    });
  }

  // The task page: its state and its log tail while it is active. The log follows its end
  // only while the reader is at the bottom: someone who scrolled up stays where they are.
  function refreshTask(section) {
    var url = section.getAttribute("data-refresh-task");
    var log = section.querySelector("[data-log]");
    if (log) log.scrollTop = log.scrollHeight;
    if (section.getAttribute("data-active") !== "true") return;
    every(function () {
      tickDurations(section);
      return getConditional(url).then(function (body) {
        if (body === null) return true;
        setState(section.querySelector("[data-task-state]"), body.state);
        var finished = section.querySelector("[data-task-finished]");
        if (finished) finished.textContent = formatTime(body.finished);
        var exitCode = section.querySelector("[data-exit-code]");
        if (exitCode && body.exit_code !== null && body.exit_code !== undefined) {
          exitCode.textContent = body.exit_code;
        }
        if (log && body.logs && log.textContent !== body.logs) {
          var atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
          var top = log.scrollTop;
          log.textContent = body.logs;
          log.scrollTop = atBottom ? log.scrollHeight : top;
        }
        var stop = section.querySelector('[data-when="stoppable"]');
        var active = ACTIVE.indexOf(body.state) >= 0;
        if (stop) stop.hidden = !active || body.state === "stopping";
        var started = section.querySelector("[data-task-started]");
        if (started) started.textContent = formatTime(body.started);
        var duration = section.querySelector("[data-task-duration]");
        if (duration && body.started) duration.setAttribute("data-elapsed-since", body.started);
        if (duration && body.finished) duration.setAttribute("data-elapsed-until", body.finished);
        tickDurations(section);
        return active;
      });
    });
  }

  // The worker runs' elements by activity state (ListProcessActivityCounts, conditional
  // like every refresh): a bar and "processed/total" per worker run, refreshed while some
  // elements are still queued or started.
  var ACTIVITY_ORDER = ["processed", "error", "started", "queued"];
  var SVG = "http://www.w3.org/2000/svg";

  function activityBar(counts, total) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "bar");
    svg.setAttribute("viewBox", "0 0 100 4");
    svg.setAttribute("preserveAspectRatio", "none");
    var seen = 0, x = 0;
    ACTIVITY_ORDER.forEach(function (state) {
      seen += counts[state] || 0;
      var end = total ? Math.round(100 * seen / total) : 0;
      var rect = document.createElementNS(SVG, "rect");
      rect.setAttribute("class", "activity-" + state);
      rect.setAttribute("x", x);
      rect.setAttribute("y", 0);
      rect.setAttribute("width", end - x);
      rect.setAttribute("height", 4);
      svg.appendChild(rect);
      x = end;
    });
    return svg;
  }

  function refreshActivities(table) {
    var url = table.getAttribute("data-activity-counts");
    function load() {
      return getConditional(url).then(function (body) {
        if (body === null) return true;
        var waiting = false;
        body.worker_runs.forEach(function (run) {
          var cell = table.querySelector('tr[data-worker-run="' + run.worker_run_id + '"] ' +
            "[data-activity-progress]");
          if (!cell) return;
          var total = ACTIVITY_ORDER.reduce(function (sum, state) {
            return sum + (run[state] || 0);
          }, 0);
          if (run.queued || run.started) waiting = true;
          if (!total) {
            cell.textContent = body.activity_state === "pending" ? "being listed…" : "—";
            return;
          }
          var text = formatNumber(run.processed) + "/" + formatNumber(total) + " processed";
          if (run.error) text += ", " + formatNumber(run.error) + " in error";
          cell.textContent = text;
          cell.appendChild(activityBar(run, total));
        });
        return waiting || body.activity_state === "pending";
      });
    }
    load().then(function (again) {
      if (again) every(load);
    }, function () { /* No activities to show: the cell keeps its dash. */ });
  }

  // The graph: at its own size (scrolled inside its box), or fitted to the width.
  function fitGraph(button) {
    var box = document.querySelector("[data-graph]");
    if (!box || !box.querySelector("svg")) return;
    var svg = box.querySelector("svg");
    if (Number(svg.getAttribute("width")) <= box.clientWidth) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var fitted = box.classList.toggle("fitted");
      button.textContent = fitted ? "Actual size" : "Fit the width";
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-submit-on-change]").forEach(function (select) {
      select.addEventListener("change", function () { select.form.submit(); });
    });
    // Buttons that change what runs ask first.
    document.querySelectorAll("[data-confirm]").forEach(function (button) {
      button.addEventListener("click", function (event) {
        if (!window.confirm(button.getAttribute("data-confirm"))) event.preventDefault();
      });
    });
    document.querySelectorAll("[data-fit-graph]").forEach(fitGraph);
    tickDurations(document);
    document.querySelectorAll("[data-refresh-list]").forEach(refreshList);
    document.querySelectorAll("[data-refresh-process]").forEach(refreshProcess);
    document.querySelectorAll("[data-refresh-task]").forEach(refreshTask);
    document.querySelectorAll("[data-activity-counts]").forEach(refreshActivities);
  });
})();
