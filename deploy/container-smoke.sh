#!/usr/bin/env bash
# Build the image and run it once: start, /readyz answers 200, stop (exit code 0).
#
# Where no container engine can run (no podman, or a sandbox that forbids what the
# runtime needs), it says so and exits 0: CI stays green there. Once an engine has
# run a container here, a failed build or a bot that does not come up is an error.
#
# The base image: python:3.11-slim from Docker Hub; where Docker Hub cannot be reached,
# a Debian 12 root file system made with debootstrap from Debian's mirror (its python3
# is 3.11), imported once as localhost/frontdoor-base:bookworm.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "container smoke test SKIPPED: $*"; exit 0; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
command -v podman >/dev/null 2>&1 || skip "podman is not installed (apt-get install podman)"

IMAGE=localhost/frontdoor:ci
BASE=localhost/frontdoor-base:bookworm
PORT="${SMOKE_PORT:-3977}"
ENGINE=(podman)
RUN_OPTS=()

# Can this machine run a container at all? crun refuses hybrid cgroups and, in a
# container without CAP_SYS_RESOURCE, podman's default rlimits; runc with the
# current limits works there.
probe() { as_root "${ENGINE[@]}" run --rm "${RUN_OPTS[@]}" "$1" true >/dev/null 2>&1; }
if ! as_root podman image exists python:3.11-slim \
    && ! as_root timeout 60 podman pull -q docker.io/library/python:3.11-slim >/dev/null 2>&1; then
  echo "python:3.11-slim could not be pulled; building the base from Debian's mirror"
  if ! as_root podman image exists "$BASE"; then
    command -v debootstrap >/dev/null 2>&1 || skip "no python:3.11-slim and no debootstrap"
    ROOTFS="$(mktemp -d)"
    as_root debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$ROOTFS" >/dev/null  # debootstrap's default Debian mirror
    as_root tar -C "$ROOTFS" -c . | as_root podman import -q - "$BASE" >/dev/null
    as_root rm -rf "$ROOTFS"
  fi
else
  BASE=docker.io/library/python:3.11-slim
fi
if ! probe "$BASE"; then
  ENGINE=(podman --runtime runc)
  RUN_OPTS=(--ulimit "nofile=$(ulimit -n):$(ulimit -Hn)" --ulimit nproc=4096:4096)
  command -v runc >/dev/null 2>&1 || skip "podman cannot run a container here and runc is missing"
  probe "$BASE" || skip "podman cannot run a container here (crun and runc both refused)"
fi

CA=/etc/ssl/certs/ca-certificates.crt  # a TLS-inspecting proxy's CA, for pip in the build
as_root "${ENGINE[@]}" build -q "${RUN_OPTS[@]}" --build-arg "BASE=$BASE" \
  -v "$CA:/run/host-ca.crt:ro" --build-arg PIP_CERT=/run/host-ca.crt -t "$IMAGE" . >/dev/null

NAME="frontdoor-smoke-$$"
as_root "${ENGINE[@]}" run --rm -v "$NAME:/data" "${RUN_OPTS[@]}" "$IMAGE" frontdoor db upgrade
as_root "${ENGINE[@]}" run -d --name "$NAME" --network host -v "$NAME:/data" "${RUN_OPTS[@]}" \
  -e SLACK_BOT_TOKEN=xoxb-smoke -e SLACK_SIGNING_SECRET=smoke-secret \
  -e SLACK_API_URL=http://127.0.0.1:9/api/ -e PORT="$PORT" "$IMAGE" >/dev/null
cleanup() { as_root podman rm -f "$NAME" >/dev/null 2>&1 || true
            as_root podman volume rm -f "$NAME" >/dev/null 2>&1 || true; }
trap cleanup EXIT
code=000
for _ in $(seq 1 60); do
  code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz" || true)"
  if [ "$code" = 404 ]; then  # a version without /readyz: its /healthz
    code="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/healthz" || true)"
    [ "$code" = 200 ] && echo "no /readyz in this version: /healthz answered 200"
  fi
  [ "$code" = 200 ] && break
  sleep 0.5
done
if [ "$code" != 200 ]; then
  as_root podman logs "$NAME" | tail -20
  echo "the container did not become ready on port $PORT (last answer $code)"; exit 1
fi
as_root "${ENGINE[@]}" exec "$NAME" python3 /opt/frontdoor/healthcheck.py
as_root podman stop -t 15 "$NAME" >/dev/null
exit_code="$(as_root podman inspect "$NAME" --format '{{.State.ExitCode}}')"
[ "$exit_code" = 0 ] || { echo "frontdoor serve exited $exit_code on SIGTERM"; exit 1; }
echo "container: built, ready on port $PORT, stopped cleanly"
