//! The names of locks made by the typed constructors
//! ([`LockdepMap::with_site_typed`](crate::LockdepMap::with_site_typed)):
//! `Mutex<Account>@src/bank.rs:15`, with a column only where two locks of one
//! kind and type are made on one line. Plain data: the lock types and the
//! maps use it, it uses nothing of theirs.

use std::panic::Location;

/// A line that made typed maps ([`LockdepMap::with_site_typed`](crate::LockdepMap::with_site_typed)):
/// `(kind, type, file, line)`.
#[cfg(lockdep_on)]
type Site = (&'static str, &'static str, &'static str, u32);
/// Per line, the columns seen there so far and the name built for each.
#[cfg(lockdep_on)]
type SiteTable = std::collections::HashMap<Site, Vec<(u32, Option<&'static str>)>>;

/// The names of typed maps. A plain std mutex, never seen by the validator;
/// nothing panics under it, poisoning is ignored anyway.
#[cfg(lockdep_on)]
fn sites() -> std::sync::MutexGuard<'static, SiteTable> {
    static SITES: std::sync::OnceLock<std::sync::Mutex<SiteTable>> = std::sync::OnceLock::new();
    SITES.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner())
}

/// Notes that a lock of `kind` over the type named `ty` is made at `site`,
/// before its name is built (which happens at its first use): two made on
/// one line, one after the other, then both get a column. Constructors that
/// are not `const` call it; only with validation compiled in.
#[cfg_attr(not(lockdep_on), allow(unused_variables))]
pub(crate) fn note_site(kind: &'static str, ty: &'static str, site: &'static Location<'static>) {
    #[cfg(lockdep_on)]
    {
        let mut sites = sites();
        let columns = sites.entry((kind, ty, site.file(), site.line())).or_default();
        if !columns.iter().any(|&(c, _)| c == site.column()) {
            columns.push((site.column(), None));
        }
    }
}

/// The name of a typed map: `kind<T>@file:line`, `:column` added when
/// other locks of the same kind and type were made on the same line, or
/// `kind<T>` without a site. Built once per site (and leaked: one string per
/// construction site, like the class it names).
#[cfg(lockdep_on)]
pub(crate) fn typed_name(
    kind: &'static str,
    ty: &'static str,
    site: Option<&'static Location<'static>>,
) -> &'static str {
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let short = short_type_name(ty);
    let mut sites = sites();
    let Some(site) = site else {
        // Once per kind and type, not per lock: a program that makes locks
        // without end must not leak a name for each.
        let plain = sites.entry((kind, ty, "", 0)).or_default();
        if let Some(&(_, Some(name))) = plain.first() {
            return name;
        }
        let name = leak(format!("{kind}<{short}>"));
        *plain = vec![(0, Some(name))];
        return name;
    };
    let columns = sites.entry((kind, ty, site.file(), site.line())).or_default();
    let i = match columns.iter().position(|&(c, _)| c == site.column()) {
        Some(i) => i,
        None => {
            columns.push((site.column(), None));
            columns.len() - 1
        }
    };
    if let Some(name) = columns[i].1 {
        return name;
    }
    let name = if columns.len() > 1 {
        leak(format!("{kind}<{short}>@{}:{}:{}", site.file(), site.line(), site.column()))
    } else {
        leak(format!("{kind}<{short}>@{}:{}", site.file(), site.line()))
    };
    columns[i].1 = Some(name);
    name
}

/// The 4-byte id of an instance name (a `&'static str`), as a held entry
/// keeps it: see [`NameTable`]. Never 0 (0 is "not interned yet" in a
/// map's cache).
#[cfg(lockdep_on)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub(crate) struct NameId(std::num::NonZeroU32);

#[cfg(lockdep_on)]
impl NameId {
    /// The name every lock gets once the table is full (see [`NameTable`]).
    pub(crate) const FULL: NameId = NameId(std::num::NonZeroU32::MIN);
    /// What a table full of names calls the locks it could not name.
    pub(crate) const FULL_NAME: &'static str = "<lockdep: too many lock names>";

