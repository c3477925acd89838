//! Executing a network driver's plan: check every step against the grants, perform the
//! steps in order, and undo what was done if one fails.
//!
//! [`NetworkPlugin::execute`] is what the daemon calls with the plan a driver answered
//! (`create-network`, `join`, `program-external-connectivity`, …) and, for steps inside a
//! container, the sandbox: the container's netns file. First [`check`] refuses the whole
//! plan, before anything is done, if one step is not granted or malformed. Then the
//! steps run through [`NetOps`] (the kernel, [`KernelNet`], or the [`Recorder`] fake in
//! tests) and the [`PortPublisher`]; on the first failure the steps already done are
//! undone in reverse order:
//!
//! | done | undone by |
//! | --- | --- |
//! | create-link | deleting the link (a veth pair goes whole) |
//! | set-master | `nomaster` |
//! | move-to-sandbox | moving it back to the host under its old name |
//! | add-address, add-route | deleting it |
//! | publish-port | unpublishing it |
//! | link-up, delete-link, unpublish-port | nothing |
//!
//! One step pair is fused: a link created on the host that a later step moves into the
//! sandbox (a veth's peer, a macvlan), with no step in between naming it, is created in
//! the sandbox straight away, under its new name. The end state is the same, and the
//! join skips the kernel's move of a link between namespaces (10-20 ms of RCU grace
//! periods). Undone by deleting the veth's host end (its peer goes too), or the macvlan
//! in the sandbox.
//!
//! A plan performed to tear a sandbox down ([`NetworkPlugin::execute_teardown`]: the
//! daemon destroys the container's netns right after) skips deleting a host veth whose
//! peer is a link of that sandbox: the kernel deletes the pair with the namespace, in
//! its cleanup worker and batched, where deleting it here waits 15-25 ms for RCU grace
//! periods on the container's exit path.
//!
//! Every error names the plugin, the operation and the step; a kernel failure carries
//! the kernel's reason, and a rollback that could not finish says what it left.

#[cfg(test)]
mod component_tests;
mod check;
mod ops;
#[cfg(test)]
mod real_tests;
#[cfg(test)]
mod tests;

use std::io;
use std::path::Path;

use hostctl_kernel::netlink::{Ipv4Cidr, NetlinkError, Route};

use crate::manifest::Capabilities;
use crate::network::{Netns, NetworkPlugin, Port, Step};
use crate::sandbox::{ErrorKind, PluginError};

use check::{Action, label, port_text};
pub use ops::{KernelNet, NetOps, Recorder};

/// Publishes container ports on the host (the daemon's userland proxy, say).
pub trait PortPublisher: Send + Sync {
    /// Start forwarding `port.host_ip:host_port` to `container_ip:container_port`. An
    /// address in use is `io::ErrorKind::AddrInUse`.
    fn publish(&self, port: &Port) -> io::Result<()>;
    /// Stop forwarding it; a port that is not published is fine.
    fn unpublish(&self, port: &Port);
}

impl NetworkPlugin {
    /// Check `plan` against this plugin's grants and perform it, with `sandbox` (a
    /// netns file) as the namespace of sandbox steps; undo it if a step fails. `op` names
    /// the operation in errors ("join"). Blocking: call from a blocking thread.
    pub fn execute(&self, op: &'static str, plan: &[Step], sandbox: Option<&Path>) -> Result<(), PluginError> {
        let shared = &self.shared;
        let ports = shared.ports.as_deref();
        let actions = check::check(plan, &shared.grants, sandbox.is_some(), ports.is_some())
            .map_err(|r| shared.host_error(op, r.kind, r.message))?;
        if actions.is_empty() {
            return Ok(());
        }
        let net = KernelNet::new(sandbox).map_err(|e| shared.host_error(op, ErrorKind::Io, e.to_string()))?;
        perform(&shared.name, op, plan, &actions, &net, ports, false)
    }

    /// [`NetworkPlugin::execute`] for a plan that takes an endpoint out of `sandbox`
    /// just before the caller destroys `sandbox`: a host veth whose peer lives in it is
    /// left for the kernel to delete with the namespace (see the module docs).
    pub fn execute_teardown(&self, op: &'static str, plan: &[Step], sandbox: &Path) -> Result<(), PluginError> {
        let shared = &self.shared;
        let ports = shared.ports.as_deref();
        let actions = check::check(plan, &shared.grants, true, ports.is_some()).map_err(|r| shared.host_error(op, r.kind, r.message))?;
        if actions.is_empty() {
            return Ok(());
        }
        let net = KernelNet::new(Some(sandbox)).map_err(|e| shared.host_error(op, ErrorKind::Io, e.to_string()))?;
        perform(&shared.name, op, plan, &actions, &net, ports, true)
    }
}

