# What scripts/test and scripts/bench share: pinned tools in virtual environments under the
# checkout (git-ignored), moto on 127.0.0.1, and the release build of one Lambda function.
# Sourced, not run.

MOTO_VERSION=5.2.5
AIOSMTPD_VERSION=1.4.6
CARGO_LAMBDA_VERSION=1.9.2
VENV=.venv
# cargo-lambda in a venv of its own, so pip never trades versions with moto's.
LAMBDA_VENV=.venv-lambda
LOGS=target/test-servers
mkdir -p "$LOGS"
# Zipped bootstraps must stay under this (8 MB).
MAX_ZIP_BYTES=8000000

step() { printf '\n==> [%s, %s free] %s\n' "$(date +%T)" "$(df -h --output=avail . | tail -n 1 | tr -d ' ')" "$*"; }
die() { printf '\nFAILED: %s\n' "$*" >&2; exit 1; }

# PACKAGE==VERSION in VENV, installed only when missing or at another version.
pinned_tool() {
  local venv=$1 package=$2 version=$3
  if ! "$venv/bin/pip" show "$package" 2>/dev/null | grep -q "^Version: $version\$"; then
    [ -x "$venv/bin/python" ] || python3 -m venv "$venv" || die "cannot create a Python virtual environment in $venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$version" \
      || die "cannot install $package==$version into $venv"
  fi
}

# moto[server] and aiosmtpd in $VENV, cargo-lambda in $LAMBDA_VENV.
install_servers_and_cargo_lambda() {
  if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV" || die "cannot create a Python virtual environment in $VENV"
  fi
  if ! "$VENV/bin/pip" show moto 2>/dev/null | grep -q "^Version: $MOTO_VERSION\$" \
    || ! "$VENV/bin/pip" show aiosmtpd 2>/dev/null | grep -q "^Version: $AIOSMTPD_VERSION\$"; then
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION" "aiosmtpd==$AIOSMTPD_VERSION" \
      || die "cannot install moto[server]==$MOTO_VERSION and aiosmtpd==$AIOSMTPD_VERSION"
  fi
  pinned_tool "$LAMBDA_VENV" cargo-lambda "$CARGO_LAMBDA_VERSION"
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

# The architectures to build for: x86-64, and arm64 (what the template deploys) when its
# Rust target is installed.
lambda_arches() {
  LAMBDA_ARCHES=(x86_64)
  if rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
    LAMBDA_ARCHES+=(arm64)
  else
    echo "aarch64-unknown-linux-gnu is not installed: building x86-64 only (the template deploys arm64)"
  fi
}

# Build PACKAGE (its binary of the same name) for ARCH as `sam build` does, one package at a
# time (building several together unifies their dependencies' features and makes each
# bootstrap bigger than what gets deployed). Leaves target/lambda-release/ARCH/PACKAGE/
# bootstrap.zip, sets ZIP_BYTES to its size, and fails above MAX_ZIP_BYTES.
build_lambda() {
  local arch=$1 package=$2 out="target/lambda-release/$1" arch_flag=--x86-64
  [ "$arch" = arm64 ] && arch_flag=--arm64
  PATH="$PWD/$LAMBDA_VENV/bin:$PATH" "$LAMBDA_VENV/bin/cargo-lambda" lambda build --quiet --release --locked \
    "$arch_flag" --output-format zip --lambda-dir "$out" --package "$package" --bin "$package" \
    || die "cargo lambda build --release of $package ($arch) failed"
  ZIP_BYTES=$(stat -c %s "$out/$package/bootstrap.zip")
  awk -v a="$arch" -v f="$package" -v b="$ZIP_BYTES" 'BEGIN { printf "%-8s %-18s bootstrap.zip %6.2f MB\n", a, f, b / 1e6 }'
  [ "$ZIP_BYTES" -le "$MAX_ZIP_BYTES" ] || die "$package ($arch): bootstrap.zip is $ZIP_BYTES bytes, over 8 MB"
}

# Where cargo lambda leaves the x86-64 binary of a package built by build_lambda.
lambda_binary_dir() { echo "$(realpath "${CARGO_TARGET_DIR:-target}")/x86_64-unknown-linux-gnu/release"; }