    pub(crate) fn raw(self) -> u32 {
        self.0.get()
    }

    /// The id of a raw value a map cached (`None` for 0, not interned).
    #[inline(always)]
    pub(crate) fn from_raw(raw: u32) -> Option<NameId> {
        std::num::NonZeroU32::new(raw).map(NameId)
    }

    /// The name (lock-free: a few atomic loads).
    pub(crate) fn name(self) -> &'static str {
        names().get(self)
    }
}

/// The distinct names of the global table (see [`NameTable`]): past this,
/// locks are named [`NameId::FULL_NAME`] and one line says so.
#[cfg(lockdep_on)]
pub(crate) const MAX_NAMES: u32 = 1 << 20;

/// Slots in the first segment of a [`NameTable`]; segment `k` has
/// `FIRST << k`.
#[cfg(lockdep_on)]
const FIRST_SHIFT: u32 = 6;
/// Segments enough for `u32` ids (the limit stops far below).
#[cfg(lockdep_on)]
const SEGMENTS: usize = (32 - FIRST_SHIFT) as usize;
/// Entries of the look-up cache by (address, length).
#[cfg(lockdep_on)]
const CACHE: usize = 1024;

/// An append-only table of instance names, each a `&'static str` with a
/// 4-byte id. Interning is by content (two leaked strings with the same
/// text share an id), so the table grows only with distinct names; reading
/// a name back by id is lock-free (a segment's once-cell and a slot's),
/// so reports, assertions and dumps can read it under any lock, from any
/// thread. Interning looks in a lock-free direct-mapped cache by (address,
/// length) first — a dynamic-class map made in a loop with the same
/// `&'static str` hits it — and takes its one mutex, a leaf (nothing is
/// called under it but the table's own hash map), on a miss.
#[cfg(lockdep_on)]
pub(crate) struct NameTable {
    /// Segment `k`: `FIRST << k` slots, made when the first id in it is.
    segments: [std::sync::OnceLock<Box<[std::sync::OnceLock<&'static str>]>>; SEGMENTS],
    /// By a hash of (address, length): an id whose name may be it (checked).
    cache: [std::sync::atomic::AtomicU32; CACHE],
    by_text: std::sync::Mutex<Interned>,
    limit: u32,
}

#[cfg(lockdep_on)]
#[derive(Default)]
struct Interned {
    ids: std::collections::HashMap<&'static str, NameId>,
    /// Ids handed out (the next is this + 1).
    len: u32,
    /// The one line about a full table was printed.
    said_full: bool,
}

/// Where an intern found its id: a full table's first refusal is `Full`,
/// for the caller to print (no lock held by then).
#[cfg(lockdep_on)]
enum Interning {
    Found(NameId),
    Full { say: bool },
}

#[cfg(lockdep_on)]
impl NameTable {
    /// A table of at most `limit` names (id 1 is [`NameId::FULL_NAME`],
    /// one of them).
    pub(crate) fn new(limit: u32) -> NameTable {
        let t = NameTable {
            segments: std::array::from_fn(|_| std::sync::OnceLock::new()),
            cache: std::array::from_fn(|_| std::sync::atomic::AtomicU32::new(0)),
            by_text: std::sync::Mutex::new(Interned::default()),
            limit: limit.max(1),
        };
        let mut by_text = t.lock();
        t.push(&mut by_text, NameId::FULL_NAME);
        drop(by_text);
        t
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Interned> {
        // Nothing panics under it; poisoning is ignored anyway.
        self.by_text.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// (segment, index in it) of an id.
    fn place(id: NameId) -> (usize, usize) {
        let i = (id.raw() - 1) as u64 + (1 << FIRST_SHIFT);
        let k = 63 - i.leading_zeros() - FIRST_SHIFT;
        (k as usize, (i - (1u64 << (k + FIRST_SHIFT))) as usize)
    }

    fn slot(&self, id: NameId) -> Option<&std::sync::OnceLock<&'static str>> {
        let (k, i) = Self::place(id);
        self.segments.get(k)?.get()?.get(i)
    }

    /// The name of `id` (lock-free). An id not from this table reads as
    /// [`NameId::FULL_NAME`].
    pub(crate) fn get(&self, id: NameId) -> &'static str {
        self.slot(id).and_then(|s| s.get().copied()).unwrap_or(NameId::FULL_NAME)
    }

    fn cache_index(name: &str) -> usize {
        let h =
            (name.as_ptr() as usize as u64 ^ (name.len() as u64).rotate_left(47)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> (64 - CACHE.trailing_zeros())) as usize
    }

    /// The id of `name`, interned if new; on a full table,
    /// [`NameId::FULL`] (and the first time, one line that says so).
    /// `forked`: in a child of `fork()`, where the mutex may be held for
    /// ever by a thread that no longer exists: only tried.
    pub(crate) fn intern(&self, name: &'static str, forked: bool) -> NameId {
        let c = &self.cache[Self::cache_index(name)];
        if let Some(id) = NameId::from_raw(c.load(std::sync::atomic::Ordering::Acquire)) {
            let known = self.get(id);
            // The same string, or another with the same text.
            if std::ptr::eq(known, name) || known == name {
                return id;
            }
        }
        match self.intern_locked(name, forked) {
            Interning::Found(id) => {
                c.store(id.raw(), std::sync::atomic::Ordering::Release);
                id
            }
            Interning::Full { say } => {
                if say {
                    crate::output::say!(
                        "lockdep: more than {} distinct lock names; locks with a new name are named {:?} in \
                         reports from now on",
                        self.limit - 1,
                        NameId::FULL_NAME
                    );
                }
                NameId::FULL
            }
        }
    }

    fn intern_locked(&self, name: &'static str, forked: bool) -> Interning {
        let mut by_text = if forked {
            match self.by_text.try_lock() {
                Ok(g) => g,
                Err(std::sync::TryLockError::Poisoned(e)) => e.into_inner(),
                Err(std::sync::TryLockError::WouldBlock) => return Interning::Full { say: false },
            }
        } else {
            self.lock()
        };
        if let Some(&id) = by_text.ids.get(name) {
            return Interning::Found(id);
        }
        if by_text.len >= self.limit {
            let say = !std::mem::replace(&mut by_text.said_full, true);
            return Interning::Full { say };
        }
        Interning::Found(self.push(&mut by_text, name))
    }

    /// A new id for `name` (below the limit), under the mutex.
    fn push(&self, by_text: &mut Interned, name: &'static str) -> NameId {
        let id = NameId::from_raw(by_text.len + 1).unwrap_or(NameId::FULL);
        let (k, i) = Self::place(id);
        let segment = self.segments[k]
            .get_or_init(|| (0..1usize << (k as u32 + FIRST_SHIFT)).map(|_| Default::default()).collect());
        // Set once: ids are handed out once, under the mutex.
        let _ = segment[i].set(name);
        by_text.len += 1;
        by_text.ids.insert(name, id);
        id
    }
}

/// The global table of instance names (see [`NameTable`]).
#[cfg(lockdep_on)]
pub(crate) fn names() -> &'static NameTable {
    static NAMES: std::sync::OnceLock<NameTable> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| NameTable::new(MAX_NAMES))
}

