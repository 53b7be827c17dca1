import socket, subprocess, threading
pair = socket.socketpair()
pair[0].send(b"x")
assert pair[1].recv(1) == b"x"
socket.socket(socket.AF_INET, socket.SOCK_STREAM).close()
thread = threading.Thread(target=lambda: None)
thread.start()
thread.join()
print(subprocess.run(["bash", "-c", "echo $(( 6 * 7 ))"], capture_output=True, text=True).stdout.strip())
