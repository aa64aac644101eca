#!/usr/bin/env bash
# Builds, at $KYVERNO_VERSION, from the Kyverno module's source: the Kyverno CLI into $OUT, and
# tests/testdata/kyverno-eval (Kyverno's ValidatingPolicy engine over many resources, policies
# compiled once) into $EVAL_OUT. See mk/kyverno.mk.
set -euo pipefail
GO=${GO:-go}
: "${KYVERNO_VERSION:?}" "${OUT:?}" "${EVAL_OUT:?}"
root=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$GO" mod download -json "github.com/kyverno/kyverno@$KYVERNO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
[ -d "$dir" ] || { echo "build-kyverno: module github.com/kyverno/kyverno@$KYVERNO_VERSION not downloaded" >&2; exit 2; }
src=$(mktemp -d)
trap 'chmod -R u+w "$src"; rm -rf "$src"' EXIT
cp -r "$dir"/. "$src"
chmod -R u+w "$src"
mkdir -p "$src/cmd/hpguard-kyverno-eval"
cp "$root/tests/testdata/kyverno-eval/main.go" "$src/cmd/hpguard-kyverno-eval/main.go"
cd "$src"
export CGO_ENABLED=0 GOFLAGS=-mod=mod
start=$(date +%s)
if [ ! -x "$OUT" ]; then
  "$GO" build -trimpath -ldflags "-s -w -X github.com/kyverno/kyverno/pkg/version.BuildVersion=$KYVERNO_VERSION" \
    -o "$OUT.tmp" ./cmd/cli/kubectl-kyverno
  mv "$OUT.tmp" "$OUT"
  echo "build-kyverno: $OUT ($KYVERNO_VERSION) built in $(( $(date +%s) - start )) s"
fi
start=$(date +%s)
"$GO" build -trimpath -ldflags "-s -w" -o "$EVAL_OUT.tmp" ./cmd/hpguard-kyverno-eval
mv "$EVAL_OUT.tmp" "$EVAL_OUT"
echo "build-kyverno: $EVAL_OUT built in $(( $(date +%s) - start )) s"
