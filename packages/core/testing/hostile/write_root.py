for path in ["/planted", "/etc/planted", "/usr/planted", "/usr/lib/planted", "/var/planted", "/home/planted", "/root/planted", "/opt/planted", "/proc/sys/kernel/hostname"]:
    try:
        with open(path, "w") as handle:
            handle.write("x")
        print("wrote", path)
    except OSError:
        pass
print("done")
