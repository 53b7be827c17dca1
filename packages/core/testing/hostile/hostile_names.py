import os
names = ["new\nline.txt", "bidi-\u202etxt.exe", "x" * 255, "tab\tand space.txt", "-dash.txt", "émoji-😀.txt"]
for name in names:
    with open(name, "w") as handle:
        handle.write("ok")
for name in (b"bad-\xff\xfe.txt", b"bad-\xfe\xff.txt", b"bad-dir-\xff/inside.txt"):
    os.makedirs(os.path.dirname(name) or b".", exist_ok=True)
    with open(name, "wb") as handle:
        handle.write(b"ok")
print(len(os.listdir(".")))
