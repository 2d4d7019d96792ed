#!/usr/bin/env bash
# Makes sure a Docker engine answers, for `make docker-test`: when none does and this runs as root,
# installs Debian's docker.io (dockerd, containerd, runc; plus debootstrap for docker/base-image.sh)
# and starts dockerd in the background (log: /var/log/financelake-dockerd.log). It is left running.
set -euo pipefail

if docker info > /dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "engine: no Docker engine answers; start one (or run as root to let this script)" >&2
    exit 1
fi
if ! command -v dockerd > /dev/null || ! command -v debootstrap > /dev/null; then
    echo "engine: installing docker.io and debootstrap from Debian" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        docker.io debootstrap > /dev/null
fi
if ! docker info > /dev/null 2>&1; then
    echo "engine: starting dockerd" >&2
    setsid dockerd > /var/log/financelake-dockerd.log 2>&1 < /dev/null &
    # Wait for its API, bounded: dockerd answers within seconds or has failed (see the log).
    for _ in $(seq 60); do
        docker info > /dev/null 2>&1 && exit 0
        sleep 1
    done
    echo "engine: dockerd did not answer within 60 s; see /var/log/financelake-dockerd.log" >&2
    exit 1
fi
