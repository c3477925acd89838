//! Watching a daemon from a test: a running `hostctl events …` whose output lines are
//! read on a thread, and the daemon's log lines a test may wait for.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::daemon::{TestDaemon, hostctl_bin};
use crate::nats::NatsServer;

/// How long a test waits for an event, a log line or an exit.
pub const WAIT: Duration = Duration::from_secs(15);

/// How often `needle` appears in the daemon's log so far.
pub fn log_count(daemon: &TestDaemon, needle: &str) -> usize {
    daemon.log().matches(needle).count()
}

/// Wait until `needle` appears `count` times in the daemon's log.
pub fn wait_for_log(daemon: &TestDaemon, needle: &str, count: usize) {
    let deadline = Instant::now() + WAIT;
    while log_count(daemon, needle) < count {
        assert!(Instant::now() < deadline, "no {count}×{needle:?} in the daemon log within {WAIT:?}:\n{}", daemon.log());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running `hostctl events …`, its stdout lines read on a thread.
pub struct Watch {
    child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl Watch {
    /// `hostctl -H <daemon> events <args>`, returned once the daemon has subscribed it.
    pub fn on(daemon: &TestDaemon, args: &[&str]) -> Watch {
        let attached = log_count(daemon, "events: subscriber attached");
        let watch = Watch::spawn(&["-H", &daemon.host(), "events"], args);
        wait_for_log(daemon, "events: subscriber attached", attached + 1);
        watch
    }

    /// `hostctl events --nats <url> <args>`, returned once it has subscribed.
    pub fn on_nats(server: &NatsServer, args: &[&str]) -> Watch {
        let before = server.subscriptions();
        let watch = Watch::spawn(&["events", "--nats", &server.url()], args);
        server.wait_for_subscriptions(before + 1, WAIT);
        watch
    }

    pub fn spawn(head: &[&str], args: &[&str]) -> Watch {
        let mut child = Command::new(hostctl_bin())
            .args(head)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting hostctl events");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Watch { child, lines }
    }

    pub fn line(&self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|_| panic!("no event line within {WAIT:?}"))
    }

    pub fn event(&self) -> Value {
        let line = self.line();
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not an event: {line:?}: {e}"))
    }

    /// (Action, the image's name) of the next `n` events.
    pub fn actions(&self, n: usize) -> Vec<(String, String)> {
        (0..n)
            .map(|_| {
                let e = self.event();
                (e["Action"].as_str().unwrap().to_owned(), e["Actor"]["Attributes"]["name"].as_str().unwrap_or("").to_owned())
            })
            .collect()
    }

    /// SIGKILL: the reader goes away without a word.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
    }

    /// SIGINT, as Ctrl-C sends it; the exit status.
    pub fn interrupt(&mut self) -> ExitStatus {
        let _ = Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status();
        self.wait()
    }

    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "hostctl events did not exit within {WAIT:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

