//! `/networks`: Docker's Engine API paths for networks.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use hostctl_api::networks::{Ipam, IpamConfig, NetworkContainer, NetworkCreate, NetworkCreated, NetworkResource};

use super::Failure;
use crate::daemon::Daemon;
use crate::networks::{CreateNetwork, NetworkRecord};

/// A network as Docker's `NetworkResource`, with the containers on it now.
fn resource(daemon: &Daemon, record: NetworkRecord) -> NetworkResource {
    let containers: BTreeMap<String, NetworkContainer> = daemon
        .containers
        .on_network(&record.name)
        .unwrap_or_default()
        .into_iter()
        .map(|(id, name, ep)| {
            let container = NetworkContainer {
                name,
                endpoint_id: ep.endpoint_id,
                mac_address: ep.mac.unwrap_or_default(),
                ipv4_address: ep.address,
            };
            (id, container)
        })
        .collect();
    let config = match &record.subnet {
        Some(subnet) => vec![IpamConfig { subnet: Some(subnet.clone()), gateway: record.gateway.clone(), ip_range: record.ip_range.clone() }],
        None => Vec::new(),
    };
    NetworkResource {
        name: record.name,
        id: record.id,
        created: record.created,
        scope: "local".into(),
        driver: record.driver,
        ipam: Ipam { driver: "default".into(), config },
        containers,
        options: record.options,
        labels: record.labels,
    }
}

pub async fn create(State(daemon): State<Arc<Daemon>>, Json(body): Json<NetworkCreate>) -> Result<(StatusCode, Json<NetworkCreated>), Failure> {
    let pool = body.ipam.config.first().cloned().unwrap_or_default();
    let record = daemon
        .networks
        .create(CreateNetwork {
            name: body.name,
            driver: body.driver,
            options: body.options,
            labels: body.labels,
            subnet: pool.subnet,
            gateway: pool.gateway,
            ip_range: pool.ip_range,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(NetworkCreated { id: record.id, warning: String::new() })))
}

pub async fn list(State(daemon): State<Arc<Daemon>>) -> Result<Json<Vec<NetworkResource>>, Failure> {
    let records = daemon.networks.list()?;
    Ok(Json(records.into_iter().map(|r| resource(&daemon, r)).collect()))
}

pub async fn inspect(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<Json<NetworkResource>, Failure> {
    let record = daemon.networks.resolve(&id)?;
    Ok(Json(resource(&daemon, record)))
}

pub async fn remove(State(daemon): State<Arc<Daemon>>, Path(id): Path<String>) -> Result<StatusCode, Failure> {
    let record = daemon.networks.resolve(&id)?;
    let users = daemon.containers.users_of_network(&record.id)?;
    daemon.networks.remove(&record.id, &users).await?;
    Ok(StatusCode::NO_CONTENT)
}
