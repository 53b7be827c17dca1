import type { Duplex } from "node:stream";
import { PassThrough, Writable } from "node:stream";
import type { OneShotSandbox, StartSandboxOptions } from "@code-interpreter/core/engine";
import { oneShotLifetimeSeconds, WARM_MAX_AGE_SECONDS } from "@code-interpreter/core/engine";
import { RunnerChannel } from "@code-interpreter/core/runner";
import { newExecName, unixNow } from "@code-interpreter/core/sandbox";
import type { DockerBackendSettings } from "./docker-backend-settings.js";
import { nestedRunnerArgv, reusedContainerSpec } from "./nested-host.js";
import { removeContainer } from "./reaper.js";

/** A frame to or from a host: kind byte, 4-byte big-endian length, payload (see nested-host.py). */
function frame(kind: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(kind, 0, "latin1");
  header.writeUInt32BE(payload.length, 1);
  return Buffer.concat([header, payload]);
}

/** How an execution's nested sandbox ended, as its host reports it once it has wiped the workspace. */
interface Ending {
  exit: number;
  oom: boolean;
  /** Nothing was left: no process, no file. Otherwise the host has ended, and its container with it. */
  clean: boolean;
}

/** How long a hung-up nested runner may take to end (and its host to wipe after it) before it is killed. */
const END_GRACE_MS = 5_000;
/** How long a killed nested sandbox may take to be reported ended before its container goes. */
const KILL_GRACE_MS = 10_000;

/** One pooled container: its host, attached, serving one execution at a time. */
class Host {
  readonly createdAt = unixNow();
  /** The execution it serves now, if any. */
  private current: Lease | undefined;
  private buffered: Buffer = Buffer.alloc(0);
  private ended = false;
  /** Resolves when the connection to its host is gone (its container stopped, or was hung up). */
  readonly closed: Promise<void>;

  constructor(
    readonly name: string,
    readonly deadline: number,
    private readonly stream: Duplex,
    private readonly docker: DockerBackendSettings["docker"],
    warn: (message: string) => void,
  ) {
    const stdout = new Writable({
      write: (chunk: Buffer, _encoding, done) => {
        this.receive(chunk);
        done();
      },
    });
    const stderr = new PassThrough();
    stderr.on("data", (chunk: Buffer) => warn(`pooled container ${name}: ${chunk.toString("utf8").trim()}`));
    docker.modem.demuxStream(stream, stdout, stderr);
    this.closed = new Promise((resolve) => {
      const end = () => {
        this.ended = true;
        this.current?.end(undefined);
        resolve();
      };
      stream.once("end", end);
      stream.once("close", end);
      stream.once("error", end);
    });
  }

  /** Whether it can take another execution: connected, idle, and far enough from its deadline for any. */
  usable(seconds: number): boolean {
    return !this.ended && !this.current && this.deadline - unixNow() > seconds;
  }

  get alive(): boolean {
    return !this.ended;
  }

  /** Starts a fresh nested sandbox, its runner waiting for the request. */
  lease(options: StartSandboxOptions): Lease {
    if (this.current) throw new Error(`pooled container ${this.name} is serving an execution already`);
    const lease = new Lease(this, options);
    this.current = lease;
    this.send("s", Buffer.from(JSON.stringify({ argv: nestedRunnerArgv(options.preload), env: options.env })));
    return lease;
  }

  send(kind: string, payload?: Buffer): void {
    if (!this.ended) this.stream.write(frame(kind, payload));
  }

  pause(): void {
    this.stream.pause();
  }

  resume(): void {
    this.stream.resume();
  }

  /** Its execution has ended (or was given up): free for the next. */
  release(lease: Lease): void {
    if (this.current === lease) this.current = undefined;
  }

  /** Hangs up (its host then ends) and removes its container. */
  async retire(): Promise<void> {
    this.ended = true;
    this.stream.destroy();
    await removeContainer(this.docker, this.name);
  }

