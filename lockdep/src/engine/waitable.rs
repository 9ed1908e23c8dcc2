//! Which classes and maps are waitable objects' pseudo-locks (book chapter
//! 16): the graph dump draws them as diamonds, and an event's context
//! leaves them out. Plain data behind the engine's own plain lock.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use super::inner::lock;
use crate::class::KeyId;
use crate::map::LockdepMap;

/// The keys and map addresses of waitable objects' pseudo-locks (for the
/// dump's node shape, and to leave them out of `event::held_instances`).
#[derive(Default)]
struct Marked {
    keys: HashSet<KeyId>,
    maps: HashSet<usize>,
}

fn marked() -> &'static Mutex<Marked> {
    static MARKED: OnceLock<Mutex<Marked>> = OnceLock::new();
    MARKED.get_or_init(Default::default)
}

/// Marks `map` as a waitable object's pseudo-lock (called once per map;
/// the map lives for ever).
pub(crate) fn mark_wait(map: &'static LockdepMap) {
    let mut m = lock(marked());
    m.keys.insert(map.key.id());
    m.maps.insert(map.addr());
}

/// Whether `key` was marked by [`mark_wait`].
pub(crate) fn is_wait_key(key: KeyId) -> bool {
    lock(marked()).keys.contains(&key)
}

/// Whether the map at `addr` was marked by [`mark_wait`].
pub(crate) fn is_wait_map(addr: usize) -> bool {
    lock(marked()).maps.contains(&addr)
}