/// [`NetworkPlugin::execute`] without a loaded plugin: check `plan` against `grants`,
/// then perform it through `net` and `ports`.
pub fn execute_with(
    plugin: &str,
    grants: &Capabilities,
    op: &'static str,
    plan: &[Step],
    sandbox: bool,
    net: &dyn NetOps,
    ports: Option<&dyn PortPublisher>,
) -> Result<(), PluginError> {
    let actions = check::check(plan, grants, sandbox, ports.is_some())
        .map_err(|r| PluginError::Host { plugin: plugin.to_owned(), op, kind: r.kind, message: r.message })?;
    perform(plugin, op, plan, &actions, net, ports, false)
}

/// How to take back one step that was done.
#[derive(Debug)]
enum Undo {
    DeleteLink(Netns, String),
    NoMaster(String),
    MoveBack { rename: String, link: String },
    DeleteAddress(Netns, String, Ipv4Cidr),
    DeleteRoute(Netns, Route),
    Unpublish(Port),
}

/// Perform checked `actions` (one per step of `plan`) in order; undo on failure.
fn perform(
    plugin: &str,
    op: &'static str,
    plan: &[Step],
    actions: &[Action],
    net: &dyn NetOps,
    ports: Option<&dyn PortPublisher>,
    teardown: bool,
) -> Result<(), PluginError> {
    let (fused, moved) = fuse(actions);
    let mut done: Vec<Undo> = Vec::new();
    for (i, (step, action)) in plan.iter().zip(actions).enumerate() {
        if moved[i] {
            continue;
        }
        let result = match (&fused[i], action) {
            (Some(rename), Action::CreateVeth { name, mtu, .. }) => net
                .create_veth_in_sandbox(name, rename, *mtu)
                .map(|()| Some(Undo::DeleteLink(Netns::Host, name.clone())))
                .map_err(kernel_failure),
            (Some(rename), Action::CreateMacvlan { parent, mode, mtu, .. }) => net
                .create_macvlan_in_sandbox(rename, parent, *mode, *mtu)
                .map(|()| Some(Undo::DeleteLink(Netns::Sandbox, rename.clone())))
                .map_err(kernel_failure),
            (None, Action::DeleteLink { name }) if teardown && net.veth_peer_in_sandbox(name).unwrap_or(false) => {
                tracing::debug!(plugin, op, link = %name, "left to the sandbox's destruction");
                Ok(None)
            }
            _ => act(action, net, ports),
        };
        match result {
            Ok(undo) => done.extend(undo),
            Err((kind, reason)) => {
                let fused_peer = match (&fused[i], action) {
                    (Some(r), Action::CreateVeth { .. }) => format!(" (its peer made in the sandbox as {r:?})"),
                    (Some(r), _) => format!(" (made in the sandbox as {r:?})"),
                    (None, _) => String::new(),
                };
                let mut message = format!("step {}{fused_peer}: {reason}", label(step));
                let left = rollback(done, net, ports);
                if !left.is_empty() {
                    message.push_str(&format!("; rolling back failed too, left: {}", left.join("; ")));
                }
                tracing::warn!(plugin, op, "network plan failed: {message}");
                return Err(PluginError::Host { plugin: plugin.to_owned(), op, kind, message });
            }
        }
    }
    Ok(())
}

type Failure = (ErrorKind, String);

/// Which creations make their link (a veth's peer, a macvlan) straight in the sandbox
/// (its name there, by step), and which moves that makes done already (see the module
/// docs).
fn fuse(actions: &[Action]) -> (Vec<Option<String>>, Vec<bool>) {
    let mut fused = vec![None; actions.len()];
    let mut moved = vec![false; actions.len()];
    for (i, action) in actions.iter().enumerate() {
        let mover = match action {
            Action::CreateVeth { peer, .. } => peer,
            Action::CreateMacvlan { name, .. } => name,
            _ => continue,
        };
        let Some(j) = actions[i + 1..].iter().position(|a| matches!(a, Action::MoveToSandbox { link, .. } if link == mover)).map(|j| i + 1 + j) else {
            continue;
        };
        let Action::MoveToSandbox { rename, .. } = &actions[j] else { continue };
        if actions[i + 1..j].iter().any(|a| names(a, mover, rename)) || moved[j] {
            continue;
        }
        fused[i] = Some(rename.clone());
        moved[j] = true;
    }
    (fused, moved)
}

/// Whether `action` names host link `host` or sandbox link `sandbox`.
fn names(action: &Action, host: &str, sandbox: &str) -> bool {
    let at = |netns: &Netns, link: &str| match netns {
        Netns::Host => link == host,
        Netns::Sandbox => link == sandbox,
    };
    match action {
        Action::CreateBridge { name, .. } | Action::DeleteLink { name } => name == host,
        Action::CreateVeth { name, peer, .. } => name == host || peer == host,
        Action::CreateMacvlan { name, parent, .. } => name == host || parent == host,
        Action::SetMaster { link, bridge } => link == host || bridge == host,
        Action::MoveToSandbox { link, rename } => link == host || rename == sandbox,
        Action::AddAddress { netns, link, .. } | Action::LinkUp { netns, link } => at(netns, link),
        Action::AddRoute { netns, route } => route.link.as_deref().is_some_and(|l| at(netns, l)),
        Action::PublishPort(_) | Action::UnpublishPort(_) => false,
    }
}

