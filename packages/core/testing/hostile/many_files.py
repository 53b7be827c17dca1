import os
count = 100000  # parameter
os.makedirs("many", exist_ok=True)
made = 0
try:
    for index in range(count):
        # Empty: data pages would fill a small tmpfs long before 100,000 files.
        os.close(os.open("many/%06d" % index, os.O_CREAT | os.O_WRONLY, 0o644))
        made += 1
except OSError as error:
    print("stopped", error.strerror)
print("made", made)
