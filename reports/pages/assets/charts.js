// Draws every chart on a page: a .chart div holds a Vega-Lite spec (data-spec) and the dataset it
// shows (data-dataset, a JSON file under data/ that `loader report build` wrote). A device page's
// datasets (device/...) are its own device's rows. A chart marks itself with data-rows when drawn,
// or shows why not; the browser tests read both.
(function () {
  const config = JSON.parse(document.getElementById("__config").textContent);
  const base = new URL(config.base.endsWith("/") ? config.base : config.base + "/", window.location.href);
  const deviceElement = document.querySelector("[data-device-id]");

  function datasetUrl(name) {
    if (name.startsWith("device/")) {
      return new URL("data/device/" + deviceElement.dataset.deviceId + "/" + name.slice(7) + ".json", base);
    }
    return new URL("data/" + name + ".json", base);
  }

  function notice(element, className, text) {
    const paragraph = document.createElement("p");
    paragraph.className = className;
    paragraph.textContent = text;
    element.replaceChildren(paragraph);
  }

  async function draw(element) {
    const name = element.dataset.dataset;
    try {
      const response = await fetch(datasetUrl(name));
      const rows = response.ok ? await response.json() : [];
      if (rows.length === 0) {
        element.dataset.rows = "0";
        notice(element, "chart-empty", "No data for this chart yet (" + name + ").");
        return;
      }
      const spec = JSON.parse(element.dataset.spec);
      spec.data = { values: rows };
      spec.width = spec.width || "container";
      element.replaceChildren();
      await vegaEmbed(element, spec, { renderer: "svg", actions: false });
      element.dataset.rows = String(rows.length);
    } catch (error) {
      element.dataset.error = String(error);
      notice(element, "chart-error", "This chart could not be drawn: " + error);
    }
  }

  document.querySelectorAll(".chart").forEach(draw);
})();
