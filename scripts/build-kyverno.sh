#!/usr/bin/env bash
# Builds, at $KYVERNO_VERSION, from the Kyverno module's source: the Kyverno CLI into $OUT (when it is
# missing, or with FORCE_CLI=1), and tests/testdata/kyverno-eval (Kyverno's ValidatingPolicy engine
# over many resources, policies compiled once) into $EVAL_OUT. See mk/kyverno.mk.
set -euo pipefail
GO=${GO:-go}
: "${KYVERNO_VERSION:?}" "${OUT:?}" "${EVAL_OUT:?}"
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$(dirname "$OUT")" "$(dirname "$EVAL_OUT")"
OUT=$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")
EVAL_OUT=$(cd "$(dirname "$EVAL_OUT")" && pwd)/$(basename "$EVAL_OUT")
if ! info=$("$GO" mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" 2>&1); then
  echo "build-kyverno: go mod download github.com/kyverno/kyverno@$KYVERNO_VERSION failed:" >&2
  echo "$info" >&2
  exit 2
fi
dir=$(printf '%s\n' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "build-kyverno: module github.com/kyverno/kyverno@$KYVERNO_VERSION not downloaded: $info" >&2; exit 2; }
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$dir"/. "$src"
chmod -R u+w "$src"
mkdir -p "$src/cmd/hpguard-kyverno-eval"
cp "$root/tests/testdata/kyverno-eval/main.go" "$src/cmd/hpguard-kyverno-eval/main.go"
cd "$src"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
if [ ! -x "$OUT" ] || [ "${FORCE_CLI:-}" = 1 ]; then
  "$GO" build -trimpath -ldflags "-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=$KYVERNO_VERSION" \
    -o "$OUT.tmp" ./cmd/cli/kubectl-kyverno
  mv "$OUT.tmp" "$OUT"
  echo "build-kyverno: $OUT ($KYVERNO_VERSION) built in $(( $(date +%s) - start )) s"
fi
start=$(date +%s)
"$GO" build -trimpath -ldflags "-s -w" -o "$EVAL_OUT.tmp" ./cmd/hpguard-kyverno-eval
mv "$EVAL_OUT.tmp" "$EVAL_OUT"
echo "build-kyverno: $EVAL_OUT built in $(( $(date +%s) - start )) s"
