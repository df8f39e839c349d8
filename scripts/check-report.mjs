// Opens a report.html in headless Chromium over the DevTools protocol and checks it the way a
// reader would meet it, at 1280 px: no script error, nothing loaded from outside, no page-wide
// horizontal scroll, no chart wider than its box, no chart text outside its chart or on top of
// other text, the fixed anchors present, the sample browser filled, a heatmap link choosing its
// samples and a heatmap column sorting. Saves one screenshot per section. Run through
// scripts/check-report.sh (it finds Chromium and Node); exit status 1 lists every problem.
//
//   node scripts/check-report.mjs REPORT.html SHOTS_DIR
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const [report, shots] = process.argv.slice(2);
if (!report || !shots) {
  console.error("usage: check-report.mjs REPORT.html SHOTS_DIR");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "check-report-"));
// The DevTools protocol over a pipe (fd 3 to Chromium, fd 4 back; NUL-separated JSON): no port,
// no WebSocket, any Node from 18 on.
const chromium = spawn(process.env.CHROMIUM || "chromium", [
  "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--hide-scrollbars", "--remote-debugging-pipe", `--user-data-dir=${profile}`, "about:blank",
], { stdio: ["ignore", "ignore", "ignore", "pipe", "pipe"] });
const problems = [];
const done = (code) => {
  chromium.kill("SIGKILL");
  try { rmSync(profile, { recursive: true, force: true }); } catch {}
  process.exit(code);
};
setTimeout(() => { console.error("check-report: Chromium did not finish within 120 s"); done(1); }, 120000);
chromium.on("exit", (code) => { console.error(`check-report: Chromium exited (${code})`); done(1); });

let next = 0;
let session = undefined;
const pending = new Map();
const waiters = [];
let buffered = "";
chromium.stdio[4].on("data", (chunk) => {
  buffered += chunk.toString("utf8");
  let end;
  while ((end = buffered.indexOf("\0")) >= 0) {
    const msg = JSON.parse(buffered.slice(0, end));
    buffered = buffered.slice(end + 1);
    receive(msg);
  }
});
function receive(msg) {
  if (msg.id !== undefined) {
    const p = pending.get(msg.id);
    pending.delete(msg.id);
    if (msg.error) p.fail(new Error(JSON.stringify(msg.error)));
    else p.ok(msg.result);
    return;
  }
  if (msg.method === "Runtime.exceptionThrown") {
    const d = msg.params.exceptionDetails;
    problems.push(`script error: ${d.exception?.description || d.text} (line ${d.lineNumber})`);
  } else if (msg.method === "Runtime.consoleAPICalled" && msg.params.type === "error") {
    problems.push(`console error: ${msg.params.args.map((a) => a.value ?? a.description).join(" ")}`);
  } else if (msg.method === "Log.entryAdded" && msg.params.entry.level === "error") {
    problems.push(`browser error: ${msg.params.entry.text} ${msg.params.entry.url || ""}`);
  } else if (msg.method === "Network.requestWillBeSent") {
    const url = msg.params.request.url;
    if (!url.startsWith("file:") && !url.startsWith("data:")) problems.push(`loads from outside: ${url}`);
  }
  for (const w of waiters.splice(0)) w(msg);
}
const send = (method, params = {}) => new Promise((ok, fail) => {
  const id = ++next;
  pending.set(id, { ok, fail });
  const msg = session ? { id, method, params, sessionId: session } : { id, method, params };
  chromium.stdio[3].write(JSON.stringify(msg) + "\0");
});
const eventually = (method) => new Promise((ok) => {
  const wait = (msg) => (msg.method === method ? ok(msg) : waiters.push(wait));
  waiters.push(wait);
});
const evaluate = async (expression) => {
  const r = await send("Runtime.evaluate", { expression, returnByValue: true, awaitPromise: true });
  if (r.exceptionDetails) throw new Error(`check failed to run: ${r.exceptionDetails.exception?.description}`);
  return r.result.value;
};

const { targetId } = await send("Target.createTarget", { url: "about:blank" });
session = (await send("Target.attachToTarget", { targetId, flatten: true })).sessionId;
await send("Runtime.enable");
await send("Log.enable");
await send("Network.enable");
await send("Page.enable");
await send("Emulation.setDeviceMetricsOverride", { width: 1280, height: 900, deviceScaleFactor: 1, mobile: false });
const loaded = eventually("Page.loadEventFired");
await send("Page.navigate", { url: "file://" + resolve(report) });
await loaded;

