//! Every live validator (for key removal, which must reach them all), the
//! validators a dynamic key's classes live in, and the global validator.

use std::sync::atomic::{AtomicBool, Ordering};
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
#[derive(Default)]
pub(crate) struct KeyOwners {
    /// The first validator that registered a class of the key.
    first: OnceLock<Weak<Inner>>,
    /// Set when another validator registered one too: removal then walks
    /// the registry, as for a static key.
    several: AtomicBool,
}

// A lock embedding a dynamic key stays unwind-safe, as std's locks are: the
// owners are written once, by the engine, which never panics while doing it,
// and a panic elsewhere cannot leave them half-updated (a `OnceLock` and a
// flag). The validator they point to is not touched through them but to
// remove the key's classes.
impl std::panic::RefUnwindSafe for KeyOwners {}
impl std::panic::UnwindSafe for KeyOwners {}

impl KeyOwners {
    /// Notes that `inner` (this thread's handle on the validator) registered
    /// a class of the key. A pointer compare once the key has its first
    /// owner.
    pub(crate) fn note(&self, inner: &Weak<Inner>) {
        let first = self.first.get_or_init(|| inner.clone());
        if !Weak::ptr_eq(first, inner) && !self.several.load(Ordering::Relaxed) {
            self.several.store(true, Ordering::Relaxed);
        }
    }

    /// Whether any validator registered a class of the key.
    pub(crate) fn any(&self) -> bool {
        self.first.get().is_some()
    }
}

/// Removes the classes of a dynamic key that is being dropped (kernel
/// `lockdep_unregister_key`): in its one validator when only one registered
/// classes of it, else in every live validator. A key no validator
/// registered a class of (its locks were never taken) costs nothing, and a
/// validator that is gone has nothing left to remove.
pub(crate) fn unregister_dynamic_key(key: &crate::class::LockClassKey, owners: &KeyOwners) {
    let Some(first) = owners.first.get() else { return };
    if owners.several.load(Ordering::Relaxed) {
        super::lockdep_unregister_key(key, false);
        return;
    }
    if crate::fork::in_forked_child() {
        return; // see `lockdep_unregister_key`
    }
    if let Some(inner) = first.upgrade() {
        super::release::zap_key(&inner, key.id(), false);
    }
}
