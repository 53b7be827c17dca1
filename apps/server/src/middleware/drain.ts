import type { Server } from "node:http";

/**
 * Stops accepting connections and lets the requests in flight finish (idle
 * keep-alive connections are closed as they become idle); after `graceMs`
 * the remaining connections are cut, which cancels their executions.
 */
export async function drain(server: Server, graceMs: number): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  server.closeIdleConnections();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      server.closeAllConnections();
      resolve();
    }, graceMs);
  });
  try {
    await Promise.race([closed, late]);
    await closed;
  } finally {
    clearInterval(idle);
    clearTimeout(timer);
  }
}
