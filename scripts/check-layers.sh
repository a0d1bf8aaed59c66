#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Layering check (ctest "layering"; its own test is ctest "layering_selftest").
#   core  <  evidence, escalation, metrics  <  daemon;   ctl uses core, evidence and metrics.
# A file's layer is its folder, nothing else: src/<layer>/ and include/stallwatch/<layer>/
# (and their subfolders, e.g. src/ctl/doctor/).
# Two rules, both read from the path:
#   1. includes: a file includes only headers of its own layer or of the layers below it;
#   2. namespaces: a file declares into its layer's namespace (core: stallwatch, or a
#      stallwatch::<name> that is not a layer; every other layer: stallwatch::<layer>) and opens
#      another layer's namespace only to forward-declare what it may include.
# Usage: check-layers.sh [ROOT]   (ROOT defaults to the checkout holding this script)
set -euo pipefail
root=${1:-"$(dirname "$0")/.."}
cd "$root"
layers="core evidence escalation metrics daemon ctl"

is_layer() { case " $layers " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
allowed() {  # layer of the including file, layer of the included header
  case "$1:$2" in
    core:core) return 0 ;;
    evidence:core|evidence:evidence) return 0 ;;
    escalation:core|escalation:escalation) return 0 ;;
    metrics:core|metrics:metrics) return 0 ;;
    daemon:*) [ "$2" != ctl ] ;;
    ctl:core|ctl:evidence|ctl:metrics|ctl:ctl) return 0 ;;
    *) return 1 ;;
  esac
}
namespace_layer() {  # "stallwatch" or "stallwatch::x::y" -> the layer it belongs to
  local sub=${1#stallwatch}
  sub=${sub#::}
  sub=${sub%%::*}
  if [ -n "$sub" ] && is_layer "$sub"; then echo "$sub"; else echo core; fi
}

bad=0
complain() { echo "layering: $*"; bad=1; }
check_file() {  # file, its layer
  local f=$1 layer=$2 inc l ns own=0
  while read -r inc; do
    l=${inc%%/*}
    if [ "$l" = "$inc" ] || ! is_layer "$l"; then
      complain "$f ($layer) includes stallwatch/$inc, which is in no layer folder"
    elif ! allowed "$layer" "$l"; then
      complain "$f ($layer) includes stallwatch/$inc ($l)"
    fi
  done < <(sed -n 's|^#include "stallwatch/\([^"]*\)".*|\1|p' "$f")
  while read -r ns; do
    l=$(namespace_layer "$ns")
    if [ "$l" = "$layer" ]; then
      own=1
    elif ! allowed "$layer" "$l" || [ "$l" = core ]; then
      complain "$f ($layer) opens namespace $ns (layer $l): declare into stallwatch::$layer"
    fi
  done < <(sed -n 's/^namespace \(stallwatch[a-z_:]*\) {.*/\1/p' "$f")
  if [ $own -eq 0 ] && grep -q '^namespace stallwatch' "$f"; then
    complain "$f ($layer) never opens its layer's namespace"
  fi
}
for d in $layers; do
  while read -r f; do
    check_file "$f" "$d"
  done < <(find "src/$d" "include/stallwatch/$d" \( -name '*.cpp' -o -name '*.h' \) 2>/dev/null | sort)
done
for f in include/stallwatch/*.h include/stallwatch/*/; do
  [ -e "$f" ] || continue
  name=${f#include/stallwatch/}; name=${name%/}
  if [ -f "$f" ] || ! is_layer "$name"; then complain "$f is in no layer folder ($layers)"; fi
done
if [ $bad -ne 0 ]; then exit 1; fi
echo "layering: ok (core < evidence, escalation, metrics < daemon; ctl uses core, evidence, metrics)"
