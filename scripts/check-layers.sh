#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Layering check (ctest "layering"): a lower layer never includes an upper layer's header.
#   core (src/core)  <  evidence (src/evidence), escalation (src/escalation)  <  daemon (src/daemon)
#   metrics (src/metrics) uses core; ctl (src/ctl) may use core, the evidence parsers and metrics.
# Headers belong to a layer by place: include/stallwatch/evidence/ -> evidence,
# include/stallwatch/escalation/ -> escalation, include/stallwatch/ctl/ -> ctl, the daemon
# headers listed below -> daemon, every other include/stallwatch/*.h -> core. Headers are
# checked like the sources of their layer. The static libraries enforce the same at link time.
set -euo pipefail
cd "$(dirname "$0")/.."
daemon_headers="blackout_judge.h check_runner.h daemon.h dispatcher.h escalation_actor.h exit_path.h feeder.h journal_sink.h logging.h notify.h report_worker.h rt_wake.h status_doc.h supervisor_plan.h thread_placement.h woken_thread.h"

layer_of_header() {  # include path under stallwatch/ -> layer
  case "$1" in
    evidence/*) echo evidence ;;
    escalation/*) echo escalation ;;
    ctl/*) echo ctl ;;
    metrics/*) echo metrics ;;
    *) for h in $daemon_headers; do [ "$1" = "$h" ] && { echo daemon; return; }; done; echo core ;;
  esac
}
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

bad=0
check_file() {  # file, its layer
  local f=$1 layer=$2 inc
  while read -r inc; do
    local l; l=$(layer_of_header "$inc")
    if ! allowed "$layer" "$l"; then
      echo "layering: $f ($layer) includes stallwatch/$inc ($l)"
      bad=1
    fi
  done < <(sed -n 's|^#include "stallwatch/\([^"]*\)".*|\1|p' "$f")
}
for d in core evidence escalation metrics daemon ctl; do
  for f in src/$d/*.cpp src/$d/*.h; do [ -e "$f" ] && check_file "$f" "$d"; done
done
for f in include/stallwatch/*.h include/stallwatch/*/*.h; do
  rel=${f#include/stallwatch/}
  check_file "$f" "$(layer_of_header "$rel")"
done
if [ $bad -ne 0 ]; then exit 1; fi
echo "layering: ok (core < evidence, escalation, metrics < daemon; ctl uses core, evidence, metrics)"
