// The syscall policy, declared once, and what each platform receives of it.
export * from "./seccomp-bpf.js";
export * from "./syscall-policy.js";
