import { type ChildProcess, execFile, spawn, spawnSync } from "node:child_process";
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { promisify } from "node:util";
import Dockerode from "dockerode";
import { waitFor } from "./server-process.js";

const run = promisify(execFile);

/**
 * A second Docker daemon of our own (own data root, exec root, socket and
 * bridge, no iptables), so fault tests can kill and restart an engine or
 * remove its image without touching the machine's main dockerd, which other
 * tests use. It gets a tiny executor image: the host's Python and bash.
 */
export interface PrivateDockerd {
  /** `unix://…/docker.sock`, for DOCKER_HOST. */
  host: string;
  docker: Dockerode;
  /** Stops the daemon the hard way (SIGKILL; what an engine crash looks like). */
  kill(): Promise<void>;
  /** Starts it again on the same state. */
  start(): Promise<void>;
  /** Stops it and removes everything it had. */
  destroy(): Promise<void>;
  /** The end of the daemon's log, for failure messages. */
  log(): string;
}

/** Whether a private dockerd can run here: root and the dockerd binary. */
export function canRunPrivateDockerd(): string | undefined {
  if (process.getuid?.() !== 0) return "needs root";
  if (!["/usr/sbin/dockerd", "/usr/bin/dockerd", "/usr/local/bin/dockerd"].some(existsSync)) return "no dockerd binary";
  return undefined;
}

