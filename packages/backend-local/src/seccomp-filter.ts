/**
 * The sandbox's syscall policy (core's SYSCALL_POLICY) as the classic BPF
 * program bubblewrap's `--seccomp FD` loads. It is compiled from the very
 * OCI profile the Docker and Kubernetes backends load, so every backend
 * refuses the same calls with the same errno, argument conditions included.
 */
import { ociSeccompProfile, type SeccompArchitecture, seccompBpf } from "@code-interpreter/core/policy";

const ARCHITECTURES: Partial<Record<NodeJS.Architecture, SeccompArchitecture>> = { x64: "x86_64", arm64: "aarch64" };

/** Whether this machine's architecture has a filter. */
export function seccompSupported(arch: NodeJS.Architecture = process.arch): boolean {
  return ARCHITECTURES[arch] !== undefined;
}

/** The filter for this architecture, or undefined where there is none. */
export function seccompProgram(arch: NodeJS.Architecture = process.arch): Buffer | undefined {
  const architecture = ARCHITECTURES[arch];
  return architecture ? seccompBpf(ociSeccompProfile(), architecture) : undefined;
}

/** The filter as the runner loads it on itself (`<machine>=<base64>`, see the runner's syscall_filter), or undefined. */
export function seccompSpec(arch: NodeJS.Architecture = process.arch): string | undefined {
  const architecture = ARCHITECTURES[arch];
  return architecture ? `${architecture}=${seccompBpf(ociSeccompProfile(), architecture).toString("base64")}` : undefined;
}
