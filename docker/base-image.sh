#!/usr/bin/env bash
# Builds a local stand-in for the Dockerfile's default base image (python:3.11-slim-bookworm) for
# machines that reach Debian's mirror but no container registry:
#   debootstrap --variant=minbase bookworm -> docker import -> Python 3.11 and Java 17 from Debian.
# Prints the image name, to pass as `--build-arg PYTHON_IMAGE=...`. Needs root (debootstrap).
#
#   docker/base-image.sh [NAME]        default NAME: financelake-base:bookworm
set -euo pipefail

name=${1:-financelake-base:bookworm}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
docker=${DOCKER:-docker}

if "$docker" image inspect "$name" > /dev/null 2>&1; then
    echo "$name"
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase bookworm "$work/rootfs" "$mirror" >&2
# As in Debian's official images: apt keeps no downloaded packages, in this layer or later ones.
printf '%s\n' 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };' \
    'Binary::apt::APT::Keep-Downloaded-Packages "false";' \
    > "$work/rootfs/etc/apt/apt.conf.d/docker-clean"
rm -rf "$work/rootfs/var/cache/apt/"* "$work/rootfs/var/lib/apt/lists/"*
tar -C "$work/rootfs" -c . | "$docker" import - "$name-minbase" >&2

# The build stage and the runtime stage both call `python` and apt-get; Java comes in here so both
# stages share the layer. The host network reaches the mirror where the default bridge may not.
"$docker" build --network host --tag "$name" - >&2 << EOF
FROM $name-minbase
RUN apt-get update \\
 && mkdir -p /usr/share/man/man1 \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\
        python3.11 python3.11-venv python-is-python3 ca-certificates openjdk-17-jre-headless \\
 && apt-get clean \\
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin
CMD ["python"]
EOF
"$docker" image rm "$name-minbase" > /dev/null
echo "$name"