  private receive(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    while (this.buffered.length >= 5) {
      const size = this.buffered.readUInt32BE(1);
      if (this.buffered.length < 5 + size) return;
      const kind = String.fromCharCode(this.buffered[0] as number);
      const payload = this.buffered.subarray(5, 5 + size);
      this.buffered = this.buffered.subarray(5 + size);
      const lease = this.current;
      if (!lease) continue;
      if (kind === "d") lease.channel.data(Buffer.from(payload));
      else if (kind === "e") lease.channel.diagnostic(Buffer.from(payload));
      else if (kind === "z") lease.end(JSON.parse(payload.toString("utf8")) as Ending);
    }
  }
}

/** One execution's nested sandbox in a host: a one-shot sandbox to the engine. */
class Lease {
  readonly channel: RunnerChannel;
  private finished = false;
  private resolveEnded!: (ending: Ending | undefined) => void;
  /** Resolves with how its sandbox ended (undefined: its host went away). */
  readonly ended = new Promise<Ending | undefined>((resolve) => {
    this.resolveEnded = resolve;
  });
  private hungUp = false;

  constructor(
    readonly host: Host,
    readonly options: StartSandboxOptions,
  ) {
    this.channel = new RunnerChannel({
      write: (data) => host.send("d", data),
      hangUp: () => this.hangUp(),
      pause: () => host.pause(),
      resume: () => host.resume(),
    });
  }

  hangUp(): void {
    if (this.hungUp) return;
    this.hungUp = true;
    this.host.send("h");
  }

  /** Its host said how it ended (or went away: undefined); the channel ends too (a hang-up may have ended it already). */
  end(ending: Ending | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.channel.end();
    this.resolveEnded(ending);
  }

