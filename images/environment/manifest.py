# Run by prepare-rootfs.sh with the new root filesystem's own Python (chroot):
# prints what the environment holds, as JSON, for /etc/code-interpreter/environment.json.
# argv: hash suite revision modules(comma separated) package=version...
import importlib
import json
import platform
import sys

environment_hash, suite, revision, modules = sys.argv[1:5]
versions = {}
for name in modules.split(","):
    module = importlib.import_module(name)
    versions[name] = getattr(module, "__version__", None)
packages = dict(item.split("=", 1) for item in sys.argv[5:])
manifest = {
    "hash": environment_hash,
    "suite": suite,
    "revision": int(revision),
    "python": platform.python_version(),
    "modules": versions,
    "packages": packages,
}
print(json.dumps(manifest, indent=2, sort_keys=True))
