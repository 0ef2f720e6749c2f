// tradebrain live dashboard: plain JavaScript over the JSON endpoints, no libraries, no network beyond this server.
"use strict";
const API = "/api/learning";
const COLORS = ["#1f77b4", "#d62728", "#7f7f7f", "#000000", "#9467bd"];
const REGIMES = ["bull_momentum", "bear_defensive", "choppy", "crisis", "theme_driven"];
const COMPONENTS = ["theme", "technical", "ai", "sentiment"];

async function getJSON(path) {
  const response = await fetch(API + path);
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function text(id, value) { document.getElementById(id).textContent = value; }
function pct(x, digits = 1) { return (x === null || x === undefined) ? "-" : (100 * x).toFixed(digits) + "%"; }

// Draws series (arrays of numbers) on a canvas, each scaled to [lo, hi], with a y-axis label at both ends.
function plot(canvasId, series, colors, lo, hi, fill) {
  const canvas = document.getElementById(canvasId);
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 30;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, 5, w - pad - 5, h - 20);
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText(hi.toPrecision(4), 0, 12); ctx.fillText(lo.toPrecision(4), 0, h - 15);
  const span = (hi - lo) || 1;
  series.forEach((values, k) => {
    if (values.length === 0) return;
    ctx.beginPath(); ctx.strokeStyle = colors[k]; ctx.lineWidth = 1.5;
    values.forEach((v, i) => {
      const x = pad + (values.length === 1 ? 0 : i * (w - pad - 5) / (values.length - 1));
      const y = 5 + (h - 20) * (1 - (v - lo) / span);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
    if (fill) { ctx.lineTo(w - 5, h - 15); ctx.lineTo(pad, h - 15); ctx.fillStyle = colors[k] + "33"; ctx.fill(); }
  });
}

function legend(id, names) {
  document.getElementById(id).innerHTML = names.map((n, k) => `<span><i style="background:${COLORS[k]}"></i>${n}</span>`).join("");
}

function rows(id, items, cells) {
  const body = document.getElementById(id);
  body.innerHTML = "";
  items.slice().reverse().slice(0, 20).forEach(item => {
    const tr = document.createElement("tr");
    cells(item).forEach(([value, cls]) => { const td = document.createElement("td"); td.textContent = value; if (cls) td.className = cls; tr.appendChild(td); });
    body.appendChild(tr);
  });
}

async function refreshEquity() {
  const perf = await getJSON("/performance");
  const eq = perf.equity.map(p => p[1]), dd = perf.equity.map(p => -p[2]);
  if (eq.length) {
    const lo = Math.min(...eq), hi = Math.max(...eq);
    plot("equity", [eq], ["#1f77b4"], lo, hi, false);
    text("equity-summary", `equity ${eq[eq.length - 1].toFixed(2)}, drawdown ${pct(-dd[dd.length - 1], 2)}, ` +
      `worst ${pct(-Math.min(...dd), 2)}, rolling Sharpe ${perf.rolling_sharpe.toFixed(2)}, ${eq.length} marks`);
  } else {
    text("equity-summary", "no equity marks yet");
  }
  rows("trades", perf.trades, t => [[t.trade_id], [t.ticker || ""], [pct(t.net_return, 2), t.net_return > 0 ? "buy" : ""],
    [t.exit_reason || ""], [t.regime || ""]]);
}

async function refreshRegime() {
  const reg = await getJSON("/regime");
  if (reg.current) {
    text("regime-current", `${reg.current.ticker}: ${reg.current.regime || "unknown"} ` +
      `(confidence ${reg.current.confidence.toFixed(2)}) at ${reg.current.time}`);
  }
  const series = REGIMES.map((_, k) => reg.history.map(r => r[2 + k]));
  plot("regimes", series, COLORS, 0, 1, false);
  legend("regime-legend", REGIMES);
}

async function refreshWeights() {
  const w = await getJSON("/weights");
  text("weights-current", COMPONENTS.map(c => `${c} ${w.weights[c].toFixed(2)}`).join(", "));
  const series = COMPONENTS.map((_, k) => w.history.map(r => r[1 + k]));
  plot("weights", series, COLORS, 0, 1, false);
  legend("weights-legend", COMPONENTS);
}

async function refreshBreaker() {
  const b = await getJSON("/circuit-breaker");
  text("breaker-state", `state ${b.state} (level ${b.level}), ${b.events.length} events`);
  rows("breaker-events", b.events, e => [[e.bar], [e.old], [e.new], [e.reason]]);
}

async function refreshDecisions() {
  const s = await getJSON("/statistics");
  rows("decisions", s.recent_decisions, d => [[d.time.slice(0, 19)], [d.ticker], [d.action, d.action], [pct(d.size)],
    [pct(d.stop)], [pct(d.target)], [d.hold_bars], [d.regime || ""]]);
  return s;
}

async function refresh() {
  try {
    const [s] = await Promise.all([refreshDecisions(), refreshEquity(), refreshRegime(), refreshWeights(), refreshBreaker()]);
    text("status", `${s.decisions} decisions, ${s.trades} trades, breaker ${s.breaker} — updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = "1";
  } catch (err) {
    text("status", "error: " + err.message);
  }
}

refresh();
setInterval(refresh, 5000);
