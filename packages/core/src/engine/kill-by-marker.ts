/**
 * The command line that sends SIGKILL to every process of a sandbox whose
 * command line carries `marker` as one of its arguments (KERNEL_MARKER,
 * SERVE_MARKER): how a driver stops a session's kernel or command runner
 * that it started by exec, which no platform API can kill. It is Python (any
 * sandbox image has python3; pkill may not be there), and spells the marker
 * in two pieces so that it does not kill itself.
 */
export function killByMarkerArgv(marker: string, python = "python3"): string[] {
  const half = Math.floor(marker.length / 2);
  const source = `import os, signal
marker = (${JSON.stringify(marker.slice(0, half))} + ${JSON.stringify(marker.slice(half))}).encode()
for entry in os.listdir("/proc"):
    if not entry.isdigit() or int(entry) == os.getpid():
        continue
    try:
        with open("/proc/%s/cmdline" % entry, "rb") as handle:
            if marker in handle.read().split(b"\\0"):
                os.kill(int(entry), signal.SIGKILL)
    except OSError:
        pass
`;
  return [python, "-I", "-c", source];
}
