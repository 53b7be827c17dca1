import { describe, expect, it } from "vitest";
import { bwrapAccepts, bwrapArgs } from "./bwrap-args.js";

const base = { name: "code-exec-test", uid: 65532, tmpfsBytes: 1024 * 1024, passwdFd: 3, groupFd: 4 };

/** The value following an option, for each time it appears. */
const after = (args: string[], option: string) => args.flatMap((arg, index) => (arg === option ? [args[index + 1]] : []));

describe("bwrapArgs", () => {
  it("gives /dev/shm a size-limited tmpfs of its own", () => {
    const args = bwrapArgs(base);
    const shm = args.indexOf("/dev/shm");
    expect(args.slice(shm - 3, shm + 1)).toEqual(["--size", "1048576", "--tmpfs", "/dev/shm"]);
    expect(args.indexOf("--dev")).toBeLessThan(shm);
  });

  it("refuses nested user namespaces, runs as pid 1 and loads a seccomp filter only when asked", () => {
    const plain = bwrapArgs(base);
    expect(plain).not.toContain("--disable-userns");
    expect(plain).not.toContain("--as-pid-1");
    expect(plain).not.toContain("--seccomp");
    const hardened = bwrapArgs({ ...base, disableUserns: true, asPid1: true, seccompFd: 5 });
    expect(hardened).toEqual(expect.arrayContaining(["--unshare-user", "--disable-userns", "--as-pid-1"]));
    expect(after(hardened, "--seccomp")).toEqual(["5"]);
  });

  it("binds the prepared root filesystem as / and nothing of the host's when given one", () => {
    const args = bwrapArgs({ ...base, rootfs: "/var/cache/code-interpreter/rootfs/abc" });
    expect(after(args, "--ro-bind")).toEqual(["/var/cache/code-interpreter/rootfs/abc"]);
    expect(args.slice(args.indexOf("--ro-bind"), args.indexOf("--ro-bind") + 3)).toEqual([
      "--ro-bind",
      "/var/cache/code-interpreter/rootfs/abc",
      "/",
    ]);
    expect(args).not.toContain("--ro-bind-try");
    // Without one, the host's /usr.
    expect(after(bwrapArgs(base), "--ro-bind")).toContain("/usr");
  });

  it("binds an egress directory read-only, keeps the network unshared, and changes nothing without one", () => {
    const args = bwrapArgs({ ...base, egressDir: "/srv/egress/code-exec-test" });
    const bind = args.indexOf("/srv/egress/code-exec-test");
    expect(args.slice(bind - 1, bind + 2)).toEqual(["--ro-bind", "/srv/egress/code-exec-test", "/run/code-interpreter/egress"]);
    expect(args).toContain("--unshare-all");
    expect(args).not.toContain("--share-net");
    expect(after(args, "--remount-ro")).toContain("/run");
    expect(bwrapArgs(base).join(" ")).not.toMatch(/\/run/);
  });
});

describe("bwrapAccepts", () => {
  it("says no for options this bubblewrap does not have, or no bubblewrap at all", () => {
    expect(bwrapAccepts("bwrap", ["--no-such-option"])).toBe(false);
    expect(bwrapAccepts("/nonexistent/bwrap", ["--as-pid-1"])).toBe(false);
  });
});
