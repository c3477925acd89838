//! Networks on the wire (Docker's Engine API shapes) and the client's network calls.

use std::collections::BTreeMap;

use hyper::Method;
use serde::{Deserialize, Serialize};

use crate::client::{Client, empty, segment};
use crate::error::ApiError;

/// One IPAM pool of a network (`IPAM.Config[]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", rename = "IPRange")]
    pub ip_range: Option<String>,
}

/// `IPAM`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    #[serde(default)]
    pub driver: String,
    #[serde(default)]
    pub config: Vec<IpamConfig>,
}

/// `POST /networks/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreate {
    pub name: String,
    #[serde(default)]
    pub driver: String,
    #[serde(default, rename = "IPAM")]
    pub ipam: Ipam,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `POST /networks/create`'s answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkCreated {
    pub id: String,
    #[serde(default)]
    pub warning: String,
}

/// A container on a network (`Containers` of a network's inspect document).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    pub name: String,
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    #[serde(default)]
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
}

/// `GET /networks` and `GET /networks/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: String,
    pub driver: String,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    #[serde(default)]
    pub containers: BTreeMap<String, NetworkContainer>,
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

impl Client {
    /// `POST /networks/create`.
    pub async fn create_network(&self, request: &NetworkCreate) -> Result<NetworkCreated, ApiError> {
        self.post_json("/networks/create", serde_json::to_vec(request).expect("requests serialize")).await
    }

    /// `GET /networks`.
    pub async fn networks(&self) -> Result<Vec<NetworkResource>, ApiError> {
        self.get_json("/networks").await
    }

    /// `GET /networks/{id}`.
    pub async fn inspect_network(&self, id: &str) -> Result<NetworkResource, ApiError> {
        self.get_json(&format!("/networks/{}", segment(id))).await
    }

    /// `DELETE /networks/{id}`.
    pub async fn remove_network(&self, id: &str) -> Result<(), ApiError> {
        self.send(Self::request(Method::DELETE, &format!("/networks/{}", segment(id)), empty())).await.map(drop)
    }
}
