#!/bin/sh
# Throw-away variants of a nested acquisition's fast path (the thread chain
# cache's look-up in `fast_acquire`), timed against the unpatched code and
# parking_lot on a nest of four (docs/PERFORMANCE.md, round 7, helper h14r).
# The sibling of fast_path_variants.sh (round 6, a lone lock+unlock), which
# stays as it was. Each `nest_variants/<name>.diff` is applied to a temporary
# copy of HEAD (`git archive`; set NEST_VARIANTS_REV to use another
# revision: the patches were written against 220a98d); `lock_cost` is built
# for each and all binaries are run one after another in each round: user
# CPU time (/usr/bin/time -f %U) of N nests of four (`lock_cost
# lockdep-nest4 N`, and the base's `parking_lot-nest4 N` as the baseline),
# and callgrind's instructions per nest. The variants are UNSOUND (they skip
# or reorder the look-up): timing only, never to be merged.
#
# Usage: lockdep/benches/nest_variants.sh [rounds] [iterations]
set -eu
ROUNDS=${1:-11}
N=${2:-20000000}
cd "$(dirname "$0")/../.."
PATCHES="$(pwd)/lockdep/benches/nest_variants"
REV=${NEST_VARIANTS_REV:-HEAD}
MODE=lockdep-nest4
BASE_MODE=parking_lot-nest4
COUNTED=lockdep_nest4
BASE_COUNTED=parking_lot_nest4
# shellcheck source=lockdep/benches/variants_common.sh
. lockdep/benches/variants_common.sh