  /** Waits for the end, up to `ms`; undefined when it did not come (or the host went away). */
  async waitEnd(ms: number): Promise<Ending | undefined> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ms);
    });
    try {
      return await Promise.race([this.ended, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * Pooled one-shot containers (DOCKER_ONESHOT_REUSE): each serves many executions, one at a time, each in a fresh
 * nested sandbox (nested-host.py), instead of one container created, started and removed per execution. A
 * one-shot sandbox handed to the engine is a lease of one: its remove() waits for the nested sandbox to end and
 * the workspace to be wiped, then frees the container for the next. A container whose host reports anything
 * left behind, or that stops answering, is removed; one near its deadline is retired.
 */
export class ReusedContainers {
  private readonly idle: Host[] = [];
  private readonly hosts = new Set<Host>();
  private creating = 0;
  /** Containers whose execution is over, being wiped: free in a moment. */
  private finishing = 0;
  private readonly waiting: Array<(host: Host | undefined) => void> = [];
  /** Seconds a host must still have before its deadline to take an execution: the longest one fits. */
  private readonly leaseSeconds: number;
  /** Seconds a host lives: its age limit unused, then the longest execution (its deadline label). */
  private readonly lifetimeSeconds: number;
  private closed = false;

  constructor(
    private readonly settings: DockerBackendSettings,
    /** Most containers at once: serving, holding a warm nested runner, or idle. */
    private readonly maxContainers: number,
  ) {
    this.leaseSeconds = oneShotLifetimeSeconds(settings.maxExecTimeoutMs);
    this.lifetimeSeconds = WARM_MAX_AGE_SECONDS + this.leaseSeconds;
  }

  /** A fresh nested sandbox in a pooled container: an idle one, a new one while under the cap, else the next freed. */
  async start(options: StartSandboxOptions): Promise<OneShotSandbox> {
    const host = await this.acquire(options);
    const lease = host.lease(options);
    return {
      name: host.name,
      deadline: host.deadline,
      warm: options.warm,
      channel: lease.channel,
      // Past the backstop, or on abort: the whole container goes (a host that does not answer is no use).
      stop: async () => {
        this.hosts.delete(host);
        await host.retire();
      },
      exit: async () => {
        const ending = await lease.waitEnd(END_GRACE_MS);
        return ending ? { exit: `exit ${ending.exit}`, outOfMemory: ending.oom } : { exit: "its pooled container ended" };
      },
      remove: () => this.finish(host, lease),
    };
  }

  /** Removes every container (the engine has stopped its work). */
  async close(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting.splice(0)) waiter(undefined);
    const hosts = [...this.hosts];
    this.hosts.clear();
    this.idle.length = 0;
    await Promise.all(hosts.map((host) => host.retire().catch(() => {})));
  }

  /** The execution is over: once its sandbox has ended and the workspace is wiped, the container is free. */
  private async finish(host: Host, lease: Lease): Promise<void> {
    this.finishing++;
    let ending: Ending | undefined;
    try {
      lease.hangUp();
      ending = await lease.waitEnd(END_GRACE_MS);
      if (!ending && host.alive) {
        host.send("k");
        ending = await lease.waitEnd(KILL_GRACE_MS);
      }
      host.release(lease);
    } finally {
      this.finishing--;
    }
    if (ending?.clean && host.alive) this.free(host);
    else await this.drop(host);
  }

  private async acquire(options: StartSandboxOptions): Promise<Host> {
    for (;;) {
      if (this.closed) throw new Error("the docker backend is closing");
      options.signal?.throwIfAborted();
      const host = this.takeIdle();
      if (host) return host;
      // One being wiped is free sooner than a new one starts (back to back, each request takes the last one's).
      const comingFree = this.finishing > this.waiting.length;
      if (!comingFree && this.hosts.size + this.creating < this.maxContainers) return await this.create();
      // A request waiting goes before a warm refill.
      const freed = await this.waitForFree(options);
      if (freed?.usable(this.leaseSeconds)) return freed;
      if (freed) this.free(freed);
    }
  }

  /** The next container freed (undefined on abort or close). */
  private waitForFree(options: StartSandboxOptions): Promise<Host | undefined> {
    return new Promise((resolve) => {
      const waiter = (host: Host | undefined) => {
        options.signal?.removeEventListener("abort", abort);
        resolve(host);
      };
      const abort = () => {
        const index = this.waiting.indexOf(waiter);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(undefined);
      };
      if (options.warm) this.waiting.push(waiter);
      else this.waiting.unshift(waiter);
      options.signal?.addEventListener("abort", abort, { once: true });
    });
  }

  private takeIdle(): Host | undefined {
    for (let host = this.idle.pop(); host; host = this.idle.pop()) {
      if (host.usable(this.leaseSeconds)) return host;
      void this.drop(host);
    }
    return undefined;
  }

  private free(host: Host): void {
    if (this.closed || !host.usable(this.leaseSeconds)) {
      void this.drop(host);
      return;
    }
    const waiter = this.waiting.shift();
    if (waiter) waiter(host);
    else this.idle.push(host);
  }

  private async drop(host: Host): Promise<void> {
    this.hosts.delete(host);
    const index = this.idle.indexOf(host);
    if (index >= 0) this.idle.splice(index, 1);
    await host.retire().catch((error: Error) => this.settings.warn(`could not remove ${host.name}: ${error.message}`));
    // Room for another: a waiter gets a new container.
    const waiter = this.waiting.shift();
    if (waiter) this.create().then(waiter, () => waiter(undefined));
  }

  private async create(): Promise<Host> {
    const { docker } = this.settings;
    const name = newExecName();
    this.creating++;
    try {
      const deadline = unixNow() + this.lifetimeSeconds;
      const container = await docker.createContainer(reusedContainerSpec(this.settings, name, deadline));
      // Attached before start, as every one-shot container: the host watches this connection from its first moment.
      const stream = (await container.attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true })) as Duplex;
      await container.start();
      const host = new Host(name, deadline, stream, docker, this.settings.warn);
      this.hosts.add(host);
      // An idle container that ended by itself is forgotten and removed (a serving one goes when its execution ends).
      void host.closed.then(() => {
        if (this.idle.includes(host)) void this.drop(host);
      });
      return host;
    } catch (error) {
      await removeContainer(docker, name).catch(() => {});
      throw error;
    } finally {
      this.creating--;
    }
  }
}
