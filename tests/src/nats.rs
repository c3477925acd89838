//! A real NATS server per test: Debian's `nats-server` (`scripts/deps` installs it) on a
//! free loopback port, started and waited for until it accepts, killed by pid when the
//! value is dropped. [`Subscription`] reads what arrives on a subject, blocking with a
//! timeout, through async-nats (the client the daemon publishes with).
//!
//! ```no_run
//! # use hostctl_tests::nats::NatsServer;
//! # use std::time::Duration;
//! let nats = NatsServer::start();
//! let mut dies = nats.subscribe("hostctl.events.*.container.die");
//! // ... configure a daemon with `[events.nats] url = "{nats.url()}"`, run a container ...
//! let messages = dies.collect(1, Duration::from_secs(10));
//! assert_eq!(messages[0].json()["Actor"]["Attributes"]["exitCode"], "0");
//! ```

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::StreamExt;

/// A running `nats-server`.
pub struct NatsServer {
    child: Child,
    port: u16,
    monitor_port: u16,
}

impl NatsServer {
    /// A server on a free loopback port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    /// A server on `port` (say, one a daemon was configured with before it existed).
    pub fn start_on(port: u16) -> Self {
        let monitor_port = free_port();
        let child = Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-m", &monitor_port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting nats-server: {e}; install it with scripts/deps (Debian's nats-server)"));
        let mut server = NatsServer { child, port, monitor_port };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = server.child.try_wait().expect("polling nats-server") {
                panic!("nats-server on port {port} exited with {status} (port taken?)");
            }
            if accepts(port) && server.monitor("/varz").is_some() {
                return server;
            }
            assert!(Instant::now() < deadline, "nats-server did not accept on 127.0.0.1:{port} within 10s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        url_for(self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Subscribe to `subject` (wildcards allowed); returns once the server has the
    /// subscription, so nothing published after this is missed.
    pub fn subscribe(&self, subject: &str) -> Subscription {
        Subscription::new(&self.url(), subject)
    }

    /// How many subscriptions the server holds (of every client): to wait until another
    /// process (`hostctl events --nats`) has subscribed.
    pub fn subscriptions(&self) -> u64 {
        let body = self.monitor("/subsz").unwrap_or_default();
        let value: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        value["num_subscriptions"].as_u64().unwrap_or(0)
    }

    /// Wait until the server holds at least `count` subscriptions.
    pub fn wait_for_subscriptions(&self, count: u64, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.subscriptions() < count {
            assert!(Instant::now() < deadline, "nats-server has {} subscriptions after {timeout:?}, expected {count}", self.subscriptions());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// GET `path` from the server's monitoring port; the body.
    fn monitor(&self, path: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.monitor_port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let (head, body) = response.split_once("\r\n\r\n")?;
        head.starts_with("HTTP/1.").then(|| body.to_owned())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // Child::kill signals this child's pid (SIGKILL), nothing else.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nats://127.0.0.1:<port>`.
pub fn url_for(port: u16) -> String {
    format!("nats://127.0.0.1:{port}")
}

/// A loopback port nothing listens on (just now).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("binding a free loopback port").port()
}

/// The server has sent its INFO line on `port`.
fn accepts(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut greeting = [0u8; 5];
    stream.read_exact(&mut greeting).is_ok() && &greeting == b"INFO "
}

/// One message as it arrived.
#[derive(Debug, Clone)]
pub struct Message {
    pub subject: String,
    pub payload: Vec<u8>,
    pub headers: BTreeMap<String, String>,
}

impl Message {
    /// The payload as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.payload).unwrap_or_else(|e| panic!("message on {}: not JSON: {e}", self.subject))
    }
}

/// A subscription, read blocking.
pub struct Subscription {
    runtime: tokio::runtime::Runtime,
    _client: async_nats::Client,
    subscriber: async_nats::Subscriber,
}

impl Subscription {
    /// Subscribe to `subject` at `url`; returns once the server has the subscription.
    pub fn new(url: &str, subject: &str) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime for the NATS client");
        let (client, subscriber) = runtime.block_on(async {
            let client = async_nats::connect(url).await.unwrap_or_else(|e| panic!("connecting to {url}: {e}"));
            let subscriber = client.subscribe(subject.to_owned()).await.unwrap_or_else(|e| panic!("subscribing to {subject}: {e}"));
            client.flush().await.unwrap_or_else(|e| panic!("flushing the subscription to {subject}: {e}"));
            (client, subscriber)
        });
        Subscription { runtime, _client: client, subscriber }
    }

    /// The next message, if one arrives within `timeout`.
    pub fn next(&mut self, timeout: Duration) -> Option<Message> {
        let subscriber = &mut self.subscriber;
        let message = self.runtime.block_on(async { tokio::time::timeout(timeout, subscriber.next()).await.ok().flatten() })?;
        let headers = message
            .headers
            .iter()
            .flat_map(|h| h.iter().map(|(k, v)| (k.to_string(), v.first().map(|v| v.as_str().to_owned()).unwrap_or_default())))
            .collect();
        Some(Message { subject: message.subject.to_string(), payload: message.payload.to_vec(), headers })
    }

    /// Up to `count` messages, waiting at most `timeout` in all.
    pub fn collect(&mut self, count: usize, timeout: Duration) -> Vec<Message> {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        while messages.len() < count {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(message) => messages.push(message),
                None => break,
            }
        }
        messages
    }

    /// Messages until one satisfies `done` (included), waiting at most `timeout` in all;
    /// `None` if none did.
    pub fn until(&mut self, timeout: Duration, mut done: impl FnMut(&Message) -> bool) -> Option<Vec<Message>> {
        let deadline = Instant::now() + timeout;
        let mut messages = Vec::new();
        loop {
            let message = self.next(deadline.saturating_duration_since(Instant::now()))?;
            let last = done(&message);
            messages.push(message);
            if last {
                return Some(messages);
            }
        }
    }
}
