//! Every live validator (for key removal, which must reach them all), and
//! the global one.

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
