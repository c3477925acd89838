//! Restart policies, as Docker's restart manager runs them, with the decision itself in
//! the restart plugin.
//!
//! On every exit the daemon asks the policy (`decide`) whether to start the container
//! again and after how long; it then marks the container `restarting`, waits, publishes
//! `restart` and starts it, counting the restart (`RestartCount`). A user's `stop` or
//! `kill` tells the policy so (it never restarts then) and cancels a restart that is
//! waiting; a manual `start` resets the count. At daemon start, containers that are not
//! running are offered to the policy once (`always`, and `unless-stopped` unless a user
//! stopped it, come back).

use std::time::{Duration, SystemTime};

use hostctl_image::timestamp::parse_rfc3339;
use hostctl_plugin_runtime::restart::{Exit, Occasion};
use tokio_util::sync::CancellationToken;

use super::records::{ContainerRecord, Status};
use super::{ContainerError, ContainerService};

impl ContainerService {
    /// Refuse a policy the plugin refuses, or one combined with `--rm`, at create.
    pub(super) async fn validate_restart(&self, record: &ContainerRecord) -> Result<(), ContainerError> {
        let Some(policy) = record.host_config.restart_policy.as_ref().filter(|p| !p.is_none()) else { return Ok(()) };
        if record.host_config.auto_remove {
            return Err(ContainerError::Invalid("conflicting options: --restart and --rm".into()));
        }
        let Some(plugin) = self.inner.restart.clone() else {
            return Err(ContainerError::Invalid(format!("restart policy {:?}: no restart plugin is loaded", policy.name)));
        };
        let text = policy.as_policy_string();
        tokio::task::spawn_blocking(move || plugin.validate(&text)).await.expect("no panic").map_err(|e| ContainerError::Invalid(e.to_string()))
    }

    /// Note that a user is stopping or killing `id` (so its exit is not the policy's to
    /// restart) and cancel a restart that is waiting. `true` if one was.
    pub(super) fn user_stops(&self, id: &str) -> bool {
        self.inner.user_stopping.lock().expect("user_stopping").insert(id.to_owned());
        self.cancel_restart(id)
    }