#[cfg(lockdep_on)]
thread_local! {
    /// The last name this thread interned in the global table: (address,
    /// length, id). Ids never change meaning, so a match needs no check: a
    /// dynamic-class map made in a loop with one `&'static str` is named
    /// without touching the table. A `const` cell without a destructor,
    /// usable while thread-locals are torn down.
    static LAST: std::cell::Cell<(usize, usize, u32)> = const { std::cell::Cell::new((0, 0, 0)) };
}

/// The id of `name` in the global table (see [`NameTable::intern`]). The
/// caller holds no engine lock (a full table prints a line, once).
#[cfg(lockdep_on)]
#[inline(always)]
pub(crate) fn intern(name: &'static str) -> NameId {
    let (addr, len, id) = LAST.with(std::cell::Cell::get);
    if (addr, len) == (name.as_ptr() as usize, name.len())
        && let Some(id) = NameId::from_raw(id)
    {
        return id;
    }
    intern_in_table(name)
}

#[cfg(lockdep_on)]
#[inline(never)]
fn intern_in_table(name: &'static str) -> NameId {
    let key = (name.as_ptr() as usize, name.len());
    let id = names().intern(name, crate::fork::in_forked_child());
    if id != NameId::FULL {
        LAST.with(|l| l.set((key.0, key.1, id.raw())));
    }
    id
}

