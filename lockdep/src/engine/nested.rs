//! The nesting annotation supplied from outside the code that takes the
//! locks ([`Config::nested_sites`](crate::Config::nested_sites),
//! `LOCKDEP_NESTED_SITES`): what `down_read_nested(lock,
//! SINGLE_DEPTH_NESTING)` says in the kernel, for locks made at a listed
//! construction site by code that cannot say it.
//!
//! Only the full acquire path looks at it. The fast path never needs to: it
//! pushes a lock only on a chain validated before, and a chain with a lock of
//! a class on top of another lock of that class (subclass 0 both) is never
//! validated without a report — the acquisitions this file renumbers always
//! miss it.

use super::ctx::Ctx;
use crate::class::KeySource;
use crate::map::LockdepMap;

impl Ctx<'_> {
    /// The subclass an acquisition of `map` asked for as `subclass` is
    /// validated as: 1 when it asked for 0, `map` was made at a nested site,
    /// and this thread holds another lock of `map`'s class (subclass 0) but
    /// not `map` itself; `subclass` otherwise. So the same lock twice stays a
    /// recursion, and a third lock of the class under two meets the second
    /// in subclass 1: still reported.
    pub(crate) fn nested_subclass(&self, map: &LockdepMap, subclass: u32) -> u32 {
        let sites = &self.inner.config.nested_sites;
        if subclass != 0 || sites.is_empty() {
            return subclass;
        }
        let KeySource::Site(site, _) = &map.key else { return 0 };
        if !sites.iter().any(|s| s.matches(site.file(), site.line(), site.column())) {
            return 0;
        }
        // A class not registered yet has no lock held.
        let Some(class) = self.known_class(map, 0) else { return 0 };
        let mut other = false;
        for h in self.pv.held.locks.iter().filter(|h| h.class == class) {
            if h.instance() == map.addr() {
                return 0;
            }
            other = true;
        }
        u32::from(other)
    }
}
