// Grid-Monitor: poll /readings.json and update the table in place (no inline script:
// the page's CSP allows scripts from 'self' only).
"use strict";

(function () {
  const section = document.getElementById("readings");
  if (!section) return;
  const seconds = Number(section.dataset.pollSeconds) || 2;
  const errorBox = document.getElementById("api-error");

  function setText(id, value) {
    const element = document.getElementById(id);
    if (element) element.textContent = String(value);
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  function cell(tag, text, className) {
    const element = document.createElement(tag);
    element.textContent = text;
    if (className) element.className = className;
    return element;
  }

  // Readings devices sent (the sensor hub): rebuilt each time, with textContent only.
  function renderReported(reported) {
    const box = document.getElementById("reported");
    if (!box) return;
    const table = box.querySelector("table");
    const rows = table.querySelector("tbody");
    rows.replaceChildren();
    for (const reading of reported) {
      const row = document.createElement("tr");
      row.dataset.reported = reading.id;
      row.append(
        cell("th", reading.name),
        cell("td", reading.value + " " + reading.unit, "num"),
        cell("td", reading.client_id + " (" + reading.subject + ")"),
      );
      row.firstChild.scope = "row";
      rows.append(row);
    }
    table.hidden = reported.length === 0;
    document.getElementById("reported-none").hidden = reported.length > 0;
  }

  function render(data) {
    renderReported(data.reported || []);
    for (const reading of data.readings || []) {
      const row = section.querySelector('tr[data-sensor="' + CSS.escape(reading.id) + '"]');
      if (!row) continue;
      // The same format as the page: the sensor's own number of decimals.
      row.querySelector(".value").textContent = Number(reading.value).toFixed(reading.decimals);
      const status = row.querySelector(".status");
      status.textContent = reading.status;
      status.className = "status status-" + (reading.status === "ok" ? "ok" : "warning");
    }
    const time = document.getElementById("generated-at");
    if (time && data.generated_at) {
      time.dateTime = data.generated_at;
      time.textContent = data.generated_at.slice(11, 19) + " UTC";
    }
    if (data.token) {
      setText("token-expires-in", data.token.expires_in);
      setText("token-refreshes", data.token.refreshes);
    }
  }

  async function poll() {
    try {
      const response = await fetch("/readings.json", {
        credentials: "same-origin",
        cache: "no-store",
        headers: { Accept: "application/json" },
      });
      if (response.status === 401) {
        window.location.assign("/?expired=1");
        return;
      }
      const data = await response.json();
      if (!response.ok) {
        showError(data.detail || "The sensors API is not answering.");
      } else {
        showError("");
        render(data);
      }
    } catch (error) {
      showError("Grid-Monitor cannot be reached.");
    }
    window.setTimeout(poll, seconds * 1000);
  }

  window.setTimeout(poll, seconds * 1000);
})();
