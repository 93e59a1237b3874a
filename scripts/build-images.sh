#!/usr/bin/env bash
# Builds the container images with podman, with no registry to pull from:
#
#   localhost/craft-jobs:dev          operator/Dockerfile (control plane)
#   localhost/craft-jobs-runner:dev   job-runner-image/Dockerfile (job pod base)
#   localhost/craft-jobs-samples:dev  the runner plus the sample and test job modules
#
# The Dockerfiles stay FROM python:3.11-slim; here that name is served by a
# base made locally with debootstrap (Debian bookworm's python3.11), passed as
# a build context so that every FROM of it, in every stage, resolves to it.
# Idempotent: the base is made once per machine (podman's store, outside the
# repository), and an image whose inputs have not changed is not rebuilt.
# As root it installs podman, runc and debootstrap when they are missing;
# otherwise it says so and builds nothing (the image tests then skip).
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE="${CRAFT_JOBS_BASE_IMAGE:-localhost/craft-jobs-python-base:3.11-bookworm}"
OPERATOR_IMAGE=localhost/craft-jobs:dev
RUNNER_IMAGE=localhost/craft-jobs-runner:dev
SAMPLES_IMAGE=localhost/craft-jobs-samples:dev
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
INPUTS_LABEL=dev.craft-jobs.build-inputs
# crun fails on this machine's hybrid cgroups; runc with cgroupfs works.
PODMAN=(podman --runtime /usr/sbin/runc --cgroup-manager cgroupfs)

