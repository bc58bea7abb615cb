# What scripts/test and scripts/bench share: pinned tools in virtual environments under the
# checkout (git-ignored), moto on 127.0.0.1, and the release build of one Lambda function.
# Sourced, not run.

MOTO_VERSION=5.2.5
AIOSMTPD_VERSION=1.4.6
CARGO_LAMBDA_VERSION=1.9.2
# The template's checkers, each in a venv of its own (installed together, pip picks old versions).
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
CHECKOV_VERSION=3.3.30
SCHEMATHESIS_VERSION=4.32.5
CARGO_FUZZ_VERSION=0.13.2
# The dashboard's browser test: playwright-core from npm driving Debian's chromium.
PLAYWRIGHT_CORE_VERSION=1.65.1
# The identity provider the dashboard's sign-in is tested against (OpenID Connect, npm).
OIDC_PROVIDER_VERSION=9.13.3

# Pinned tools live outside the checkout, one directory per tool and version, shared by
# every clone on the machine as cargo shares its registry: a clean clone reuses what an
# earlier run installed at the same version (a fresh machine installs each once, about
# 5 minutes for all of them). OUTREACH_TOOLS moves them.
TOOLS=${OUTREACH_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/outreach-tools}
VENV=$TOOLS/moto-$MOTO_VERSION-aiosmtpd-$AIOSMTPD_VERSION
# cargo-lambda in a venv of its own, so pip never trades versions with moto's.
LAMBDA_VENV=$TOOLS/cargo-lambda-$CARGO_LAMBDA_VERSION
CFN_VENV=$TOOLS/cfn-lint-$CFN_LINT_VERSION
SAM_VENV=$TOOLS/aws-sam-cli-$SAM_CLI_VERSION
CHECKOV_VENV=$TOOLS/checkov-$CHECKOV_VERSION
ST_VENV=$TOOLS/schemathesis-$SCHEMATHESIS_VERSION
CARGO_FUZZ_ROOT=$TOOLS/cargo-fuzz-$CARGO_FUZZ_VERSION
PLAYWRIGHT_DIR=$TOOLS/playwright-core-$PLAYWRIGHT_CORE_VERSION
OIDC_PROVIDER_DIR=$TOOLS/oidc-provider-$OIDC_PROVIDER_VERSION
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
LOGS=target/test-servers
mkdir -p "$LOGS"
# Zipped bootstraps must stay under this (8 MB).
MAX_ZIP_BYTES=8000000

step() { printf '\n==> [%s, %s free] %s\n' "$(date +%T)" "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" "$*"; }
die() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

# A virtual environment DIR holding the pinned REQUIREMENTS, installed once: a run that
# finds DIR/.installed uses it as it is; two runs at once install it once (flock); an
# install that was cut short is started again.
tool_venv() {
  local dir=$1; shift
  [ -f "$dir/.installed" ] && return 0
  mkdir -p "$(dirname "$dir")"
  (
    flock 9
    [ -f "$dir/.installed" ] && exit 0
    rm -rf "$dir"
    python3 -m venv "$dir" || exit 1
    "$dir/bin/pip" install --quiet --disable-pip-version-check "$@" || exit 1
    touch "$dir/.installed"
  ) 9> "$dir.lock" || die "cannot install $* into $dir"
}

# moto[server] and aiosmtpd in $VENV, cargo-lambda in $LAMBDA_VENV.
install_servers_and_cargo_lambda() {
  tool_venv "$VENV" "moto[server]==$MOTO_VERSION" "aiosmtpd==$AIOSMTPD_VERSION"
  tool_venv "$LAMBDA_VENV" "cargo-lambda==$CARGO_LAMBDA_VERSION"
}

# cargo-fuzz under $CARGO_FUZZ_ROOT (`cargo install --root`, built once).
install_cargo_fuzz() {
  [ -f "$CARGO_FUZZ_ROOT/.installed" ] && return 0
  mkdir -p "$TOOLS"
  (
    flock 9
    [ -f "$CARGO_FUZZ_ROOT/.installed" ] && exit 0
    cargo install --quiet cargo-fuzz --version "$CARGO_FUZZ_VERSION" --locked --root "$CARGO_FUZZ_ROOT" || exit 1
    touch "$CARGO_FUZZ_ROOT/.installed"
  ) 9> "$CARGO_FUZZ_ROOT.lock" || die "cannot install cargo-fuzz $CARGO_FUZZ_VERSION into $CARGO_FUZZ_ROOT"
}

# playwright-core under $PLAYWRIGHT_DIR and oidc-provider under $OIDC_PROVIDER_DIR (npm,
# once), and Debian's chromium (apt, once, when missing and this user may install
# packages). Any of them failing fails the run.
install_browser() {
  if [ ! -x "$CHROMIUM" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      (DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }) \
        || die "cannot install chromium with apt-get"
    else
      die "no chromium at $CHROMIUM: install Debian's chromium (apt-get install chromium) or set CHROMIUM"
    fi
  fi
  command -v node >/dev/null || die "the browser test needs Node.js (node) to drive chromium"
  npm_tool "$PLAYWRIGHT_DIR" "playwright-core@$PLAYWRIGHT_CORE_VERSION"
  npm_tool "$OIDC_PROVIDER_DIR" "oidc-provider@$OIDC_PROVIDER_VERSION"
}

