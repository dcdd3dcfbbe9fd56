#!/usr/bin/env python3
"""Wraps a root file system tarball into an archive `docker load` takes, tagged
with the name of the Lambda base image `sam local` asks for.

THIS IS A LOCAL STAND-IN, NOT THE AWS IMAGE: no image registry is reachable
here, so `public.ecr.aws/lambda/provided:al2023-<arch>` is built from Debian
(see infra/local/sam.sh for what the root file system holds). The image's
labels say so and name what it was built from.

`docker load` rather than `docker import`: dockerd 20.10 ignores `import
--platform`, stamping every image amd64, which SAM then refuses for an arm64
function; a loaded image keeps the architecture its config names.

usage: base-image.py ROOTFS.tar ARCH TAG OUT.tar [LABEL=VALUE ...]
"""

import hashlib
import io
import json
import sys
import tarfile


def main(rootfs, arch, tag, out, labels):
    digest = hashlib.sha256()
    with open(rootfs, "rb") as layer:
        for chunk in iter(lambda: layer.read(1 << 20), b""):
            digest.update(chunk)
    diff_id = "sha256:" + digest.hexdigest()
    config = {
        "architecture": arch,
        "os": "linux",
        "config": {
            # What the AWS base image sets, and what SAM's emulator expects.
            "Env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8",
                "TZ=:/etc/localtime",
                "LAMBDA_TASK_ROOT=/var/task",
                "LAMBDA_RUNTIME_DIR=/var/runtime",
            ],
            "WorkingDir": "/var/task",
            "Labels": dict(labels),
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "infra/local/sam.sh (Debian root file system)"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    manifest = json.dumps(
        [{"Config": config_name, "RepoTags": [tag], "Layers": ["layer.tar"]}]
    ).encode()
    with tarfile.open(out, "w") as archive:
        archive.add(rootfs, arcname="layer.tar")
        for name, data in ((config_name, config_bytes), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


if __name__ == "__main__":
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rootfs, arch, tag, out = sys.argv[1:5]
    main(rootfs, arch, tag, out, (arg.split("=", 1) for arg in sys.argv[5:]))
