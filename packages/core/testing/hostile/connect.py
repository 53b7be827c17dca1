# Tries to connect to each address; prints `host port blocked|connected`.
import socket
targets = [["127.0.0.1", 80]]  # parameter
for host, port in targets:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(2)
    try:
        s.connect((host, port))
        print(host, port, "connected")
    except OSError:
        print(host, port, "blocked")
    finally:
        s.close()
