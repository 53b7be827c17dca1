// The download side of bench/src/egress.ts, in a worker thread so that the
// clients do not share an event loop with the proxy they measure (in
// production they are processes in the sandboxes). Each download opens a new
// connection, as a fresh `curl` or `pip` download would.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import type { Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { parentPort, workerData } from "node:worker_threads";

/** How to reach the blob: straight to the upstream, or through a sandbox's proxy socket. */
export type Route = { kind: "direct"; port: number; ca: string } | { kind: "proxy"; socketPath: string; host: string; ca: string };

export interface ClientJob {
  routes: Route[];
  host: string;
  size: number;
  /** Sequential downloads on routes[0], timed one by one. */
  count?: number;
  /** Otherwise: one download loop per route for this long, counting bytes. */
  seconds?: number;
}

export interface ClientResult {
  samples: number[];
  bytes: number;
  errors: number;
  firstError?: string;
}

function readBody(response: import("node:http").IncomingMessage): Promise<number> {
  return new Promise((resolve, reject) => {
    let length = 0;
    response.on("data", (chunk: Buffer) => {
      length += chunk.length;
    });
    response.on("end", () => resolve(length));
    response.on("error", reject);
  });
}

function connectThrough(socketPath: string, target: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const request = httpRequest({ socketPath, method: "CONNECT", path: target, headers: { host: target }, agent: false });
    request.on("connect", (response, socket: Socket) => {
      if (response.statusCode === 200) resolve(socket);
      else reject(new Error(`CONNECT answered ${response.statusCode}`));
    });
    request.on("error", reject);
    request.end();
  });
}

/** One download of the blob over a new connection; resolves to its length. */
async function download(route: Route, host: string): Promise<number> {
  if (route.kind === "direct") {
    return new Promise((resolve, reject) => {
      const request = httpsRequest(
        { host: "127.0.0.1", port: route.port, servername: host, ca: route.ca, path: "/blob", headers: { host }, agent: false },
        (response) => readBody(response).then(resolve, reject),
      );
      request.on("error", reject);
      request.end();
    });
  }
  const socket = await connectThrough(route.socketPath, `${route.host}:443`);
  const tls = tlsConnect({ socket, servername: route.host, ca: route.ca });
  await new Promise<void>((resolve, reject) => tls.once("secureConnect", resolve).once("error", reject));
  return new Promise((resolve, reject) => {
    const request = httpRequest({ path: "/blob", headers: { host: route.host }, createConnection: () => tls }, (response) =>
      readBody(response).then((length) => {
        tls.destroy();
        resolve(length);
      }, reject),
    );
    request.on("error", reject);
    request.end();
  });
}

async function run(job: ClientJob): Promise<ClientResult> {
  const result: ClientResult = { samples: [], bytes: 0, errors: 0 };
  const attempt = async (route: Route) => {
    try {
      const length = await download(route, job.host);
      if (length !== job.size) throw new Error(`got ${length} bytes of ${job.size}`);
      result.bytes += length;
      return true;
    } catch (error) {
      result.errors++;
      result.firstError ??= (error as Error).message;
      return false;
    }
  };
  const [first] = job.routes;
  if (job.count !== undefined && first !== undefined) {
    for (let index = 0; index < job.count; index++) {
      const started = performance.now();
      if (await attempt(first)) result.samples.push(performance.now() - started);
    }
    return result;
  }
  const deadline = performance.now() + (job.seconds ?? 5) * 1000;
  await Promise.all(
    job.routes.map(async (route) => {
      while (performance.now() < deadline) await attempt(route);
    }),
  );
  return result;
}

if (parentPort) {
  const port = parentPort;
  run(workerData as ClientJob).then((result) => port.postMessage(result));
}