    /// Cancel a waiting restart of `id`; `true` if there was one.
    pub(super) fn cancel_restart(&self, id: &str) -> bool {
        match self.inner.pending.lock().expect("pending").remove(id) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    /// After `record` exited (its exit recorded): ask the policy and, if it says so,
    /// schedule the restart.
    pub(super) async fn after_exit(&self, mut record: ContainerRecord) -> Result<(), ContainerError> {
        let by_user = self.inner.user_stopping.lock().expect("user_stopping").remove(&record.id);
        if by_user {
            record.stopped_by_user = true;
            self.save(&record)?;
        }
        let occasion = if by_user { Occasion::StoppedByUser } else { Occasion::Exited };
        self.offer_to_policy(record, occasion).await
    }

    /// At daemon start, before the API serves: offer every container that is not running
    /// to its policy, and start the ones it names (as Docker does: a `start`, no
    /// `restart`, the count unchanged).
    pub(super) async fn restart_at_daemon_start(&self) -> Result<(), ContainerError> {
        for record in self.records()? {
            if matches!(record.state.status, Status::Exited | Status::Dead) {
                let id = record.id.clone();
                if self.decide(&record, Occasion::DaemonStart).await.is_some_and(|d| d.restart)
                    && let Err(err) = self.start_inner(&id, false).await
                {
                    tracing::error!(container = %id, "starting it with the daemon: {err}");
                }
            }
        }
        Ok(())
    }

    /// The policy's decision on `record`'s exit; `None` without a policy or a plugin, or
    /// when the plugin failed (logged).
    async fn decide(&self, record: &ContainerRecord, occasion: Occasion) -> Option<hostctl_plugin_runtime::restart::Decision> {
        let policy = record.host_config.restart_policy.as_ref().filter(|p| !p.is_none()).map(|p| p.as_policy_string())?;
        let plugin = self.inner.restart.clone()?;
        let exit = Exit {
            occasion,
            exit_code: record.state.exit_code,
            restart_count: record.restart_count,
            ran_for_ms: ran_for(record).as_millis() as u64,
            previous_delay_ms: record.restart_delay_ms,
            stopped_by_user_before: record.stopped_by_user,
        };
        match tokio::task::spawn_blocking(move || plugin.decide(&policy, &exit)).await.expect("no panic") {
            Ok(decision) => {
                tracing::debug!(container = %record.id, restart = decision.restart, delay_ms = decision.delay_ms, "{}", decision.reason);
                Some(decision)
            }
            Err(err) => {
                tracing::error!(container = %record.id, "restart policy: {err}");
                None
            }
        }
    }

    async fn offer_to_policy(&self, mut record: ContainerRecord, occasion: Occasion) -> Result<(), ContainerError> {
        let Some(decision) = self.decide(&record, occasion).await.filter(|d| d.restart) else { return Ok(()) };
        record.state.restarting = true;
        record.restart_delay_ms = decision.delay_ms;
        self.save(&record)?;
        let token = CancellationToken::new();
        self.inner.pending.lock().expect("pending").insert(record.id.clone(), token.clone());
        let this = self.clone();
        let id = record.id.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {
                    this.clear_restarting(&id);
                    return;
                }
                _ = tokio::time::sleep(Duration::from_millis(decision.delay_ms)) => {}
            }
            // From here a user's stop finds the container in `restarting_now`; one that
            // came between the delay's end and this point cancelled the token.
            this.inner.restarting_now.lock().expect("restarting_now").insert(id.clone());
            this.inner.pending.lock().expect("pending").remove(&id);
            if token.is_cancelled() {
                this.inner.restarting_now.lock().expect("restarting_now").remove(&id);
                this.clear_restarting(&id);
                return;
            }
            let started = this.start_automatically(&id).await;
            this.inner.restarting_now.lock().expect("restarting_now").remove(&id);
            let stopped_meanwhile = this.inner.user_stopping.lock().expect("user_stopping").contains(&id);
            match started {
                Err(err) => {
                    tracing::error!(container = %id, "restarting: {err}");
                    this.inner.user_stopping.lock().expect("user_stopping").remove(&id);
                    this.clear_restarting(&id);
                }
                // A user stopped it while it was starting: stop what started.
                Ok(()) if stopped_meanwhile => {
                    if let Err(err) = this.stop(&id, None).await {
                        tracing::error!(container = %id, "stopping after a user's stop: {err}");
                    }
                }
                Ok(()) => {}
            }
        });
        Ok(())
    }

    fn clear_restarting(&self, id: &str) {
        if let Ok(mut record) = self.resolve(id)
            && record.state.restarting
        {
            record.state.restarting = false;
            let _ = self.save(&record);
        }
    }

    /// The policy's restart: counted, announced with a `restart` event, then started.
    async fn start_automatically(&self, id: &str) -> Result<(), ContainerError> {
        let mut record = self.resolve(id)?;
        record.restart_count += 1;
        record.state.restarting = false;
        self.save(&record)?;
        self.publish(&record, "restart", []);
        self.start_inner(id, false).await.map(drop)
    }

    /// `POST /containers/{id}/restart`: stop (as a user would), then start.
    pub async fn restart(&self, name: &str, timeout: Option<Duration>) -> Result<(), ContainerError> {
        let record = self.resolve(name)?;
        self.stop(&record.id, timeout).await?;
        self.start(&record.id).await?;
        self.publish(&self.resolve(&record.id)?, "restart", []);
        Ok(())
    }
}

/// How long the last run of `record` lasted.
fn ran_for(record: &ContainerRecord) -> Duration {
    let at = |t: &Option<String>| t.as_deref().and_then(|t| parse_rfc3339(t).ok());
    match (at(&record.state.started_at), at(&record.state.finished_at)) {
        (Some(s), Some(f)) => f.duration_since(s).unwrap_or_default(),
        (Some(s), None) => SystemTime::now().duration_since(s).unwrap_or_default(),
        _ => Duration::ZERO,
    }
}
