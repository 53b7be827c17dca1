import fcntl, os, termios
for fd in (0, 1, 2):
    try:
        fcntl.ioctl(fd, termios.TIOCSTI, b"x")
        print("injected on", fd)
    except OSError:
        pass
try:
    tty = os.open("/dev/tty", os.O_RDWR)
    fcntl.ioctl(tty, termios.TIOCSTI, b"x")
    print("injected on /dev/tty")
except OSError:
    pass
print("done")
