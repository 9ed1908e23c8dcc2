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
    use super::typed_name;

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
