import { existsSync, readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ociSeccompErrno } from "../testing/seccomp-verdict.js";
import {
  ERRNO,
  GVISOR_SYSCALL_POLICY,
  type OciSeccompProfile,
  ociSeccompProfile,
  policySyscalls,
  SYSCALL_NUMBERS,
  SYSCALL_POLICY,
} from "./syscall-policy.js";

/** The errno an OCI runtime's filter returns for this call, or "allow" (rules are ORed, a rule's conditions ANDed). */
function ociVerdict(profile: OciSeccompProfile, name: string, args: bigint[]): number | "allow" {
  return ociSeccompErrno(profile, name, args) ?? "allow";
}

const HEADERS = {
  x86_64: { file: "/usr/include/x86_64-linux-gnu/asm/unistd_64.h", prefix: "__NR_" },
  aarch64: { file: "/usr/include/asm-generic/unistd.h", prefix: "__NR_" },
} as const;

describe("the sandbox syscall policy", () => {
  it("denies what the issue of record names, and lists no syscall twice", () => {
    const names = policySyscalls();
    expect(new Set(names).size).toBe(names.length);
    for (const name of [
      "io_uring_setup",
      "io_uring_enter",
      "io_uring_register",
      "bpf",
      "userfaultfd",
      "perf_event_open",
      "keyctl",
      "add_key",
      "request_key",
      "ptrace",
      "process_vm_readv",
      "process_vm_writev",
      "kexec_load",
      "kexec_file_load",
      "init_module",
      "finit_module",
      "delete_module",
      "mount",
      "umount2",
      "pivot_root",
      "move_mount",
      "open_tree",
      "fsopen",
      "unshare",
      "setns",
      "clone",
      "clone3",
      "socket",
    ]) {
      expect(names).toContain(name);
    }
  });

  // The kernel's own numbering (linux-libc-dev, installed by scripts/test.d/20-kernel-headers.sh).
  for (const [arch, header] of Object.entries(HEADERS)) {
    it(`numbers every syscall as ${arch}'s kernel headers do`, () => {
      if (!existsSync(header.file) && process.env.CI !== "true") return;
      const text = readFileSync(header.file, "utf8");
      for (const name of policySyscalls()) {
        const match = new RegExp(`#define ${header.prefix}${name}\\s+(\\d+)`).exec(text);
        expect(match?.[1], `${arch} ${name}`).toBeDefined();
        expect(SYSCALL_NUMBERS[arch as keyof typeof SYSCALL_NUMBERS][name], `${arch} ${name}`).toBe(Number(match?.[1]));
      }
    });
  }

  describe("as an OCI seccomp profile", () => {
    const profile = ociSeccompProfile();

    it("allows by default and admits only the native 64-bit ABIs", () => {
      expect(profile.defaultAction).toBe("SCMP_ACT_ALLOW");
      expect(profile.architectures).toEqual(["SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"]);
    });

    it("refuses every unconditional denial with its errno", () => {
      for (const denial of SYSCALL_POLICY.filter((candidate) => !candidate.when)) {
        for (const name of denial.names) expect(ociVerdict(profile, name, []), name).toBe(ERRNO[denial.errno]);
      }
    });

    it("lets sockets be only AF_UNIX, AF_INET and AF_INET6, whatever the upper bits", () => {
      for (const family of [1n, 2n, 10n]) expect(ociVerdict(profile, "socket", [family, 1n, 0n])).toBe("allow");
      for (const family of [0n, 3n, 9n, 11n, 16n, 17n, 40n, 0xffffffffn, 0x1_0000_0001n]) {
        expect(ociVerdict(profile, "socket", [family, 1n, 0n]), String(family)).toBe(ERRNO.EAFNOSUPPORT);
        expect(ociVerdict(profile, "socketpair", [family, 1n, 0n]), String(family)).toBe(ERRNO.EAFNOSUPPORT);
      }
    });

    it("lets clone make threads and processes but no namespace", () => {
      // glibc's fork and pthread_create flags.
      expect(ociVerdict(profile, "clone", [0x01200011n])).toBe("allow");
      expect(ociVerdict(profile, "clone", [0x003d0f00n])).toBe("allow");
      for (const flag of [0x00020000n, 0x02000000n, 0x04000000n, 0x08000000n, 0x10000000n, 0x20000000n, 0x40000000n]) {
        expect(ociVerdict(profile, "clone", [flag | 0x11n])).toBe(ERRNO.EPERM);
      }
      expect(ociVerdict(profile, "clone3", [])).toBe(ERRNO.ENOSYS);
    });

    it("leaves ordinary calls alone", () => {
      for (const name of ["read", "write", "openat", "mmap", "execve", "wait4", "futex", "connect", "bind"]) {
        expect(ociVerdict(profile, name, [0n])).toBe("allow");
      }
    });
  });

  describe("as gVisor loads it", () => {
    const profile = ociSeccompProfile(GVISOR_SYSCALL_POLICY);

    it("leaves clone3 to gVisor's kernel, and refuses everything else the policy does", () => {
      expect(ociVerdict(profile, "clone3", [])).toBe("allow");
      expect(ociVerdict(profile, "clone", [0x10000000n | 0x11n])).toBe(ERRNO.EPERM);
      expect(policySyscalls(GVISOR_SYSCALL_POLICY)).toEqual(policySyscalls().filter((name) => name !== "clone3"));
    });
  });
});
