// Charts with Chart.js (installed from npm by `make setup`, served from /vendor/chart.js/). Each chart also has
// its figures in a table beside it (for screen readers, and so a chart is never the only way to read a number).
// Without the library the tables alone are shown.

const charts = new Map();

export function chartsAvailable() {
  return typeof window.Chart === "function";
}

// Draw or update the line chart on `canvas`: labels on x, one or more series; `percent` for fractions 0–1.
export function lineChart(canvas, { labels, series, percent = false }) {
  if (!chartsAvailable() || !canvas) return;
  const datasets = series.map((s) => ({
    label: s.label,
    data: s.values.map((v) => (v === null ? null : percent ? v * 100 : v)),
    borderColor: s.color,
    backgroundColor: s.color,
    pointRadius: labels.length > 40 ? 0 : 2,
    spanGaps: false,
    tension: 0,
    borderWidth: 2,
  }));
  const existing = charts.get(canvas);
  if (existing && existing.canvas === canvas && canvas.isConnected) {
    existing.data.labels = labels;
    existing.data.datasets.forEach((d, i) => Object.assign(d, { label: datasets[i].label, data: datasets[i].data }));
    existing.update("none");
    return;
  }
  const chart = new window.Chart(canvas, {
    type: "line",
    data: { labels, datasets },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      plugins: { legend: { display: series.length > 1 } },
      scales: {
        y: percent
          ? { suggestedMin: 80, max: 100, ticks: { callback: (v) => `${v} %` } }
          : { beginAtZero: true, ticks: { precision: 0 } },
        x: { ticks: { autoSkip: true, maxRotation: 0 } },
      },
    },
  });
  charts.set(canvas, chart);
}

export function forgetCharts() {
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
}
