# Sourced by scripts/run and scripts/test: make .venv and install the project into it,
# only when needed. Idempotent: a second run reuses the venv and installs nothing
# unless pyproject.toml changed (a stamp holds a hash of it and of the extras asked).
#   ensure_venv ""      the bot only
#   ensure_venv test    the bot and its test tools
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

_python() {
  # PYTHON if given, else the first of python3.13 .. python3 that is 3.11 or newer.
  local candidates=("${PYTHON:-}" python3.13 python3.12 python3.11 python3)
  for py in "${candidates[@]}"; do
    [ -n "$py" ] && command -v "$py" >/dev/null 2>&1 || continue
    if "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"
      return 0
    fi
  done
  echo "Front Door needs Python 3.11 or newer (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

ensure_venv() {
  local extras="$1" spec="." stamp want
  [ -n "$extras" ] && spec=".[$extras]"
  if [ ! -x "$VENV/bin/python" ]; then
    local py
    py="$(_python)"
    echo "Creating .venv with $("$py" --version 2>&1)" >&2
    "$py" -m venv "$VENV"
  fi
  stamp="$VENV/.frontdoor-installed-${extras:-base}"
  want="$("$VENV/bin/python" -c 'import hashlib, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$ROOT/pyproject.toml")"
  # The test install holds the bot's too.
  for done in "$stamp" "$VENV/.frontdoor-installed-test"; do
    if [ -f "$done" ] && [ "$(cat "$done")" = "$want" ]; then
      echo "Reusing .venv (up to date)" >&2
      return 0
    fi
  done
  echo "Installing Front Door into .venv ($spec)" >&2
  (cd "$ROOT" && "$VENV/bin/python" -m pip install -q -e "$spec")
  echo "$want" > "$stamp"
}
