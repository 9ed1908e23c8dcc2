//! Every live validator (for key removal, which must reach them all), the
//! validators a dynamic key's classes live in, and the global validator.

use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::inner::{Inner, lock};
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

/// The validators holding classes of one [`DynamicKey`](crate::DynamicKey)
/// (part of its shared state), so that removing its classes when the key
/// dies goes straight to the one validator that has them — nearly always
/// the only one — instead of walking the registry of every validator.
///
/// Set under the graph lock of the validator that registers a class of the
/// key (`Ctx::register_lock_class`, the only place classes of run-time keys
/// are made); read when the key is dropped, after the last map using it,
/// which orders every registration before it (the key's `Arc`).
pub(crate) struct KeyOwners {
    /// The first validator that registered a class of the key: a pointer
    /// made by `Weak::into_raw`, whose weak count this struct owns (null:
    /// none yet). An atomic pointer rather than a `OnceLock<Weak<_>>`: the
    /// first registration of every dynamic class sets it, and the `Once`
    /// machinery cost more than the rest of this together.
    first: AtomicPtr<Inner>,
    /// Set when another validator registered one too: removal then walks
    /// the registry, as for a static key.
    several: AtomicBool,
}

impl Default for KeyOwners {
    fn default() -> Self {
        KeyOwners { first: AtomicPtr::new(std::ptr::null_mut()), several: AtomicBool::new(false) }
    }
}

impl KeyOwners {
    /// Notes that `inner` (this thread's handle on the validator) registered
    /// a class of the key. A pointer compare once the key has its first
    /// owner.
    pub(crate) fn note(&self, inner: &Weak<Inner>) {
        let mine = inner.as_ptr().cast_mut();
        let mut first = self.first.load(Ordering::Acquire);
        if first.is_null() {
            let raw = Weak::into_raw(inner.clone()).cast_mut();
            match self.first.compare_exchange(std::ptr::null_mut(), raw, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(current) => {
                    // SAFETY: `raw` was made by `Weak::into_raw` just above
                    // and was not stored: this gives its weak count back.
                    drop(unsafe { Weak::from_raw(raw) });
                    first = current;
                }
            }
        }
        if first != mine && !self.several.load(Ordering::Relaxed) {
            self.several.store(true, Ordering::Relaxed);
        }
    }

    /// Whether any validator registered a class of the key.
    pub(crate) fn any(&self) -> bool {
        !self.first.load(Ordering::Acquire).is_null()
    }

    /// The first validator that registered a class of the key, if it lives.
    fn first(&self) -> Option<Arc<Inner>> {
        let p = self.first.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: a non-null `first` was made by `Weak::into_raw` in `note`
        // and its weak count is owned by `self`, which outlives this borrow;
        // `ManuallyDrop` keeps that count where it is.
        let weak = std::mem::ManuallyDrop::new(unsafe { Weak::from_raw(p.cast_const()) });
        weak.upgrade()
    }
}

impl Drop for KeyOwners {
    fn drop(&mut self) {
        let p = *self.first.get_mut();
        if !p.is_null() {
            // SAFETY: a non-null `first` was made by `Weak::into_raw` in
            // `note`, and its weak count is given back once, here.
            drop(unsafe { Weak::from_raw(p.cast_const()) });
        }
    }
}

/// Removes the classes of a dynamic key that is being dropped (kernel
/// `lockdep_unregister_key`): in its one validator when only one registered
/// classes of it, else in every live validator. A key no validator
/// registered a class of (its locks were never taken) costs nothing, and a
/// validator that is gone has nothing left to remove.
pub(crate) fn unregister_dynamic_key(key: &crate::class::LockClassKey, owners: &KeyOwners) {
    if !owners.any() {
        return;
    }
    if owners.several.load(Ordering::Relaxed) {
        super::lockdep_unregister_key(key, false);
        return;
    }
    if crate::fork::in_forked_child() {
        return; // see `lockdep_unregister_key`
    }
    if let Some(inner) = owners.first() {
        super::release::zap_key(&inner, key.id(), false);
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
        let owners = KeyOwners::default();
        assert!(!owners.any() && owners.first().is_none());
        owners.note(&wa);
        owners.note(&wa);
        assert_eq!(Arc::weak_count(&a), base_a + 1, "one count, however often noted");
        assert!(owners.any() && !owners.several.load(Ordering::Relaxed));
        assert!(Arc::ptr_eq(&owners.first().unwrap(), &a));
        owners.note(&wb);
        assert!(owners.several.load(Ordering::Relaxed), "a second validator");
        assert_eq!(Arc::weak_count(&b), base_b, "only the first is kept");
        drop(owners);
        assert_eq!(Arc::weak_count(&a), base_a, "given back");
        // A validator gone before the key: nothing to upgrade.
        let owners = KeyOwners::default();
        owners.note(&wb);
        drop(b);
        assert!(owners.any() && owners.first().is_none());
    }
}
