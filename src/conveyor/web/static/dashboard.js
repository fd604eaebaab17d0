// conveyor dashboard: confirmations, select-all and live progress. No inline script anywhere.
"use strict";

function confirmBeforeSubmit() {
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
  });
  document.querySelectorAll("form[data-confirm-actions]").forEach(function (form) {
    var destructive = form.dataset.confirmActions.split(" ");
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      var chosen = form.querySelectorAll("input[name=ids]:checked").length;
      if (button && destructive.indexOf(button.value) >= 0 &&
          !window.confirm(button.value + " " + chosen + " selected job(s)?")) {
        event.preventDefault();
      }
    });
  });
}

function selectAll() {
  document.querySelectorAll("input.select-all").forEach(function (box) {
    box.addEventListener("change", function () {
      var form = box.closest("form");
      form.querySelectorAll("input[name=ids]").forEach(function (item) { item.checked = box.checked; });
    });
  });
}

function showProgress(box, data) {
  var bar = box.querySelector("progress");
  var text = box.querySelector(".progress-text");
  var progress = data.progress;
  if (progress && typeof progress.fraction === "number") {
    bar.value = progress.fraction;
    text.textContent = Math.floor(progress.fraction * 100) + "%" + (progress.message ? " " + String(progress.message) : "");
  }
  var state = document.querySelector("[data-testid=job-state]");
  if (state && state.textContent !== data.state) {
    state.textContent = data.state;
    state.className = "state state-" + data.state;
  }
}

function pollProgress() {
  var box = document.querySelector("[data-progress-url]");
  if (!box) { return; }
  var live = ["queued", "scheduled", "started"];
  if (live.indexOf(box.dataset.state) < 0) { return; }
  var timer = window.setInterval(function () {
    fetch(box.dataset.progressUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (data) {
        if (!data) { return; }
        showProgress(box, data);
        if (live.indexOf(data.state) < 0) { window.clearInterval(timer); }
      })
      .catch(function () { /* the next tick tries again */ });
  }, 1000);
}

document.addEventListener("DOMContentLoaded", function () {
  confirmBeforeSubmit();
  selectAll();
  pollProgress();
});
