fields = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
for name in ["Uid", "Gid", "CapEff", "CapPrm", "CapAmb", "NoNewPrivs", "Seccomp"]:
    print(name, " ".join(fields.get(name, "absent").split()))
