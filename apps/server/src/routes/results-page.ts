import { Hono } from "hono";
import type { Env } from "../env.js";

const EXAMPLE = `import pandas as pd
import matplotlib.pyplot as plt
from IPython.display import SVG, JSON, display

df = pd.DataFrame({"city": ["Oslo", "Lima", "Pune"], "people_m": [0.7, 10.1, 7.2]})
display(df)
plt.figure(figsize=(4, 2.5))
plt.bar(df["city"], df["people_m"])
plt.title("people (millions)")
plt.show()
display(SVG('<svg xmlns="http://www.w3.org/2000/svg" width="120" height="20"><rect width="120" height="20" fill="teal"/></svg>'))
display(JSON({"cities": len(df)}))
print("largest:", df.loc[df["people_m"].idxmax(), "city"])
df.loc[df["city"] == "Bergen", "people_m"].item()  # no Bergen: raises ValueError`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>code-interpreter: rich results</title>
  <style>
    body { font: 14px/1.4 system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
    textarea { width: 100%; height: 16rem; font: 13px monospace; }
    .cell { border-left: 3px solid #ccc; margin: 1rem 0; padding: .25rem .75rem; }
    .cell.main { border-color: #2a7; }
    .cell.error { border-color: #c33; }
    .label { color: #888; font-size: 12px; }
    pre { background: #f6f6f6; padding: .5rem; overflow: auto; margin: .25rem 0; }
    iframe { width: 100%; border: 0; height: 10rem; }
  </style>
</head>
<body>
  <h1>Rich results</h1>
  <p>Code runs in a fresh sandbox through <code>POST /v1/execute</code>; each entry of <code>results</code> is shown by its
  richest MIME type (HTML in a sandboxed frame, images as images), then <code>error</code>. See <a href="/docs">the API reference</a>.</p>
  <label>API key (only when the server has keys) <input id="key" type="password" autocomplete="off"></label>
  <textarea id="code" spellcheck="false"></textarea>
  <button id="run">Run</button>
  <div id="status" class="label"></div>
  <pre id="stdout" hidden></pre>
  <div id="results"></div>
  <script src="/docs/results.js"></script>
</body>
</html>
`;

/** Renders what /v1/execute answers; the sandbox's HTML is untrusted, so it goes into a frame without scripts. */
const SCRIPT = `const $ = (id) => document.getElementById(id);
$("code").value = ${JSON.stringify(EXAMPLE)};

function element(tag, props, text) {
  const node = Object.assign(document.createElement(tag), props || {});
  if (text !== undefined) node.textContent = text;
  return node;
}

async function imageSource(mime, value, headers) {
  if (value && typeof value === "object" && value.file_id) {
    const response = await fetch("/v1/files/" + encodeURIComponent(value.file_id), { headers });
    return URL.createObjectURL(new Blob([await response.arrayBuffer()], { type: mime }));
  }
  if (mime === "image/svg+xml") return URL.createObjectURL(new Blob([value], { type: mime }));
  return "data:" + mime + ";base64," + value;
}

async function render(result, headers) {
  const cell = element("div", { className: "cell" + (result.is_main_result ? " main" : "") });
  const data = result.data;
  const kinds = Object.keys(data).join(", ");
  cell.append(element("div", { className: "label" }, (result.is_main_result ? "main result" : "display") + " — " + kinds));
  const image = ["image/png", "image/jpeg", "image/svg+xml"].find((mime) => data[mime] !== undefined);
  if (image) {
    const img = element("img", { alt: data["text/plain"], className: "rich-image" });
    img.dataset.mime = image;
    img.src = await imageSource(image, data[image], headers);
    cell.append(img);
  } else if (data["text/html"] !== undefined) {
    const frame = element("iframe", { className: "rich-html", title: data["text/plain"] });
    frame.setAttribute("sandbox", "");
    frame.srcdoc = data["text/html"];
    cell.append(frame);
  } else if (data["application/json"] !== undefined) {
    cell.append(element("pre", { className: "rich-json" }, JSON.stringify(data["application/json"], null, 2)));
  } else {
    cell.append(element("pre", { className: "rich-text" }, data["text/markdown"] ?? data["text/plain"]));
  }
  if (result.chart) cell.append(element("div", { className: "label" }, "chart: " + result.chart.type + " of " + result.chart.series.length + " series"));
  $("results").append(cell);
}

async function run() {
  const headers = { "Content-Type": "application/json" };
  if ($("key").value) headers.Authorization = "Bearer " + $("key").value;
  $("status").textContent = "running…";
  $("results").replaceChildren();
  const response = await fetch("/v1/execute", {
    method: "POST",
    headers,
    body: JSON.stringify({ code: $("code").value, timeout_ms: 20000 }),
  });
  const answer = await response.json();
  if (!response.ok) {
    $("status").textContent = response.status + ": " + answer.detail;
    return;
  }
  $("stdout").hidden = !answer.stdout;
  $("stdout").textContent = answer.stdout;
  for (const result of answer.results) await render(result, headers);
  if (answer.error) {
    const cell = element("div", { className: "cell error" });
    cell.append(element("div", { className: "label" }, "error — " + answer.error.name + ": " + answer.error.value));
    cell.append(element("pre", { className: "rich-error" }, answer.error.traceback));
    $("results").append(cell);
  }
  $("status").textContent = "exit code " + answer.exit_code + " in " + answer.duration_ms + " ms, " + answer.results.length + " results";
  document.body.dataset.done = "true";
}

$("run").addEventListener("click", () => run().catch((error) => ($("status").textContent = String(error))));
run().catch((error) => ($("status").textContent = String(error)));
`;

/**
 * `GET /docs/results`: a page that runs an example through `/v1/execute` and
 * renders its rich results the way a notebook would. Mounted before the
 * `/docs` assets so its two paths are its own.
 */
export function resultsPageRoutes() {
  const security = {
    // The page and its script come from this server; images are data: or blob: URLs of the answer's bytes.
    "Content-Security-Policy":
      "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; connect-src 'self'",
    "X-Content-Type-Options": "nosniff",
  };
  return new Hono<Env>()
    .get("/docs/results", (c) => c.html(PAGE, 200, security))
    .get("/docs/results.js", (c) => c.body(SCRIPT, 200, { "Content-Type": "text/javascript; charset=utf-8", ...security }));
}
