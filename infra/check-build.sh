#!/usr/bin/env bash
# Checks what `sam build` made: one stripped arm64 `bootstrap` per function of
# template.yaml, under Lambda's 50 MB zipped limit with room to spare (a
# bootstrap over 40 MB unzipped is a regression worth a look); prints sizes.
set -euo pipefail
build=${1:-.aws-sam/build}
status=0
for fn in $(python3 -c 'import re,sys; t=open("template.yaml").read(); print(" ".join(re.findall(r"^  (\w+Function):\n    Type: AWS::Serverless::Function", t, re.M)))'); do
  bin="$build/$fn/bootstrap"
  if [ ! -x "$bin" ]; then echo "missing: $bin"; status=1; continue; fi
  size=$(stat -c %s "$bin")
  kind=$(file -b "$bin")
  case "$kind" in *"ARM aarch64"*stripped*) ;; *) echo "$fn: not a stripped arm64 binary: $kind"; status=1 ;; esac
  [ "$size" -lt $((40 * 1024 * 1024)) ] || { echo "$fn: $size bytes"; status=1; }
  printf '%-26s %5.1f MB\n' "$fn" "$(echo "$size / 1048576" | bc -l)"
done
exit $status