/** `args`: more dockerd options, e.g. `--add-runtime=crun=/usr/bin/crun`. */
export async function startPrivateDockerd(image: string, options: { args?: readonly string[] } = {}): Promise<PrivateDockerd> {
  // Short: the socket path must fit in a sockaddr_un.
  const dir = await mkdtemp(join(tmpdir(), "ci-dkd-"));
  const socket = join(dir, "docker.sock");
  const host = `unix://${socket}`;
  const docker = new Dockerode({ socketPath: socket });
  // A bridge of its own: with --bridge=none dockerd deletes the host's docker0, which the main engine needs.
  const bridge = `cidkd${randomBytes(4).toString("hex")}`;
  let daemon: ChildProcess | undefined;
  let log = "";

  const start = async () => {
    daemon = spawn(
      "dockerd",
      [
        `--data-root=${join(dir, "data")}`,
        `--exec-root=${join(dir, "exec")}`,
        `--pidfile=${join(dir, "dockerd.pid")}`,
        `--host=${host}`,
        `--bridge=${bridge}`,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-masq=false",
        "--log-level=warn",
        ...(options.args ?? []),
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    daemon.stdout?.on("data", (data) => {
      log += String(data);
    });
    daemon.stderr?.on("data", (data) => {
      log = (log + String(data)).slice(-20_000);
    });
    const started = daemon;
    const exited = () => started.exitCode !== null || started.signalCode !== null;
    await waitFor("the private dockerd to answer", async () => exited() || docker.ping().then(() => true), 120_000, 250).catch((error) => {
      throw new Error(`${(error as Error).message}\n${log.slice(-3000)}`);
    });
    if (exited()) throw new Error(`dockerd exited (${started.exitCode ?? started.signalCode}):\n${log.slice(-3000)}`);
  };

  const kill = async () => {
    const current = daemon;
    if (!current || current.exitCode !== null || current.signalCode !== null) return;
    const gone = new Promise((resolve) => current.once("exit", resolve));
    current.kill("SIGKILL");
    await gone;
    // Its containerd dies with it but may linger as a zombie, which a restarted dockerd would take for alive.
    await rm(join(dir, "exec", "containerd", "containerd.pid"), { force: true });
  };

  const destroy = async () => {
    if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
      // A clean stop first, so containers are stopped and mounts released.
      for (const container of await docker.listContainers({ all: true }).catch(() => [])) {
        await docker
          .getContainer(container.Id)
          .remove({ force: true })
          .catch(() => {});
      }
      const current = daemon;
      const gone = new Promise((resolve) => current.once("exit", resolve));
      current.kill("SIGTERM");
      await Promise.race([gone, new Promise((resolve) => setTimeout(resolve, 20_000))]);
    }
    await kill();
    // Its containerd and shims outlive dockerd.
    await killUnder(dir);
    await run("sh", ["-c", `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l`]).catch(() => {});
    await rm(dir, { recursive: true, force: true });
    await run("ip", ["link", "delete", bridge]).catch(() => {});
  };

  // Should the test process die with the daemon up (a hung test, a crash), it goes too.
  const onExit = () => {
    if (daemon?.pid && daemon.exitCode === null) process.kill(daemon.pid, "SIGKILL");
    killUnderSync(dir);
    spawnSync("sh", [
      "-c",
      `grep -o ' ${dir}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l; rm -rf '${dir}'; ip link delete ${bridge}`,
    ]);
  };
  process.once("exit", onExit);
  const destroyAll = async () => {
    await destroy();
    process.off("exit", onExit);
  };
  try {
    await run("ip", ["link", "add", bridge, "type", "bridge"]);
    await run("ip", ["addr", "add", `10.254.${1 + randomInt(250)}.1/24`, "dev", bridge]);
    await start();
    await importTinyImage(dir, host, image);
  } catch (error) {
    await destroyAll();
    throw new Error(`could not start a private dockerd: ${(error as Error).message}\n${log.slice(-3000)}`);
  }
  return { host, docker, kill, start, destroy: destroyAll, log: () => log.slice(-5000) };
}

/** Kills processes whose command line mentions `path` (the daemon's containerd and shims). */
async function killUnder(path: string): Promise<void> {
  killUnderSync(path);
}

function killUnderSync(path: string): void {
  for (const pid of readdirSync("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (!cmdline.includes(path)) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
    } catch {
      // already gone
    }
  }
}

/**
 * Imports an image made of the host's Python (with its standard library) and
 * bash: enough for the runner, in seconds rather than the minutes a save and
 * load of the full executor image would take.
 */
async function importTinyImage(dir: string, host: string, image: string): Promise<void> {
  const root = join(dir, "rootfs");
  const python = (await run("readlink", ["-f", "/usr/bin/python3"])).stdout.trim();
  const version = /python(\d+\.\d+)$/.exec(python)?.[1];
  if (!version) throw new Error(`cannot tell the version of ${python}`);
  const binaries = [python, "/usr/bin/bash", "/usr/bin/dash", "/usr/bin/sleep", "/usr/bin/env"];
  const stdlib = `/usr/lib/python${version}`;
  const dynload = join(stdlib, "lib-dynload");
  const objects = [...binaries, ...(await readdir(dynload)).filter((name) => name.endsWith(".so")).map((name) => join(dynload, name))];
  const libraries = new Set<string>();
  for (const object of objects) {
    const { stdout } = await run("ldd", [object]).catch(() => ({ stdout: "" }));
    for (const match of stdout.matchAll(/(\/\S+\.so[^\s]*)/g)) if (match[1]) libraries.add(match[1]);
  }
  for (const file of [...binaries, ...libraries]) {
    const target = join(root, file.startsWith("/lib") ? `/usr${file}` : file);
    await mkdir(dirname(target), { recursive: true });
    await cp(file, target, { dereference: true });
  }
  await cp(stdlib, join(root, stdlib), {
    recursive: true,
    filter: (source) => !/\/(test|dist-packages|site-packages|idlelib|tkinter|ensurepip)(\/|$)/.test(source),
  });
  await symlink(`python${version}`, join(root, "usr/bin/python3"));
  await symlink("dash", join(root, "usr/bin/sh"));
  for (const [link, target] of [
    ["bin", "usr/bin"],
    ["lib", "usr/lib"],
    ["lib64", "usr/lib64"],
  ] as const) {
    if (!existsSync(join(root, link))) await symlink(target, join(root, link));
  }
  if (!existsSync(join(root, "usr/lib64"))) await mkdir(join(root, "usr/lib64"), { recursive: true });
  const loader = [...libraries].find((library) => library.includes("ld-linux"));
  if (loader && !existsSync(join(root, "usr/lib64", loader.split("/").at(-1) as string))) {
    await cp(loader, join(root, "usr/lib64", loader.split("/").at(-1) as string), { dereference: true });
  }
  for (const empty of ["workspace", "tmp", "proc", "dev", "sys", "etc"]) await mkdir(join(root, empty), { recursive: true });
  await run("sh", ["-c", `tar -C '${root}' -c . | docker --host '${host}' import - '${image}'`], { maxBuffer: 1024 * 1024 });
  await rm(root, { recursive: true, force: true });
}
