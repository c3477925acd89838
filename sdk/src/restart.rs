//! Restart policies: implement [`RestartPolicy`], then `export_restart_policy!(MyPolicy);`.
//!
//! On every exit of a container the daemon asks the policy whether to start it again and
//! after how long ([`Decision`]); the daemon keeps the timers and the counts, cancels a
//! pending restart when a user stops the container, and publishes the events.

use std::marker::PhantomData;

use crate::Result;
use crate::bindings::restart::exports::hostctl::restart::policy as guest;

pub use guest::{Decision, Exit, Occasion};

/// A restart policy.
pub trait RestartPolicy {
    /// Check a policy string when a container is created.
    fn validate(policy: String) -> Result<()>;
    /// Decide about one exit.
    fn decide(policy: String, exit: Exit) -> Result<Decision>;
}

/// Adapts a [`RestartPolicy`] to the generated export trait.
#[doc(hidden)]
pub struct Export<T>(PhantomData<T>);

impl<T: RestartPolicy> guest::Guest for Export<T> {
    fn validate(policy: String) -> Result<()> {
        T::validate(policy)
    }
    fn decide(policy: String, exit: Exit) -> Result<Decision> {
        T::decide(policy, exit)
    }
}

/// Export a [`RestartPolicy`] as this component's `hostctl:restart/policy`.
#[macro_export]
macro_rules! export_restart_policy {
    ($policy:ty) => {
        type __HostctlRestartPolicy = $crate::restart::Export<$policy>;
        $crate::bindings::restart::export_restart_world!(__HostctlRestartPolicy with_types_in $crate::bindings::restart);
    };
}
