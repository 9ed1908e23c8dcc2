//! Every live validator (for key removal, which must reach them all), the
//! validators a dynamic key's classes live in, and the global validator.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::inner::{Inner, lock};
use crate::class::KeyOwners;
use crate::config::Config;

/// Every validator ever created that is still alive (for key unregistration).
pub(crate) fn registry() -> &'static Mutex<Vec<Weak<Inner>>> {
    static REG: OnceLock<Mutex<Vec<Weak<Inner>>>> = OnceLock::new();
    REG.get_or_init(Default::default)
}

impl Inner {
    pub(crate) fn register(self: &Arc<Self>) {
        if crate::fork::in_forked_child() {
            return;
        }
        let mut reg = lock(registry());
        reg.retain(|w| w.strong_count() > 0);
        reg.push(Arc::downgrade(self));
    }
}

/// The global validator's state, configured from the environment.
pub(crate) fn global() -> &'static Arc<Inner> {
    static GLOBAL: OnceLock<Arc<Inner>> = OnceLock::new();
    crate::fork::on_child(super::fast::disarm);
    crate::fork::install(); // before a fork can catch the initialisation half-done
    let global = GLOBAL.get_or_init(|| Inner::new_arc(Config::from_env()));
    #[cfg(feature = "save")]
    super::save::install_at_exit(global); // LOCKDEP_SAVE, once
    super::summary::install(global); // LOCKDEP_SUMMARY: a line at exit, once
    global
}

impl Inner {
    /// A new validator, registered for key unregistration.
    pub(crate) fn new_arc(config: Config) -> Arc<Inner> {
        let inner = Arc::new(Inner::new(config));
        inner.register();
        inner
    }
}

/// Notes in a dynamic key's [`KeyOwners`] that `inner` (this thread's
/// handle on the validator) registered a class of the key. A pointer
/// compare once the key has its first owner.
pub(crate) fn note_owner(owners: &KeyOwners, inner: &Weak<Inner>) {
    let mine = inner.as_ptr().cast_mut().cast::<()>();
    let mut first = owners.first.load(Ordering::Acquire);
    debug_assert!(mine.addr() & SEVERAL == 0, "the validator state is aligned");
    if first.is_null() {
        let raw = Weak::into_raw(inner.clone()).cast_mut().cast::<()>();
        match owners.first.compare_exchange(std::ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => return,
            Err(current) => {
                // SAFETY: `raw` was made by `Weak::into_raw` on a
                // `Weak<Inner>` just above and was not stored: this gives its
                // weak count back.
                drop(unsafe { Weak::from_raw(raw.cast_const().cast::<Inner>()) });
                first = current;
            }
        }
    }
    // (The pointer never changes once set, short of `release_owners`, which
    // has the key to itself: storing it back with the bit set loses nothing.)
    if first.map_addr(|a| a & !SEVERAL) != mine && first.addr() & SEVERAL == 0 {
        owners.first.store(first.map_addr(|a| a | SEVERAL), Ordering::Relaxed);
    }
}

/// The bit of [`KeyOwners::first`] that says another validator registered
/// a class of the key too.
const SEVERAL: usize = 1;

/// Whether more than one validator registered a class of the key.
pub(crate) fn several_owners(owners: &KeyOwners) -> bool {
    owners.first.load(Ordering::Relaxed).addr() & SEVERAL != 0
}

/// Whether any validator registered a class of the key.
pub(crate) fn any_owner(owners: &KeyOwners) -> bool {
    !owners.first.load(Ordering::Acquire).is_null()
}

/// The first validator that registered a class of the key, if it lives.
pub(crate) fn first_owner(owners: &KeyOwners) -> Option<Arc<Inner>> {
    let p = owners.first.load(Ordering::Acquire).map_addr(|a| a & !SEVERAL);
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-null `first` was made by `Weak::into_raw` on a
    // `Weak<Inner>` in `note_owner`, and its weak count is owned by `owners`
    // until `release_owners`, which takes `&mut` and so cannot run during
    // this borrow; `ManuallyDrop` keeps that count where it is.
    let weak = std::mem::ManuallyDrop::new(unsafe { Weak::from_raw(p.cast_const().cast::<Inner>()) });
    weak.upgrade()
}

/// Gives back the weak count `owners` holds (the key is being dropped); it
/// holds none afterwards.
pub(crate) fn release_owners(owners: &mut KeyOwners) {
    let p = std::mem::replace(owners.first.get_mut(), std::ptr::null_mut()).map_addr(|a| a & !SEVERAL);
    if !p.is_null() {
        // SAFETY: a non-null `first` was made by `Weak::into_raw` on a
        // `Weak<Inner>` in `note_owner`, and it is given back once: the
        // pointer was just replaced by null.
        drop(unsafe { Weak::from_raw(p.cast_const().cast::<Inner>()) });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_keep_one_weak_count_and_give_it_back() {
        let (a, b) = (Inner::new_arc(Config::collect()), Inner::new_arc(Config::collect()));
        let (wa, wb) = (Arc::downgrade(&a), Arc::downgrade(&b));
        let (base_a, base_b) = (Arc::weak_count(&a), Arc::weak_count(&b));
        let mut owners = KeyOwners::default();
        assert!(!any_owner(&owners) && first_owner(&owners).is_none());
        note_owner(&owners, &wa);
        note_owner(&owners, &wa);
        assert_eq!(Arc::weak_count(&a), base_a + 1, "one count, however often noted");
        assert!(any_owner(&owners) && !several_owners(&owners));
        assert!(Arc::ptr_eq(&first_owner(&owners).unwrap(), &a));
        note_owner(&owners, &wb);
        assert!(several_owners(&owners), "a second validator");
        assert!(Arc::ptr_eq(&first_owner(&owners).unwrap(), &a), "the first stays first");
        assert_eq!(Arc::weak_count(&b), base_b, "only the first is kept");
        release_owners(&mut owners);
        assert_eq!(Arc::weak_count(&a), base_a, "given back");
        assert!(!any_owner(&owners), "and forgotten");
        // A validator gone before the key: nothing to upgrade.
        let mut owners = KeyOwners::default();
        note_owner(&owners, &wb);
        drop(b);
        assert!(any_owner(&owners) && first_owner(&owners).is_none());
        release_owners(&mut owners);
    }
}