// Layout checks, run in the page.
const layout = await evaluate(`(() => {
  const out = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth + 1)
    out.push("the page scrolls sideways: " + doc.scrollWidth + " px wide at " + window.innerWidth);
  for (const id of ["overview", "leaderboard", "heatmap", "cross-modal", "samples"])
    if (!document.getElementById(id)) out.push("no #" + id);
  document.querySelectorAll(".chart").forEach((box, n) => {
    const svg = box.querySelector("svg");
    if (!svg) return;
    const b = svg.getBoundingClientRect(), c = box.getBoundingClientRect();
    const name = svg.getAttribute("aria-label") || "chart " + n;
    if (b.width > c.width + 1) out.push(name + ": " + Math.round(b.width) + " px wide in a " + Math.round(c.width) + " px box");
    const texts = Array.from(svg.querySelectorAll("text")).map((t) => [t, t.getBoundingClientRect()])
      .filter(([, r]) => r.width > 0);
    for (const [t, r] of texts)
      if (r.left < b.left - 1 || r.right > b.right + 1 || r.top < b.top - 1 || r.bottom > b.bottom + 1)
        out.push(name + ": label '" + t.textContent + "' is cut at the chart's edge");
    for (let i = 0; i < texts.length; i++)
      for (let j = i + 1; j < texts.length; j++) {
        const [p, r] = texts[i], [q, s] = texts[j];
        const w = Math.min(r.right, s.right) - Math.max(r.left, s.left);
        const h = Math.min(r.bottom, s.bottom) - Math.max(r.top, s.top);
        if (w > 1 && h > 2) out.push(name + ": '" + p.textContent + "' overlaps '" + q.textContent + "'");
      }
  });
  return out;
})()`);
problems.push(...layout.slice(0, 40));
if (layout.length > 40) problems.push(`... and ${layout.length - 40} more layout problems`);

// The sample browser: filled, and a heatmap cell chooses its model and task.
const browser = await evaluate(`(async () => {
  const out = [];
  const data = JSON.parse(document.getElementById("browser-data").textContent);
  const cards = document.querySelectorAll("#browser .sample").length;
  if (data.rows.length > 0 && cards === 0) out.push("the sample browser shows no sample of " + data.rows.length);
  // How long a filter takes over every sample (changing the model filter runs it at once).
  const model = document.querySelector("#browser select");
  const t0 = performance.now();
  model.selectedIndex = model.options.length - 1;
  model.dispatchEvent(new Event("change"));
  const filterMs = performance.now() - t0;
  model.selectedIndex = 0;
  model.dispatchEvent(new Event("change"));
  const nav = performance.getEntriesByType("navigation")[0];
  out.push({ timing: "sample browser: " + data.rows.length + " samples, " + data.images.length + " thumbnails; page loaded in "
    + Math.round(nav.loadEventEnd) + " ms; one filter over all samples " + filterMs.toFixed(1) + " ms" });
  const link = document.querySelector("a.to-samples");
  if (link) {
    link.click();
    const model = link.getAttribute("data-model"), task = link.getAttribute("data-task");
    const expected = data.rows.filter((r) => data.models[r[0]] === model && data.tasks[r[1]].split(" ")[0] === task).length;
    const shown = document.querySelectorAll("#browser .sample");
    const count = document.querySelector("#browser p.meta").textContent;
    if (!count.startsWith(expected + " of ")) out.push("a heatmap link for " + model + " " + task + " shows '" + count + "', expected " + expected + " matches");
    for (const s of shown) if (!s.textContent.includes(model)) { out.push("a heatmap link shows another model's sample"); break; }
  }
  const table = document.querySelector("table.sortable");
  if (table && table.rows.length > 2 && table.rows[0].cells.length > 1) {
    table.rows[0].cells[1].click();
    const values = Array.from(table.rows).slice(1).map((r) => parseFloat(r.cells[1].getAttribute("data-v"))).filter((v) => !isNaN(v));
    for (let i = 1; i < values.length; i++) if (values[i] > values[i - 1]) { out.push("sorting the heatmap by its first model is not descending"); break; }
    table.rows[0].cells[0].click();
  }
  return out;
})()`);
for (const b of browser) {
  if (typeof b === "string") problems.push(b);
  else console.log(`${report}: ${b.timing}`);
}

// One screenshot per section, from its heading to the next section's.
const sections = await evaluate(`(() => {
  const ids = Array.from(document.querySelectorAll("h2[id], section[id]")).map((e) => e.id);
  return ids.map((id) => {
    const e = document.getElementById(id);
    const top = e.getBoundingClientRect().top + window.scrollY;
    return { id, top };
  }).sort((a, b) => a.top - b.top).map((s, i, all) => ({ id: s.id, top: s.top,
    height: Math.min(2400, ((all[i + 1] || { top: document.documentElement.scrollHeight }).top - s.top) || 400) }));
})()`);
for (const s of sections) {
  const shot = await send("Page.captureScreenshot", {
    format: "png", captureBeyondViewport: true,
    clip: { x: 0, y: s.top, width: 1280, height: Math.max(200, s.height), scale: 1 },
  });
  writeFileSync(join(shots, `${s.id}.png`), Buffer.from(shot.data, "base64"));
}
const height = await evaluate("document.documentElement.scrollHeight");
console.log(`${report}: ${height} px tall at 1280 px; ${sections.length} section screenshots in ${shots}`);
if (problems.length) {
  console.error(`${report}: ${problems.length} problem(s):`);
  for (const p of [...new Set(problems)]) console.error("  " + p);
  done(1);
}
console.log(`${report}: no script error, nothing from outside, no overflow, no cut or overlapping chart text`);
done(0);
