// tradebrain live dashboard: plain JavaScript over the JSON endpoints, no libraries, no network beyond this server.
// One ticker at a time (the selector; kept in the page's #ticker=... so a reload keeps it): its regime, the weights
// of its decisions, its decisions and trades. Equity, drawdown and the breaker belong to the account (all tickers).
"use strict";
const API = "/api/learning";
const COLORS = ["#1f77b4", "#d62728", "#7f7f7f", "#000000", "#9467bd"];
const REGIMES = ["bull_momentum", "bear_defensive", "choppy", "crisis", "theme_driven"];
const COMPONENTS = ["theme", "technical", "ai", "sentiment"];

async function getJSON(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined));
  const response = await fetch(API + path + (query.toString() ? "?" + query : ""));
  if (!response.ok) throw new Error(path + ": HTTP " + response.status);
  return response.json();
}

function text(id, value) { document.getElementById(id).textContent = value; }
function pct(x, digits = 1) { return (x === null || x === undefined) ? "-" : (100 * x).toFixed(digits) + "%"; }

// Ticks for [lo, hi]: 3 to 6 round values (1, 2 or 5 times a power of ten) and the decimals that tell them apart.
// A flat range is widened around its value, so the axis never shows the same label twice.
function niceTicks(lo, hi) {
  if (!(hi > lo)) { const pad = Math.max(Math.abs(lo) * 0.005, 1e-9); lo -= pad; hi += pad; }
  const raw = (hi - lo) / 4, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map(m => m * power).find(s => s >= raw);
  const first = Math.floor(lo / step) * step, ticks = [];
  for (let v = first; v <= hi + step * 1e-9; v += step) ticks.push(v);
  if (ticks[ticks.length - 1] < hi) ticks.push(ticks[ticks.length - 1] + step);
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  return { ticks, lo: ticks[0], hi: ticks[ticks.length - 1], decimals };
}