/// Do one action; what undoes it, if anything does.
fn act(action: &Action, net: &dyn NetOps, ports: Option<&dyn PortPublisher>) -> Result<Option<Undo>, Failure> {
    let k = kernel_failure;
    Ok(match action {
        Action::CreateBridge { name, mtu } => net.create_bridge(name, *mtu).map(|()| Some(Undo::DeleteLink(Netns::Host, name.clone()))).map_err(k)?,
        Action::CreateVeth { name, peer, mtu } => {
            net.create_veth(name, peer, *mtu).map(|()| Some(Undo::DeleteLink(Netns::Host, name.clone()))).map_err(k)?
        }
        Action::CreateMacvlan { name, parent, mode, mtu } => {
            net.create_macvlan(name, parent, *mode, *mtu).map(|()| Some(Undo::DeleteLink(Netns::Host, name.clone()))).map_err(k)?
        }
        Action::DeleteLink { name } => net.delete_link(Netns::Host, name).map(|()| None).map_err(k)?,
        Action::SetMaster { link, bridge } => net.set_master(link, Some(bridge)).map(|()| Some(Undo::NoMaster(link.clone()))).map_err(k)?,
        Action::MoveToSandbox { link, rename } => net
            .move_link(Netns::Host, link, rename)
            .map(|()| Some(Undo::MoveBack { rename: rename.clone(), link: link.clone() }))
            .map_err(k)?,
        Action::AddAddress { netns, link, cidr } => {
            net.add_address(*netns, link, *cidr).map(|()| Some(Undo::DeleteAddress(*netns, link.clone(), *cidr))).map_err(k)?
        }
        Action::LinkUp { netns, link } => net.set_up(*netns, link).map(|()| None).map_err(k)?,
        Action::AddRoute { netns, route } => net.add_route(*netns, route).map(|()| Some(Undo::DeleteRoute(*netns, route.clone()))).map_err(k)?,
        Action::PublishPort(port) => {
            let publisher = ports.ok_or((ErrorKind::Other, "no port publisher".to_owned()))?;
            publisher.publish(port).map_err(|e| {
                let kind = if e.kind() == io::ErrorKind::AddrInUse { ErrorKind::InvalidArgument } else { ErrorKind::Io };
                (kind, e.to_string())
            })?;
            Some(Undo::Unpublish(port.clone()))
        }
        Action::UnpublishPort(port) => {
            if let Some(publisher) = ports {
                publisher.unpublish(port);
            }
            None
        }
    })
}

/// Undo `done` in reverse; what could not be undone, described.
fn rollback(done: Vec<Undo>, net: &dyn NetOps, ports: Option<&dyn PortPublisher>) -> Vec<String> {
    let mut left = Vec::new();
    for undo in done.into_iter().rev() {
        let (what, result) = match &undo {
            Undo::DeleteLink(netns, name) => {
                let place = if *netns == Netns::Sandbox { " in the sandbox" } else { "" };
                (format!("link {name:?}{place}"), net.delete_link(*netns, name))
            }
            Undo::NoMaster(link) => (format!("{link:?} on its bridge"), net.set_master(link, None)),
            Undo::MoveBack { rename, link } => (format!("{rename:?} in the sandbox"), net.move_link(Netns::Sandbox, rename, link)),
            Undo::DeleteAddress(netns, link, cidr) => (format!("address {cidr} on {link:?}"), net.delete_address(*netns, link, *cidr)),
            Undo::DeleteRoute(netns, route) => (format!("route {route}"), net.delete_route(*netns, route)),
            Undo::Unpublish(port) => {
                if let Some(p) = ports {
                    p.unpublish(port);
                }
                (format!("port {}", port_text(port)), Ok(()))
            }
        };
        if let Err(e) = result {
            tracing::warn!("rolling back a network plan: {what}: {e}");
            left.push(format!("{what} ({})", reason(&e)));
        }
    }
    left
}

/// What a kernel failure means for the caller: an object that exists already is the
/// caller's to fix (an address or name in use); anything else is an I/O failure.
fn kernel_failure(e: NetlinkError) -> Failure {
    let kind = match &e {
        NetlinkError::Invalid { .. } => ErrorKind::InvalidArgument,
        e if e.is_exists() => ErrorKind::InvalidArgument,
        _ => ErrorKind::Io,
    };
    (kind, reason(&e))
}

/// The kernel's reason, without the operation (the step names it) or the errno number.
fn reason(e: &NetlinkError) -> String {
    match e {
        NetlinkError::Kernel { source, .. } => {
            let text = source.to_string();
            let text = text.find(" (os error").map_or(text.as_str(), |at| &text[..at]);
            let mut chars = text.chars();
            chars.next().map(|c| c.to_lowercase().chain(chars).collect()).unwrap_or_default()
        }
        other => other.to_string(),
    }
}
