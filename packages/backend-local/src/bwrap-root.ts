import { existsSync, lstatSync } from "node:fs";

// Read-only views of the host: the system's programs and libraries, and the
// few files under /etc that Python, bash and the data stack read (matplotlib's
// configuration and fontconfig's included).
const SYSTEM_DIRS = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"];
const ETC_FILES = [
  "/etc/alternatives",
  "/etc/ld.so.cache",
  "/etc/ld.so.conf",
  "/etc/ld.so.conf.d",
  "/etc/localtime",
  "/etc/python3",
  "/etc/python3.11",
  "/etc/python3.12",
  "/etc/python3.13",
  "/etc/matplotlibrc",
  "/etc/fonts",
  "/etc/ssl",
  "/etc/mime.types",
];

/**
 * bubblewrap arguments for the read-only root a sandbox sees: the prepared
 * root filesystem (`rootfs`, the declared sandbox environment), or else the
 * host's system directories (usrmerge links kept as links) and the few /etc
 * files code needs. Shared by backend-local's sandboxes and the Kubernetes
 * double's process pods, so both see the same files.
 */
export function bwrapRootArgs(rootfs?: string): string[] {
  if (rootfs) return ["--ro-bind", rootfs, "/"];
  const args: string[] = [];
  for (const dir of SYSTEM_DIRS) {
    if (!existsSync(dir)) continue;
    // usrmerge: /bin -> usr/bin and friends stay symlinks inside too.
    if (lstatSync(dir).isSymbolicLink()) args.push("--symlink", `usr${dir}`, dir);
    else args.push("--ro-bind", dir, dir);
  }
  for (const path of ETC_FILES) args.push("--ro-bind-try", path, path);
  return args;
}

/** The sandbox's /etc/passwd: the sandbox user (home /tmp) and nobody. */
export function passwdFile(uid: number, gid = uid): string {
  return `sandbox:x:${uid}:${gid}:sandbox:/tmp:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n`;
}

/** The sandbox's /etc/group. */
export function groupFile(gid: number): string {
  return `sandbox:x:${gid}:\nnogroup:x:65534:\n`;
}
