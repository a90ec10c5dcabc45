#!/usr/bin/env bash
# End to end: python3-kubernetes (Debian /usr/bin/python3) against `kaito up`.
# Usage: python_client_test.sh path/to/kaito
source "$(dirname "$0")/lib.sh"
KAITO=${1:?usage: python_client_test.sh path/to/kaito}
if ! /usr/bin/python3 -c 'import kubernetes' 2>/dev/null; then
  echo "SKIP: python3-kubernetes is not installed for /usr/bin/python3" >&2
  exit 77
fi
e2e_start "$KAITO"
timeout 60 /usr/bin/python3 "$E2E_SRC/tests/e2e/python_client_test.py" "$KUBECONFIG" || e2e_fail "python client test failed"
