// The Manhattan console: polls the JSON API every second, draws the ring as SVG arcs,
// and sends the forms to the API (which runs the CLI's own commands). No dependencies.
"use strict";

const COLORS = ["#3b82f6", "#f59e0b", "#10b981", "#8b5cf6", "#ef4444", "#14b8a6",
                "#eab308", "#ec4899", "#6366f1", "#84cc16"];
const POLL_MS = 1000;
let token = sessionStorage.getItem("manhattan-token") || "";

const $ = (selector) => document.querySelector(selector);
const color = (id) => COLORS[(id - 1) % COLORS.length];

async function api(path, body) {
  const options = { headers: { "Authorization": "Bearer " + token } };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  const reply = await fetch(path, options);
  const data = await reply.json();
  if (!reply.ok) {
    const error = new Error(data.error || reply.statusText);
    error.status = reply.status;
    throw error;
  }
  return data;
}

function cell(row, text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  if (className) td.className = className;
  row.appendChild(td);
}

function arcPath(start, end, outer, inner) {
  const rad = (deg) => (deg - 90) * Math.PI / 180;
  const point = (deg, r) => [r * Math.cos(rad(deg)), r * Math.sin(rad(deg))]
    .map((v) => v.toFixed(2)).join(" ");
  const large = end - start > 180 ? 1 : 0;
  return `M ${point(start, outer)} A ${outer} ${outer} 0 ${large} 1 ${point(end, outer)} ` +
         `L ${point(end, inner)} A ${inner} ${inner} 0 ${large} 0 ${point(start, inner)} Z`;
}

function drawRing(arcs, nodes) {
  const svg = $("#ring");
  const healthy = Object.fromEntries(nodes.map((n) => [n.id, n.healthy]));
  const ns = "http://www.w3.org/2000/svg";
  svg.replaceChildren();
  for (const arc of arcs) {
    if (arc.node === null) continue;
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", arcPath(arc.start, arc.end, 100, 62));
    path.setAttribute("fill", color(arc.node));
    path.setAttribute("class", `arc node-${arc.node}` + (healthy[arc.node] ? "" : " down"));
    path.setAttribute("opacity", healthy[arc.node] ? "1" : "0.35");
    const title = document.createElementNS(ns, "title");
    title.textContent = `node ${arc.node}: ${arc.start.toFixed(0)}°–${arc.end.toFixed(0)}°`;
    path.appendChild(title);
    svg.appendChild(path);
  }
  const legend = $("#legend");
  legend.replaceChildren();
  for (const node of nodes) {
    const li = document.createElement("li");
    li.innerHTML = `<span class="swatch" style="background:${color(node.id)}"></span>`;
    li.append(`node ${node.id} · ${(100 * node.primary_ownership).toFixed(1)}% primary, ` +
              `${(100 * node.ownership).toFixed(0)}% with 3 replicas`);
    legend.appendChild(li);
  }
}

function repairText(node) {
  const r = node.node && node.node.repair;
  if (!r) return "?";
  return r.running ? `${Math.round(100 * r.progress)}%` : "idle";
}

function streamText(node) {
  const s = node.node && node.node.streaming;
  if (!s) return "?";
  return s.active ? `${s.active}x ${Math.round(100 * s.progress)}%` : "idle";
}

function drawNodes(nodes) {
  const body = $("#nodes tbody");
  body.replaceChildren();
  for (const node of nodes) {
    const row = document.createElement("tr");
    row.id = `node-${node.id}`;
    row.className = node.healthy ? "up" : "down";
    const info = node.node;
    const state = (node.healthy ? "up" : "down") + (node.state === "normal" ? "" : " " + node.state);
    cell(row, node.id);
    cell(row, state, "state");
    cell(row, node.address);
    cell(row, (100 * node.ownership).toFixed(1));
    cell(row, info ? info.keys : "?");
    cell(row, info ? (info.disk_bytes / 1e6).toFixed(1) : "?");
    cell(row, info ? info.requests_per_second.toFixed(1) : "?");
    cell(row, info ? info.hints_pending : "?");
    cell(row, repairText(node));
    cell(row, streamText(node));
    body.appendChild(row);
  }
}