# The npm PACKAGE@VERSION under DIR (DIR/node_modules), installed once, as tool_venv does.
npm_tool() {
  local dir=$1 package=$2
  [ -f "$dir/.installed" ] && return 0
  mkdir -p "$TOOLS"
  (
    flock 9
    [ -f "$dir/.installed" ] && exit 0
    rm -rf "$dir" && mkdir -p "$dir" || exit 1
    npm install --silent --no-audit --no-fund --prefix "$dir" "$package" || exit 1
    touch "$dir/.installed"
  ) 9> "$dir.lock" || die "cannot install $package into $dir"
}

free_port() { "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

# Servers started here; stopped on exit.
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

# moto on a free port of 127.0.0.1, and the AWS settings that point the SDK at it.
start_moto() {
  MOTO_PORT=$(free_port)
  "$VENV/bin/python" scripts/moto_server.py -H 127.0.0.1 -p "$MOTO_PORT" > "$LOGS/moto.log" 2>&1 &
  pids+=($!)
  local up=0
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$MOTO_PORT/moto-api/data.json', timeout=1)" 2>/dev/null; then
      up=1; break
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.2
  done
  [ "$up" = 1 ] || { cat "$LOGS/moto.log" >&2; die "moto_server did not start on 127.0.0.1:$MOTO_PORT"; }
  echo "moto listening on 127.0.0.1:$MOTO_PORT"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$MOTO_PORT"
  export AWS_REGION=ap-southeast-1 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
  unset AWS_PROFILE AWS_SESSION_TOKEN
}

# Build PACKAGE (its binary of the same name) for ARCH as `sam build` does, one package at a
# time (building several together unifies their dependencies' features and makes each
# bootstrap bigger than what gets deployed). Leaves target/lambda-release/ARCH/PACKAGE/
# bootstrap.zip, sets ZIP_BYTES to its size, and fails above MAX_ZIP_BYTES.
# The functions are linked as non-PIE executables (`-C relocation-model=static`): a PIE binary
# of the AWS SDK has some 80,000 relocations for the loader to apply at every cold start, a
# non-PIE one a hundred or two (PERFORMANCE.md: init 3.3 -> 2.3 ms on average). Only the target's units
# get the flag (cargo lambda passes --target), never the build scripts and proc macros, which
# must stay position-independent. `sam build` gets the same from .cargo/config.toml (arm64).
build_lambda() {
  local arch=$1 package=$2 out="target/lambda-release/$1" arch_flag=--x86-64
  [ "$arch" = arm64 ] && arch_flag=--arm64
  CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C relocation-model=static" \
  PATH="$LAMBDA_VENV/bin:$PATH" "$LAMBDA_VENV/bin/cargo-lambda" lambda build --quiet --release --locked \
    "$arch_flag" --output-format zip --lambda-dir "$out" --package "$package" --bin "$package" \
    || die "cargo lambda build --release of $package ($arch) failed"
  ZIP_BYTES=$(stat -c %s "$out/$package/bootstrap.zip")
  awk -v a="$arch" -v f="$package" -v b="$ZIP_BYTES" 'BEGIN { printf "%-8s %-18s bootstrap.zip %6.2f MB\n", a, f, b / 1e6 }'
  [ "$ZIP_BYTES" -le "$MAX_ZIP_BYTES" ] || die "$package ($arch): bootstrap.zip is $ZIP_BYTES bytes, over 8 MB"
}

# Where cargo lambda leaves the x86-64 binary of a package built by build_lambda.
lambda_binary_dir() { echo "$(realpath "${CARGO_TARGET_DIR:-target}")/x86_64-unknown-linux-gnu/release"; }

# The local Zalo ZNS server (Python's standard library only) on a free port of 127.0.0.1;
# OUTREACH_TEST_ZNS names it for the tests, which fail without it.
start_zns_server() {
  local port
  port=$(free_port)
  "$VENV/bin/python" scripts/zns_server.py -H 127.0.0.1 -p "$port" > "$LOGS/zns.log" 2>&1 &
  pids+=($!)
  local up=0
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/admin/state', timeout=1)" 2>/dev/null; then
      up=1; break
    fi
    kill -0 "${pids[-1]}" 2>/dev/null || break
    sleep 0.1
  done
  [ "$up" = 1 ] || { cat "$LOGS/zns.log" >&2; die "zns_server did not start on 127.0.0.1:$port"; }
  echo "zns_server listening on 127.0.0.1:$port"
  export OUTREACH_TEST_ZNS="http://127.0.0.1:$port"
}
