#!/usr/bin/env bash
# Installs what the benchmarks compare against, once: wrk (Debian), the LiteLLM proxy
# (PyPI, in its own venv), Unleash's Python client (PyPI, in its own venv) and the Portkey
# gateway (npm). Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=bench/.work
mkdir -p "$WORK"

PYTHON=${PYTHON:-python3}

# --- wrk, the load generator (Debian package) ----------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "wrk is missing: install it with 'apt-get install -y wrk' as root" >&2
    exit 1
  fi
  echo "setup: installing wrk"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi

# --- Node.js, which runs the Portkey gateway (Debian package) -----------------------
if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "node and npm are missing: install them with 'apt-get install -y nodejs npm'" >&2
    exit 1
  fi
  echo "setup: installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

# --- PostgreSQL, for the ingestion benchmark (Debian package) -------------------------
if [ -f scripts/install-system.sh ]; then
  bash scripts/install-system.sh
fi

# --- LiteLLM proxy, in its own venv ----------------------------------------------------
LITELLM_VENV=$WORK/litellm-venv
if [ ! -f "$LITELLM_VENV/.installed" ]; then
  echo "setup: installing litellm[proxy] into $LITELLM_VENV"
  rm -rf "$LITELLM_VENV"
  "$PYTHON" -m venv "$LITELLM_VENV"
  "$LITELLM_VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
  "$LITELLM_VENV/bin/python" -m pip install --quiet 'litellm[proxy]' 2>&1 | grep -v "is ignored" || true
  "$LITELLM_VENV/bin/python" -c "import litellm.proxy.proxy_server" # fails when incomplete
  touch "$LITELLM_VENV/.installed"
fi

# --- Unleash's Python client, the reference of the flag benchmark, in its own venv ---------
UNLEASH_VENV=$WORK/unleash-venv
if [ ! -f "$UNLEASH_VENV/.installed" ]; then
  echo "setup: installing UnleashClient into $UNLEASH_VENV"
  rm -rf "$UNLEASH_VENV"
  "$PYTHON" -m venv "$UNLEASH_VENV"
  "$UNLEASH_VENV/bin/python" -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
  "$UNLEASH_VENV/bin/python" -m pip install --quiet UnleashClient 2>&1 | grep -v "is ignored" || true
  "$UNLEASH_VENV/bin/python" -c "import UnleashClient" # fails when incomplete
  touch "$UNLEASH_VENV/.installed"
fi

# --- py-spy, to see where prodloop's time goes (PyPI, in a venv of its own) ---------------
TOOLS_VENV=$WORK/tools-venv
if [ ! -x "$TOOLS_VENV/bin/py-spy" ]; then
  echo "setup: installing py-spy into $TOOLS_VENV"
  rm -rf "$TOOLS_VENV"
  "$PYTHON" -m venv "$TOOLS_VENV"
  "$TOOLS_VENV/bin/python" -m pip install --quiet py-spy 2>&1 | grep -v "is ignored" || true
  "$TOOLS_VENV/bin/py-spy" --version >/dev/null
fi

# --- Portkey gateway (npm) -----------------------------------------------------------------
# @hono/node-server is pinned to 1.13.8: with 1.14 and later the gateway answers every
# streamed request with 500 ("TypeError: immutable", Portkey-AI/gateway issue #1389).
PORTKEY_DIR=$WORK/portkey
HONO_NODE_SERVER=1.13.8
portkey_ok() {
  [ -f "$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json" ] &&
    [ "$(node -p "require('./$PORTKEY_DIR/node_modules/@hono/node-server/package.json').version" 2>/dev/null)" = "$HONO_NODE_SERVER" ]
}
if ! portkey_ok; then
  echo "setup: installing @portkey-ai/gateway into $PORTKEY_DIR"
  mkdir -p "$PORTKEY_DIR"
  cat > "$PORTKEY_DIR/package.json" <<JSON
{
  "name": "prodloop-bench-portkey",
  "private": true,
  "dependencies": {"@portkey-ai/gateway": "*"},
  "overrides": {"@hono/node-server": "$HONO_NODE_SERVER"}
}
JSON
  rm -rf "$PORTKEY_DIR/node_modules" "$PORTKEY_DIR/package-lock.json"
  (cd "$PORTKEY_DIR" && npm install --silent --no-audit --no-fund)
fi

echo "setup: ready (wrk $(wrk -v 2>&1 | head -1 | awk '{print $2}'), litellm $("$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))'), unleashclient $("$UNLEASH_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("UnleashClient"))'), portkey $(node -p "require('./$PORTKEY_DIR/node_modules/@portkey-ai/gateway/package.json').version"))"