function drawTenants(tenants) {
  const body = $("#tenants tbody");
  body.replaceChildren();
  const limit = (v) => (v ? String(v) : "unlimited");
  for (const tenant of tenants) {
    const row = document.createElement("tr");
    row.id = `tenant-${tenant.name}`;
    cell(row, tenant.name);
    cell(row, tenant.datasets.map((d) => `${d.name} (rf ${d.replication_factor})`).join(", ") || "—",
         "datasets");
    cell(row, limit(tenant.limits.ops_per_second));
    cell(row, limit(tenant.limits.bytes_per_second));
    cell(row, limit(tenant.limits.storage_quota_bytes));
    cell(row, tenant.requests_per_second.toFixed(1));
    body.appendChild(row);
  }
}

async function poll() {
  try {
    const cluster = await api("/api/cluster");
    $("#epoch").textContent = `epoch ${cluster.epoch}`;
    drawNodes(cluster.nodes);
    drawRing(cluster.ring, cluster.nodes);
    drawTenants(await api("/api/tenants"));
    $("#updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (error) {
    if (error.status === 401) return logout(error.message);
    $("#updated").textContent = "cannot reach the cluster: " + error.message;
  } finally {
    if (token) setTimeout(poll, POLL_MS);
  }
}

function formBody(form) {
  const body = {};
  for (const [key, value] of new FormData(form).entries()) body[key] = value.trim();
  return body;
}

function onSubmit(selector, path, describe) {
  $(selector).addEventListener("submit", async (event) => {
    event.preventDefault();
    $("#message").textContent = "";
    $("#error").textContent = "";
    try {
      const data = await api(path, formBody(event.target));
      $("#message").textContent = describe(data.result);
      event.target.reset();
    } catch (error) {
      $("#error").textContent = error.message;
    }
  });
}

onSubmit("#new-tenant", "/api/tenants",
         (r) => `created tenant ${r[0].tenant}; its token (shown only now): ${r[0].token}`);
onSubmit("#new-dataset", "/api/datasets",
         (r) => `created dataset ${r[0].name} of tenant ${r[0].tenant}`);
onSubmit("#limits", "/api/limits", (r) => `limits of ${r[0].scope} set`);

$("#timeline-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const list = $("#timeline");
  list.replaceChildren();
  $("#error").textContent = "";
  try {
    const user = new FormData(event.target).get("user").trim();
    const page = await api("/api/timeline?user=" + encodeURIComponent(user));
    for (const tweet of page.tweets) {
      const li = document.createElement("li");
      li.className = `tweet ${tweet.delivery}`;
      const badge = document.createElement("span");
      badge.className = `delivery ${tweet.delivery}`;
      badge.textContent = tweet.delivery;
      li.append(badge, `@${tweet.author}: ${tweet.text} (${tweet.time})`);
      list.appendChild(li);
    }
    if (!page.tweets.length) list.textContent = "(no tweets)";
  } catch (error) {
    $("#error").textContent = error.message;
  }
});

function logout(message) {
  token = "";
  sessionStorage.removeItem("manhattan-token");
  $("#main").hidden = true;
  $("#login-panel").hidden = false;
  $("#login-error").textContent = message || "";
}

async function open() {
  try {
    const config = await api("/api/config");
    $("#timeline-panel").hidden = !config.social;
    $("#login-panel").hidden = true;
    $("#main").hidden = false;
    poll();
  } catch (error) {
    logout(error.status === 401 ? "that is not the admin token" : error.message);
  }
}

$("#login").addEventListener("submit", (event) => {
  event.preventDefault();
  token = $("#token").value.trim();
  sessionStorage.setItem("manhattan-token", token);
  open();
});

if (token) open();
