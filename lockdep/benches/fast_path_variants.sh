#!/bin/sh
# Throw-away variants of the uncontended lock+unlock fast path, timed against
# the unpatched code and parking_lot (docs/PERFORMANCE.md, round 6, helper
# h14z). Each `fast_path_variants/<name>.diff` is applied to a temporary copy
# of the code they were written against (`git archive` of 5f47a6c, the last
# revision with the 56-byte held entry; round 7 replaced it, and most patches
# no longer apply to HEAD: set FAST_PATH_VARIANTS_REV to use another
# revision); `lock_cost` is built for each and all binaries are run one
# after another in each round: user CPU time (/usr/bin/time -f %U) of N
# lock+unlock, and callgrind's instructions per lock+unlock. Most variants are
# UNSOUND (they write part of an entry): timing only, never to be merged.
#
# Usage: lockdep/benches/fast_path_variants.sh [rounds] [iterations]
set -eu
ROUNDS=${1:-11}
N=${2:-50000000}
cd "$(dirname "$0")/../.."
PATCHES="$(pwd)/lockdep/benches/fast_path_variants"
REV=${FAST_PATH_VARIANTS_REV:-5f47a6c}
MODE=lockdep
BASE_MODE=parking_lot
COUNTED=lockdep_lock_unlock
BASE_COUNTED=
# shellcheck source=lockdep/benches/variants_common.sh
. lockdep/benches/variants_common.sh