missing=()
command -v podman >/dev/null 2>&1 || missing+=(podman)
[[ -x /usr/sbin/runc ]] || missing+=(runc)
command -v debootstrap >/dev/null 2>&1 || [[ -x /usr/sbin/debootstrap ]] || missing+=(debootstrap)
if ((${#missing[@]})); then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing ${missing[*]}"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    else
        echo "build-images: ${missing[*]} missing and this is not root: no images built, the image tests will be skipped" >&2
        exit 0
    fi
fi
# podman's default nofile ulimit is above the hard limit here ("error setting
# rlimit type 7: operation not permitted"); an empty list keeps the caller's.
if [[ $(id -u) == 0 && ! -e /etc/containers/containers.conf ]]; then
    mkdir -p /etc/containers
    printf '[containers]\ndefault_ulimits = []\n' > /etc/containers/containers.conf
fi

elapsed() { echo "   ($(( SECONDS - $1 )) s)"; }

if ! "${PODMAN[@]}" image exists "$BASE_IMAGE"; then
    if [[ $(id -u) != 0 ]]; then
        echo "build-images: $BASE_IMAGE is missing and debootstrap needs root: no images built" >&2
        exit 0
    fi
    echo "== $BASE_IMAGE: debootstrap bookworm + python3.11"
    start=$SECONDS
    root="$(mktemp -d /var/tmp/craft-jobs-base.XXXXXX)"
    trap 'rm -rf "$root"' EXIT
    # debootstrap resolves no virtual packages: python3.11-venv's
    # python3.11-distutils comes from python3-distutils, named here.
    debootstrap --variant=minbase \
        --include=python3.11,python3.11-venv,python3-distutils,python3-lib2to3,ca-certificates \
        bookworm "$root" "$MIRROR" >"$root.log" 2>&1 || { tail -20 "$root.log" >&2; exit 1; }
    rm -f "$root.log"
    # Debian marks its Python externally managed (PEP 668), so the Dockerfiles'
    # `pip install` would be refused; a venv first on PATH gives `python` and
    # `pip` as python:3.11-slim's /usr/local/bin ones.
    chroot "$root" python3.11 -m venv /opt/python
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -c . | "${PODMAN[@]}" import \
        --change 'ENV PATH=/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
    rm -rf "$root"
    trap - EXIT
    elapsed "$start"
fi

BUILD=("${PODMAN[@]}" build --pull=never --network host
       --build-context "python:3.11-slim=container-image://$BASE_IMAGE")
# pip in the build reaches PyPI through this machine's TLS-intercepting proxy,
# whose CA only the host's bundle holds; mounted for RUN steps only.
[[ -f /etc/ssl/certs/ca-certificates.crt ]] && BUILD+=(-v /etc/ssl/certs:/etc/ssl/certs:ro)

# inputs PARENT-ID PATH...: a digest of what goes into an image.
inputs() {
    local parent=$1
    shift
    { printf '%s\n' "$parent" "$@"
      find "$@" -type f ! -path '*/__pycache__/*' ! -name '*.pyc' ! -path '*.egg-info/*' -print0 2>/dev/null \
          | sort -z | xargs -0 -r sha256sum; } | sha256sum | cut -c1-16
}

image_id() { "${PODMAN[@]}" image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }

# build IMAGE INPUTS podman-build-args...: skipped when the image was built from the same inputs.
build() {
    local image=$1 digest=$2 old start log
    shift 2
    if [[ $("${PODMAN[@]}" image inspect --format "{{index .Labels \"$INPUTS_LABEL\"}}" "$image" 2>/dev/null) == "$digest" ]]; then
        echo "== $image is up to date"
        return
    fi
    echo "== $image"
    start=$SECONDS
    old=$(image_id "$image")
    log="$(mktemp)"
    "${BUILD[@]}" --label "$INPUTS_LABEL=$digest" -t "$image" "$@" >"$log" 2>&1 || { tail -40 "$log" >&2; rm -f "$log"; exit 1; }
    rm -f "$log"
    # The previous build's image, now untagged (kept if something still uses it).
    [[ -n $old && $old != "$(image_id "$image")" ]] && "${PODMAN[@]}" rmi "$old" >/dev/null 2>&1 || true
    elapsed "$start"
}

base_id=$(image_id "$BASE_IMAGE")

build "$RUNNER_IMAGE" "$(inputs "$base_id" job-runner-image/Dockerfile job-runner-image/pyproject.toml job-runner-image/src)" \
    job-runner-image

# The samples image is built as job-runner-image/README.md says a job image
# is: FROM the runner, job modules in /app, CRAFT_JOB_MODULES naming them.
# Both modules import only craft_jobs_runner and pydantic, which the runner
# has, so nothing of craft_jobs is copied; they get flat names (as
# scripts/e2e-kind.sh does), since /app/craft_jobs/... would make a namespace
# package named like the control plane's distribution inside a job image.
samples="$(mktemp -d)"
trap 'rm -rf "$samples"' EXIT
cp operator/src/craft_jobs/samples/jobs.py "$samples/craft_samples.py"
cp tests/support/kube/jobs.py "$samples/craft_kube_test_jobs.py"
cat > "$samples/Containerfile" <<CONTAINERFILE
FROM $RUNNER_IMAGE
LABEL org.opencontainers.image.title="craft-jobs-samples" \\
      org.opencontainers.image.description="Craft Jobs sample jobs and the Kubernetes tests' jobs, on the runner image"
COPY --chown=10001:10001 craft_samples.py craft_kube_test_jobs.py /app/
ENV CRAFT_JOB_MODULES=craft_samples,craft_kube_test_jobs
CONTAINERFILE
build "$SAMPLES_IMAGE" "$(cd "$samples" && inputs "$(image_id "$RUNNER_IMAGE")" Containerfile craft_samples.py craft_kube_test_jobs.py)" \
    -f "$samples/Containerfile" "$samples"

# --layers=false: podman 4.3 (buildah 1.28) reuses a cached
# `RUN --mount=type=bind,from=build` step after the build stage changed
# (buildah#4522), and fails to mount a cached stage (podman#16281).
build "$OPERATOR_IMAGE" "$(inputs "$base_id" operator/Dockerfile operator/pyproject.toml operator/src \
        job-runner-image/pyproject.toml job-runner-image/src)" \
    --layers=false -f operator/Dockerfile .
