//! A loaded restart policy, as the daemon calls it: `validate` at create, `decide` on
//! every exit. The daemon keeps the timers; the policy only decides.

use std::sync::Arc;

use crate::bindings::restart::exports::hostctl::restart::policy as wit;
use crate::bindings::restart::{RestartPolicy, RestartPolicyPre};
use crate::sandbox::{PluginError, PluginState, Shared};

/// Why the policy is asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occasion {
    Exited,
    StoppedByUser,
    DaemonStart,
}

/// One exit, as the policy sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exit {
    pub occasion: Occasion,
    pub exit_code: i32,
    pub restart_count: u32,
    pub ran_for_ms: u64,
    pub previous_delay_ms: u64,
    pub stopped_by_user_before: bool,
}

/// What the policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub restart: bool,
    pub delay_ms: u64,
    pub reason: String,
}

/// A loaded restart policy.
pub struct RestartPlugin {
    shared: Arc<Shared>,
    engine: wasmtime::Engine,
    pre: RestartPolicyPre<PluginState>,
}

impl std::fmt::Debug for RestartPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RestartPlugin").field("name", &self.shared.name).finish()
    }
}

impl RestartPlugin {
    pub(crate) fn new(shared: Arc<Shared>, engine: wasmtime::Engine, pre: RestartPolicyPre<PluginState>) -> Self {
        RestartPlugin { shared, engine, pre }
    }

    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Check a policy string (`on-failure:3`).
    pub fn validate(&self, policy: &str) -> Result<(), PluginError> {
        let op = "validate";
        self.shared
            .call(&self.engine, op, |s| self.pre.instantiate(s), |i: &RestartPolicy, s| i.hostctl_restart_policy().call_validate(s, policy))?
            .map_err(|e| self.shared.driver_error(op, e))
    }

    /// Decide about one exit under `policy`.
    pub fn decide(&self, policy: &str, exit: &Exit) -> Result<Decision, PluginError> {
        let op = "decide";
        let exit = wit::Exit {
            occasion: match exit.occasion {
                Occasion::Exited => wit::Occasion::Exited,
                Occasion::StoppedByUser => wit::Occasion::StoppedByUser,
                Occasion::DaemonStart => wit::Occasion::DaemonStart,
            },
            exit_code: exit.exit_code,
            restart_count: exit.restart_count,
            ran_for_ms: exit.ran_for_ms,
            previous_delay_ms: exit.previous_delay_ms,
            stopped_by_user_before: exit.stopped_by_user_before,
        };
        let d = self
            .shared
            .call(&self.engine, op, |s| self.pre.instantiate(s), |i: &RestartPolicy, s| i.hostctl_restart_policy().call_decide(s, policy, exit))?
            .map_err(|e| self.shared.driver_error(op, e))?;
        Ok(Decision { restart: d.restart, delay_ms: d.delay_ms, reason: d.reason })
    }
}
