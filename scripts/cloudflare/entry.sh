#!/usr/bin/env bash
# Entry point of scripts/setup, scripts/deploy and scripts/doctor (symlinks to this file): installs
# the pinned npm packages when needed (wrangler, smol-toml) and runs scripts/cloudflare/<name>.mjs.
# `scripts/<name> --help` says what each does.
set -euo pipefail
here="$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"
# shellcheck source=scripts/lib.sh
source "$here/../lib.sh"
_ensure_node_modules
exec node "$here/$(basename "$0").mjs" "$@"
