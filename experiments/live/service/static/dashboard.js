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

// Draws series (arrays of numbers) on a canvas, each scaled to [lo, hi]: y labels (fmt) left of the frame, the
// first and last time under it. The canvas takes its panel's width; the frame's left edge goes to data-pad.
// fill: "top" or "bottom" shades between the first series and that edge (drawdown: "top", the zero line).
function plot(canvasId, series, colors, lo, hi, opts = {}) {
  const canvas = document.getElementById(canvasId);
  const cw = Math.round(canvas.clientWidth);
  if (cw > 0 && canvas.width !== cw) canvas.width = cw;
  const ctx = canvas.getContext("2d");
  const fmt = opts.fmt || (v => v.toPrecision(3));
  const w = canvas.width, h = canvas.height, top = 5, bottom = h - 15;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px sans-serif";
  const labels = [fmt(hi), fmt(lo)];
  const pad = Math.ceil(Math.max(...labels.map(l => ctx.measureText(l).width))) + 6;
  canvas.dataset.pad = pad;
  ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, top, w - pad - 5, bottom - top);
  ctx.fillStyle = "#555";
  ctx.textAlign = "right"; ctx.fillText(labels[0], pad - 3, top + 8); ctx.fillText(labels[1], pad - 3, bottom);
  if (opts.times && opts.times.length) {
    const t0 = shortTime(opts.times[0]), t1 = shortTime(opts.times[opts.times.length - 1]);
    ctx.textAlign = "left"; ctx.fillText(t0, pad, h - 3);
    if (t1 !== t0) { ctx.textAlign = "right"; ctx.fillText(t1, w - 5, h - 3); }
  }
  ctx.textAlign = "left";
  const span = (hi - lo) || 1;
  series.forEach((values, k) => {
    if (values.length === 0) return;
    const xs = values.map((_, i) => pad + (values.length === 1 ? 0 : i * (w - pad - 5) / (values.length - 1)));
    // earlier series wider, so one hidden under a later one with the same values still shows at its edges
    ctx.beginPath(); ctx.strokeStyle = colors[k]; ctx.lineWidth = 1.5 + 0.5 * (series.length - 1 - k);
    values.forEach((v, i) => {
      const y = top + (bottom - top) * (1 - (v - lo) / span);
      if (i === 0) ctx.moveTo(xs[i], y); else ctx.lineTo(xs[i], y);
    });
    ctx.stroke();
    if (opts.fill && k === 0) {
      const edge = opts.fill === "top" ? top : bottom;
      ctx.lineTo(xs[xs.length - 1], edge); ctx.lineTo(xs[0], edge); ctx.closePath();
      ctx.fillStyle = colors[k] + "33"; ctx.fill();
    }
  });
}

function shortTime(t) { return String(t).replace("T00:00:00", "").slice(0, 16).replace("T", " "); }

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
  const times = perf.equity.map(p => p[0]), eq = perf.equity.map(p => p[1]), dd = perf.equity.map(p => -p[2]);
  if (eq.length) {
    const money = v => Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(4);
    plot("equity", [eq], ["#1f77b4"], Math.min(...eq), Math.max(...eq), { fmt: money, times });
    plot("drawdown", [dd], ["#d62728"], Math.min(-0.001, ...dd), 0, { fmt: v => pct(v, 1), times, fill: "top" });
    const sharpe = (typeof perf.rolling_sharpe === "number") ? perf.rolling_sharpe.toFixed(2) : "-";
    text("equity-summary", `equity ${eq[eq.length - 1].toFixed(2)}, drawdown ${pct(-dd[dd.length - 1], 2)}, ` +
      `worst ${pct(-Math.min(...dd), 2)}, rolling Sharpe ${sharpe}, ${eq.length} marks`);
  } else {
    text("equity-summary", "no equity marks yet");
  }
  rows("trades", perf.trades, t => [[t.trade_id], [t.ticker || ""], [pct(t.net_return, 2), t.net_return > 0 ? "buy" : ""],
    [t.exit_reason || ""], [t.regime || ""]]);
}

async function refreshRegime() {
  const reg = await getJSON("/regime");
  let history = reg.history;
  if (reg.current) {
    const conf = (typeof reg.current.confidence === "number") ? reg.current.confidence.toFixed(2) : "-";
    text("regime-current", `${reg.current.ticker}: ${reg.current.regime || "unknown"} ` +
      `(confidence ${conf}) at ${shortTime(reg.current.time)}`);
    history = history.filter(r => r[1] === reg.current.ticker);  // one ticker's probabilities, not a mix
  }
  const series = REGIMES.map((_, k) => history.map(r => r[2 + k]));
  plot("regimes", series, COLORS, 0, 1, { fmt: v => v.toFixed(1), times: history.map(r => r[0]) });
  legend("regime-legend", REGIMES);
}

async function refreshWeights() {
  const w = await getJSON("/weights");
  const show = values => COMPONENTS.map((c, k) => `${c} ${values[k].toFixed(2)}`).join(", ");
  text("weights-current", "pooled now: " + show(COMPONENTS.map(c => w.weights[c])));
  const last = w.history[w.history.length - 1];
  text("weights-caption", "lines: the weights each decision used (its regime's)" +
    (last ? "; last decision: " + show(last.slice(1)) : ""));
  const series = COMPONENTS.map((_, k) => w.history.map(r => r[1 + k]));
  plot("weights", series, COLORS, 0, 1, { fmt: v => v.toFixed(1), times: w.history.map(r => r[0]) });
  legend("weights-legend", COMPONENTS);
}

async function refreshBreaker() {
  const b = await getJSON("/circuit-breaker");
  text("breaker-state", `state ${b.state} (level ${b.level}), ${b.events.length} events`);
  rows("breaker-events", b.events, e => [[e.bar], [e.old], [e.new], [e.reason]]);
}

async function refreshDecisions() {
  const s = await getJSON("/statistics");
  rows("decisions", s.recent_decisions, d => [[shortTime(d.time)], [d.ticker], [d.action, d.action], [pct(d.size)],
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