/// `std::any::type_name` output with every path trimmed to its last
/// segment: `alloc::vec::Vec<alloc::string::String>` → `Vec<String>`.
#[cfg_attr(not(lockdep_on), allow(dead_code))]
fn short_type_name(ty: &str) -> String {
    let mut out = String::with_capacity(ty.len());
    // Start of the current path in `out`: a `::` drops what precedes it.
    let mut segment = 0;
    let mut rest = ty;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("::") {
            out.truncate(segment);
            rest = after;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
        if !(c.is_alphanumeric() || c == '_') {
            segment = out.len();
        }
    }
    out
}

#[cfg(all(test, lockdep_on))]
mod tests {
    use super::{NameId, NameTable, typed_name};

    #[test]
    fn names_are_interned_by_text_and_read_back_by_id() {
        let t = NameTable::new(100);
        let a = t.intern("alpha", false);
        assert_eq!(t.intern("alpha", false), a, "the same string: the cache by address");
        let copy: &'static str = Box::leak(String::from("alpha").into_boxed_str());
        assert_eq!(t.intern(copy, false), a, "another string with the same text");
        assert_eq!(t.intern(copy, false), a);
        let b = t.intern("beta", false);
        assert_ne!(a, b);
        assert_ne!(a, NameId::FULL);
        assert_eq!((t.get(a), t.get(b), t.get(NameId::FULL)), ("alpha", "beta", NameId::FULL_NAME));
        // Past the first segment (64 ids), and ids stay as given.
        let many: Vec<(NameId, &'static str)> = (0..90)
            .map(|i| {
                let s: &'static str = Box::leak(format!("n{i}").into_boxed_str());
                (t.intern(s, false), s)
            })
            .collect();
        for (id, s) in many {
            assert_eq!(t.get(id), s);
            assert_eq!(t.intern(s, false), id);
        }
    }

    #[test]
    fn a_full_table_names_new_locks_with_a_stand_in_and_keeps_the_old_names() {
        let t = NameTable::new(3); // the stand-in and two names
        let a = t.intern("one", false);
        let b = t.intern("two", false);
        assert_eq!(t.intern("three", false), NameId::FULL);
        assert_eq!(t.intern("four", false), NameId::FULL);
        assert_eq!((t.get(a), t.get(b)), ("one", "two"));
        assert_eq!(t.intern("one", false), a);
        assert_eq!(NameId::FULL.name(), NameId::FULL_NAME);
    }

    #[test]
    fn a_fork_child_never_waits_for_the_table() {
        let t = NameTable::new(10);
        let a = t.intern("known", false);
        let held = t.lock(); // as if a thread that no longer exists held it
        assert_eq!(t.intern("known", true), a, "the lock-free cache still answers");
        assert_eq!(t.intern("unknown", true), NameId::FULL);
        drop(held);
        assert_ne!(t.intern("unknown", true), NameId::FULL);
    }

    #[test]
    fn a_name_without_a_site_is_built_once_per_kind_and_type() {
        let a = typed_name("Mutex", "alloc::vec::Vec<u8>", None);
        let b = typed_name("Mutex", "alloc::vec::Vec<u8>", None);
        assert_eq!(a, "Mutex<Vec<u8>>");
        assert!(std::ptr::eq(a, b), "one leaked string, not one per lock");
        let c = typed_name("RwLock", "alloc::vec::Vec<u8>", None);
        assert_eq!(c, "RwLock<Vec<u8>>");
    }
}
