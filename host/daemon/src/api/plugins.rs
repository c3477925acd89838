//! `GET /plugins`: the loaded plugins and the ones that failed to load.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use hostctl_api::types::PluginSummary;

use crate::daemon::Daemon;

fn names<T: serde::Serialize>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items
        .into_iter()
        .map(|i| serde_json::to_value(i).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default())
        .collect()
}

pub async fn list(State(daemon): State<Arc<Daemon>>) -> Json<Vec<PluginSummary>> {
    let mut out: Vec<PluginSummary> = daemon
        .registry
        .plugins()
        .iter()
        .map(|p| PluginSummary {
            name: p.name.clone(),
            kind: p.kind.to_string(),
            version: p.version.clone(),
            description: p.description.clone(),
            enabled: true,
            sha256: p.sha256.clone(),
            capabilities: BTreeMap::from([
                ("files".to_owned(), names(&p.capabilities.files)),
                ("mounts".to_owned(), names(&p.capabilities.mounts)),
            ]),
            origin: serde_json::to_value(p.origin).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default(),
            load_time_ms: p.load_time.as_secs_f64() * 1e3,
            error: None,
        })
        .collect();
    for failure in daemon.registry.failures() {
        out.push(PluginSummary {
            name: failure.dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            kind: String::new(),
            version: String::new(),
            description: String::new(),
            enabled: false,
            sha256: String::new(),
            capabilities: BTreeMap::new(),
            origin: String::new(),
            load_time_ms: 0.0,
            error: Some(failure.error.to_string()),
        });
    }
    Json(out)
}