// Draws series (arrays of numbers) on a canvas scaled to [lo, hi] with labelled horizontal grid lines (ticks), the
// first and last time under the frame. The canvas takes its panel's width; the frame's left edge goes to data-pad.
// fill: "top" or "bottom" shades between the first series and that edge (drawdown: "top", the zero line).
function plot(canvasId, series, colors, lo, hi, opts = {}) {
  const canvas = document.getElementById(canvasId);
  const cw = Math.round(canvas.clientWidth);
  if (cw > 0 && canvas.width !== cw) canvas.width = cw;
  const ctx = canvas.getContext("2d");
  const fmt = opts.fmt || (v => v.toPrecision(3));
  const ticks = opts.ticks || [lo, hi];
  const w = canvas.width, h = canvas.height, top = 6, bottom = h - 15;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px sans-serif";
  const labels = ticks.map(fmt);
  canvas.dataset.labels = JSON.stringify(labels);
  const pad = Math.ceil(Math.max(...labels.map(l => ctx.measureText(l).width))) + 6;
  canvas.dataset.pad = pad;
  const span = (hi - lo) || 1, y = v => top + (bottom - top) * (1 - (v - lo) / span);
  ctx.strokeStyle = "#ccc"; ctx.strokeRect(pad, top, w - pad - 5, bottom - top);
  ctx.fillStyle = "#555"; ctx.textAlign = "right";
  ticks.forEach((v, i) => {
    ctx.fillText(labels[i], pad - 3, Math.min(bottom, Math.max(top + 8, y(v) + 3)));
    ctx.beginPath(); ctx.strokeStyle = "#eee"; ctx.moveTo(pad + 1, y(v)); ctx.lineTo(w - 6, y(v)); ctx.stroke();
  });
  if (opts.times && opts.times.length) {
    const t0 = shortTime(opts.times[0]), t1 = shortTime(opts.times[opts.times.length - 1]);
    ctx.textAlign = "left"; ctx.fillText(t0, pad, h - 3);
    if (t1 !== t0) { ctx.textAlign = "right"; ctx.fillText(t1, w - 5, h - 3); }
  }
  ctx.textAlign = "left";
  series.forEach((values, k) => {
    if (values.length === 0) return;
    const xs = values.map((_, i) => pad + (values.length === 1 ? 0 : i * (w - pad - 5) / (values.length - 1)));
    // earlier series wider, so one hidden under a later one with the same values still shows at its edges
    ctx.beginPath(); ctx.strokeStyle = colors[k]; ctx.lineWidth = 1.5 + 0.5 * (series.length - 1 - k);
    values.forEach((v, i) => { if (i === 0) ctx.moveTo(xs[i], y(v)); else ctx.lineTo(xs[i], y(v)); });
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

// ------------------------------------------------------------------------------------------- the ticker selector
let selected = decodeURIComponent((location.hash.match(/ticker=([^&]*)/) || [])[1] || "") || null;

function updateSelector(tickers) {
  const select = document.getElementById("ticker");
  if (selected === null || !tickers.includes(selected)) selected = tickers.length ? tickers[tickers.length - 1] : null;
  const have = Array.from(select.options).map(o => o.value);
  if (have.join("\n") !== tickers.join("\n")) {
    select.innerHTML = "";
    tickers.forEach(t => { const o = document.createElement("option"); o.value = o.textContent = t; select.appendChild(o); });
  }
  if (selected !== null) select.value = selected;
  document.querySelectorAll(".chosen").forEach(e => { e.textContent = selected || "-"; });
}

function choose(ticker) {
  selected = ticker;
  history.replaceState(null, "", "#ticker=" + encodeURIComponent(ticker));
  refresh();
}

// ------------------------------------------------------------------------------------------- panels
async function refreshEquity(ticker) {
  const perf = await getJSON("/performance", { ticker });
  const times = perf.equity.map(p => p[0]), eq = perf.equity.map(p => p[1]), dd = perf.equity.map(p => -p[2]);
  if (eq.length) {
    const scale = niceTicks(Math.min(...eq), Math.max(...eq));
    const money = v => v.toLocaleString("en-US", { minimumFractionDigits: scale.decimals, maximumFractionDigits: scale.decimals });
    plot("equity", [eq], ["#1f77b4"], scale.lo, scale.hi, { fmt: money, times, ticks: scale.ticks });
    const ddScale = niceTicks(Math.min(-0.001, ...dd), 0);
    plot("drawdown", [dd], ["#d62728"], ddScale.lo, 0, { fmt: v => pct(v, Math.max(0, ddScale.decimals - 2)), times, fill: "top", ticks: ddScale.ticks.filter(v => v <= 0) });
    const sharpe = (typeof perf.rolling_sharpe === "number") ? perf.rolling_sharpe.toFixed(2) : "-";
    const change = perf.start_equity ? eq[eq.length - 1] / perf.start_equity - 1 : null;
    text("equity-summary", `equity ${money(eq[eq.length - 1])} (${change === null ? "-" : (change >= 0 ? "+" : "") + pct(change, 2)} since the start), ` +
      `drawdown ${pct(-dd[dd.length - 1], 2)}, worst ${pct(-Math.min(...dd), 2)}, rolling Sharpe ${sharpe}, ${eq.length} marks`);
  } else {
    text("equity-summary", "no equity marks yet (send portfolio_state.equity with the bars)");
  }
  rows("trades", perf.trades, t => [[t.trade_id], [t.ticker || "-"], [pct(t.net_return, 2), t.net_return > 0 ? "buy" : ""],
    [t.exit_reason || "-"], [t.regime || "-"]]);
}

async function refreshRegime(ticker) {
  const reg = await getJSON("/regime", { ticker });
  let history = reg.history;
  if (reg.current) {
    const conf = (typeof reg.current.confidence === "number") ? reg.current.confidence.toFixed(2) : "-";
    const ready = reg.current.ready ? "" : `, warming up: ${reg.current.bars_needed} more bars needed`;
    text("regime-current", `${reg.current.ticker}: ${reg.current.regime || "unknown"} ` +
      `(confidence ${conf}) at ${shortTime(reg.current.time)}, ${reg.current.bars} bars${ready}`);
    history = history.filter(r => r[1] === reg.current.ticker);  // one ticker's probabilities, not a mix
  } else {
    text("regime-current", "no bars yet");
  }
  const series = REGIMES.map((_, k) => history.map(r => r[2 + k]));
  plot("regimes", series, COLORS, 0, 1, { fmt: v => v.toFixed(1), times: history.map(r => r[0]), ticks: [0, 0.5, 1] });
  legend("regime-legend", REGIMES);
}

async function refreshWeights(ticker) {
  const w = await getJSON("/weights", { ticker });
  const show = values => COMPONENTS.map((c, k) => `${c} ${values[k].toFixed(2)}`).join(", ");
  text("weights-current", `${ticker ? ticker + "'s regime" : "pooled"} now: ` + show(COMPONENTS.map(c => w.weights[c])));
  const history = w.history.filter(r => ticker === null || r[1] === ticker);  // [time, ticker, theme..sentiment]
  const last = history[history.length - 1];
  text("weights-caption", "lines: the weights each of its decisions used (its regime's)" +
    (last ? "; last decision: " + show(last.slice(2)) : ""));
  const series = COMPONENTS.map((_, k) => history.map(r => r[2 + k]));
  plot("weights", series, COLORS, 0, 1, { fmt: v => v.toFixed(1), times: history.map(r => r[0]), ticks: [0, 0.5, 1] });
  legend("weights-legend", COMPONENTS);
}

async function refreshBreaker() {
  const b = await getJSON("/circuit-breaker");
  text("breaker-state", `state ${b.state} (level ${b.level}), ${b.events.length} events`);
  rows("breaker-events", b.events, e => [[e.bar], [e.old], [e.new], [e.reason]]);
}

async function refreshDecisions(ticker) {
  const s = await getJSON("/statistics", { ticker });
  rows("decisions", s.recent_decisions, d => [[shortTime(d.time)], [d.ticker], [d.action, d.action], [pct(d.size)],
    [pct(d.stop)], [pct(d.target)], [d.hold_bars], [d.regime || "-"], [d.mode || "-"]]);
}

async function refresh() {
  try {
    const s = await getJSON("/statistics");
    updateSelector(Object.keys(s.tickers));
    await Promise.all([refreshDecisions(selected), refreshEquity(selected), refreshRegime(selected),
      refreshWeights(selected), refreshBreaker()]);
    text("status", `${s.decisions} decisions, ${s.trades} trades, breaker ${s.breaker} — updated ${new Date().toLocaleTimeString()}`);
    document.body.dataset.loaded = "1";
    document.body.dataset.ticker = selected || "";
  } catch (err) {
    text("status", "error: " + err.message);
  }
}

document.getElementById("ticker").addEventListener("change", e => choose(e.target.value));
refresh();
setInterval(refresh, 5000);
