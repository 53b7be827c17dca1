// Benchmark: what the egress proxy (@code-interpreter/egress) adds to an HTTPS
// download (issue 22). Usage:
//   node bench/src/egress.ts [--quick] [--count N] [--seconds S] [--size-mb M] [--sandboxes N]
// A loopback HTTPS upstream (a self-signed certificate made with `openssl`)
// serves one blob; the gateway runs in this process as it does in the server;
// the clients run in a worker thread (their own event loop, as sandboxes are
// their own processes) and open a new connection per download. It measures:
//   latency of one download (default 1 MB): direct, through a sandbox's proxy
//   socket tunnelled (CONNECT, TLS end to end), and through the proxy with a
//   secret (TLS opened by the proxy, the header added, TLS again upstream);
//   throughput with N sandboxes (default 8) each downloading in a loop, against
//   N direct download loops.
// It prints a table (median, p95, added milliseconds; MB/s) and a JSON line.
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer } from "node:https";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { EGRESS_SOCKET_NAME } from "@code-interpreter/core";
import { createEgressGateway } from "@code-interpreter/egress";
import type { ClientJob, ClientResult, Route } from "./egress-client.ts";
import { type Latency, latency } from "./stats.ts";

const { values: args } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    count: { type: "string" },
    seconds: { type: "string" },
    "size-mb": { type: "string", default: "1" },
    sandboxes: { type: "string", default: "8" },
  },
});
const count = Number(args.count ?? (args.quick ? 10 : 40));
const seconds = Number(args.seconds ?? (args.quick ? 2 : 10));
const size = Math.round(Number(args["size-mb"]) * 1_048_576);
const sandboxes = Number(args.sandboxes);
const host = "files.bench.test";
const secretHost = "api.bench.test";
const progress = (message: string) => process.stderr.write(`${message}\n`);

const directory = await mkdtemp(join(tmpdir(), "egress-bench-"));
try {
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${host}`,
      "-addext",
      `subjectAltName=DNS:${host},DNS:${secretHost}`,
      "-keyout",
      join(directory, "key.pem"),
      "-out",
      join(directory, "cert.pem"),
    ],
    { stdio: "ignore" },
  );
  const [cert, key] = await Promise.all([readFile(join(directory, "cert.pem"), "utf8"), readFile(join(directory, "key.pem"), "utf8")]);
  const blob = Buffer.alloc(size, 97);
  const upstream = createServer({ cert, key }, (_request, response) => {
    response.writeHead(200, { "content-type": "application/octet-stream", "content-length": blob.length }).end(blob);
  });
  upstream.listen(0, "127.0.0.1");
  await once(upstream, "listening");
  const address = upstream.address();
  if (address === null || typeof address === "string") throw new Error("no port");
  const port = address.port;

  const gateway = await createEgressGateway({
    hosts: { [host]: { address: "127.0.0.1", port }, [secretHost]: { address: "127.0.0.1", port } },
    upstreamCa: cert,
    maxBytes: 0,
    secrets: { bench: { value: "bench-token", hosts: [secretHost], format: "Bearer {value}" } },
  });
  const attachments = await Promise.all(
    Array.from({ length: Math.max(1, sandboxes) }, (_, index) =>
      gateway.open({ sandboxName: `code-exec-bench-${index}`, policy: { allow_out: ["*.bench.test"], deny_out: [] }, secrets: ["bench"] }),
    ),
  );
  const bundle = await readFile(join(attachments[0]?.hostDirectory ?? "", "ca-bundle.pem"), "utf8");
  const direct: Route = { kind: "direct", port, ca: cert };
  const proxied = (index: number, target = host): Route => ({
    kind: "proxy",
    socketPath: join(attachments[index]?.hostDirectory ?? "", EGRESS_SOCKET_NAME),
    host: target,
    ca: bundle,
  });

  const runClients = (job: ClientJob) =>
    new Promise<ClientResult>((resolve, reject) => {
      const worker = new Worker(new URL("./egress-client.ts", import.meta.url), { workerData: job });
      worker.once("message", (result: ClientResult) => {
        void worker.terminate();
        resolve(result);
      });
      worker.once("error", reject);
    });
  const report = (name: string, result: ClientResult) => {
    if (result.errors > 0) progress(`${name}: ${result.errors} errors, the first: ${result.firstError}`);
    return result;
  };

  const loadBefore = loadavg()[0] ?? 0;
  // One warm-up each, so the first sample does not carry the first leaf certificate or JIT warm-up.
  for (const route of [direct, proxied(0), proxied(0, secretHost)])
    await runClients({ routes: [route], host: route.kind === "proxy" ? route.host : host, size, count: 2 });
  progress(`latency: ${count} downloads of ${size} bytes each way`);
  const figures: Record<string, Latency> = {};
  for (const [name, route] of [
    ["direct", direct],
    ["tunnelled", proxied(0)],
    ["with a secret", proxied(0, secretHost)],
  ] as const) {
    const target = route.kind === "proxy" ? route.host : host;
    figures[name] = latency(report(name, await runClients({ routes: [route], host: target, size, count })).samples);
  }
  progress(`throughput: ${sandboxes} loops for ${seconds} s, direct then through ${sandboxes} sandboxes`);
  const directLoops = report(
    "direct loops",
    await runClients({ routes: Array.from({ length: sandboxes }, () => direct), host, size, seconds }),
  );
  const proxiedLoops = report(
    "proxied loops",
    await runClients({ routes: Array.from({ length: sandboxes }, (_, index) => proxied(index)), host, size, seconds }),
  );
  const loadAfter = loadavg()[0] ?? 0;
  await gateway.close();
  upstream.closeAllConnections();
  upstream.close();

  const megabytesPerSecond = (result: ClientResult) => result.bytes / 1_048_576 / seconds;
  const base = figures.direct?.p50 ?? Number.NaN;
  const rows = Object.entries(figures).map(
    ([name, figure]) =>
      `| ${name} | ${figure.p50.toFixed(1)} | ${figure.p95.toFixed(1)} | ${name === "direct" ? "" : `+${(figure.p50 - base).toFixed(1)}`} |`,
  );
  console.log(`| ${args["size-mb"]} MB HTTPS download | median ms | p95 ms | added (median) |`);
  console.log("|---|---|---|---|");
  for (const row of rows) console.log(row);
  console.log(`\n| ${sandboxes} download loops | MB/s | errors |\n|---|---|---|`);
  console.log(`| direct | ${megabytesPerSecond(directLoops).toFixed(0)} | ${directLoops.errors} |`);
  console.log(
    `| through ${sandboxes} sandboxes' proxies (tunnelled) | ${megabytesPerSecond(proxiedLoops).toFixed(0)} | ${proxiedLoops.errors} |`,
  );
  console.log(`\nload average ${loadBefore.toFixed(2)} before, ${loadAfter.toFixed(2)} after`);
  console.log(
    JSON.stringify({
      size,
      count,
      seconds,
      sandboxes,
      latency: figures,
      throughput: { direct: megabytesPerSecond(directLoops), proxied: megabytesPerSecond(proxiedLoops) },
      errors: { direct: directLoops.errors, proxied: proxiedLoops.errors },
      load: { before: loadBefore, after: loadAfter },
    }),
  );
  if (directLoops.errors + proxiedLoops.errors > 0) process.exitCode = 1;
} finally {
  await rm(directory, { recursive: true, force: true });
}
