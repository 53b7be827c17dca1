import socket
for name in ["localhost.localdomain", "example.com", "metadata.google.internal", "kubernetes.default.svc"]:
    try:
        socket.setdefaulttimeout(2)
        addresses = socket.getaddrinfo(name, 80)
        if all(a[4][0] in ("127.0.0.1", "::1") for a in addresses):
            continue
        print(name, "resolved")
    except OSError:
        pass
print("done")
