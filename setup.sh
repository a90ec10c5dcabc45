#!/usr/bin/env bash
# setup.sh: install every dependency (Debian bookworm packages + PyPI packages), configure and build
# kaito-cpp in Release with assertions (ccache), and put `kaito` on the PATH (/usr/local/bin).
#   ./setup.sh              everything
#   KAITO_SKIP_APT=1 ./setup.sh   skip apt (already installed)
#   BUILD_DIR=build ./setup.sh    where to build (default: build)
set -euo pipefail
cd "$(dirname "$0")"
BUILD_DIR=${BUILD_DIR:-build}
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

APT_PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git clang-14 libclang-rt-14-dev clang-format
  libcaf-dev libboost1.81-dev nlohmann-json3-dev libyaml-cpp-dev libgtest-dev libgmock-dev
  libsqlite3-dev libssl-dev libcurl4-openssl-dev libopenblas-dev libarchive-dev libsnappy-dev
  zlib1g-dev libzstd-dev libspdlog-dev libfmt-dev libcli11-dev libbenchmark-dev libpcre2-dev libicu-dev
  kubectl python3-kubernetes docker-registry skopeo curl libreadline-dev
)
# PyPI peers the tests compare against live (HF tokenizers, jinja2, numpy, pyarrow, safetensors,
# the openai client, jsonschema: the reference validator of structured outputs).
PIP_PACKAGES=(tokenizers jinja2 numpy pyarrow safetensors openai jsonschema)

if [ -z "${KAITO_SKIP_APT:-}" ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${APT_PACKAGES[@]}"
fi

PYTHON=${PYTHON:-python3}
if ! $PYTHON -c 'import tokenizers, jinja2, numpy, pyarrow, safetensors, openai, jsonschema' 2>/dev/null; then
  $PYTHON -m pip install -q "${PIP_PACKAGES[@]}" ||
    $PYTHON -m pip install -q --break-system-packages "${PIP_PACKAGES[@]}"
fi

GEN=()
if command -v ninja >/dev/null; then GEN=(-G Ninja); fi
cmake -S . -B "$BUILD_DIR" "${GEN[@]}" -DCMAKE_BUILD_TYPE=Release
cmake --build "$BUILD_DIR" -j"$(nproc)"
$SUDO cmake --install "$BUILD_DIR" --prefix /usr/local >/dev/null
echo "setup: built $BUILD_DIR; $(command -v kaito): $(kaito version | head -1)"
