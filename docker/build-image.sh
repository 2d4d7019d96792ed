#!/usr/bin/env bash
# Builds the FinanceLake image with BuildKit, on whatever Docker this machine has:
#   - `docker buildx` when the CLI has it;
#   - else a pre-23 Docker CLI (Debian bookworm's docker.io 20.10) with DOCKER_BUILDKIT=1: such
#     CLIs carry their own BuildKit client, while newer ones without buildx only have the legacy
#     builder, which cannot mount caches or secrets.
# The base image is the Dockerfile's default when it can be pulled (or is here already), else a
# stand-in made from Debian's packages (docker/base-image.sh). Optional trust for pip and Maven:
#   BUILD_CA_BUNDLE=<PEM bundle>  BUILD_JAVA_CACERTS=<Java trust store>
#
#   docker/build-image.sh [TAG]          default TAG: financelake:0.1.0
set -euo pipefail
cd "$(dirname "$0")/.."

tag=${1:-financelake:0.1.0}
default_base=$(sed -n 's/^ARG PYTHON_IMAGE=//p' Dockerfile)

build=()
if docker buildx version > /dev/null 2>&1; then
    build=(docker buildx build --load)
else
    for cli in $(type -ap docker); do
        major=$("$cli" version --format '{{.Client.Version}}' 2> /dev/null | cut -d. -f1)
        if [ -n "$major" ] && [ "$major" -lt 23 ]; then
            build=(env DOCKER_BUILDKIT=1 "$cli" build)
            break
        fi
    done
fi
if [ ${#build[@]} -eq 0 ]; then
    echo "build-image: no BuildKit here: install docker-buildx (or Debian's docker.io)" >&2
    exit 1
fi

base=$default_base
if ! docker image inspect "$base" > /dev/null 2>&1 && ! docker pull "$base" > /dev/null 2>&1; then
    echo "build-image: cannot pull $base; building a stand-in from Debian's packages" >&2
    base=$(docker/base-image.sh)
fi

args=(--network host --build-arg "PYTHON_IMAGE=$base" --tag "$tag")
[ -n "${BUILD_CA_BUNDLE:-}" ] && args+=(--secret "id=ca-bundle,src=$BUILD_CA_BUNDLE")
[ -n "${BUILD_JAVA_CACERTS:-}" ] &&
    args+=(--secret "id=java-cacerts,src=$BUILD_JAVA_CACERTS")

echo "build-image: ${build[*]} ${args[*]} ." >&2
"${build[@]}" "${args[@]}" .
