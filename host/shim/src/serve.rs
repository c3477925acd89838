//! The shim's loop, one poll(2) over everything it watches: the container's stdout and
//! stderr pipes (into `container.log`; a partial line is written once the pipe is
//! drained, see [`crate::log`]), a pidfd of its init (readable when it exits),
//! `shim.sock` and its clients (one JSON request per line, see [`crate::protocol`]).
//!
//! When the init exits: the exit code is its status or 128 + the signal; the pipes are
//! drained (in a pid namespace every other process died with the init, so they end);
//! `oom_killed` comes from the memory cgroup; `exit.json` is written durably; every
//! waiter is answered, and so is whatever pending connection already asked `state` or
//! `wait`; the cgroup, `shim.sock` and `shim.pid` are removed; the shim exits. A client
//! that connects in that last moment sees the connection end unanswered and reads
//! `exit.json`, as the daemon does.
//!
//! A client that sends a line longer than 64 KiB, or does not read its answers (a write
//! would block), is disconnected: the shim never waits on one client.

use std::io::{ErrorKind, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};

use hostctl_kernel::cgroups::Cgroup;
use hostctl_kernel::container::{self, sys};
use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, WaitOptions, WaitStatus};

use crate::bundle::Bundle;
use crate::log::{JsonLog, Stream};
use crate::protocol::{ExitInfo, Request, Response, Started};
use crate::supervisor::{ShimLog, write_durably};

const MAX_REQUEST: usize = 64 * 1024;

/// Reads of one pipe per poll round (64 KiB each), so a flood of output cannot starve
/// the socket.
const MAX_READS: usize = 16;

/// A started container and what the shim holds for it.
#[derive(Debug)]
pub struct Running {
    bundle: Bundle,
    pid: i32,
    pidfd: OwnedFd,
    started_at: String,
    cgroup: Cgroup,
    /// stdout, stderr read ends; `None` once at EOF.
    pipes: [Option<OwnedFd>; 2],
    log: JsonLog,
    listener: Option<UnixListener>,
    clients: Vec<Client>,
    /// Without its own pid namespace the container's orphans are re-parented to the
    /// shim (a subreaper) and must be reaped: poll wakes up every second for them.
    reap_orphans: bool,
    /// Set once the init has exited (answers given while the shim winds down).
    exited: Option<ExitInfo>,
}

#[derive(Debug)]
struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    waiting: bool,
    closed: bool,
}

/// What a poll round saw.
enum Ready {
    Exited,
    Pipe(usize),
    Accept,
    Client(usize),
}

impl Running {
    pub(crate) fn new(
        bundle: Bundle,
        started: container::Started,
        started_at: String,
        cgroup: Cgroup,
        pipes: [OwnedFd; 2],
        log: JsonLog,
        reap_orphans: bool,
    ) -> Running {
        let [out, err] = pipes;
        Running {
            bundle,
            pid: started.pid,
            pidfd: started.pidfd,
            started_at,
            cgroup,
            pipes: [Some(out), Some(err)],
            log,
            listener: None,
            clients: Vec::new(),
            reap_orphans,
            exited: None,
        }
    }

    pub(crate) fn listening(mut self, listener: UnixListener) -> Running {
        self.listener = Some(listener);
        self
    }

    pub(crate) fn started(&self) -> Started {
        Started { pid: self.pid, shim_pid: std::process::id() as i32, started_at: self.started_at.clone() }
    }

    /// Start went wrong after the exec (the socket could not be bound): end it.
    pub(crate) fn kill_and_reap(&self) {
        let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        let _ = rustix::process::waitpid(Pid::from_raw(self.pid), WaitOptions::empty());
    }

    /// Serve until the container exits; the shim's exit code.
    pub fn serve(mut self, log: &ShimLog) -> i32 {
        loop {
            let ready = match self.poll() {
                Ok(ready) => ready,
                Err(e) => {
                    log.line(format_args!("poll: {e}"));
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    continue;
                }
            };
            if let Some(status) = self.reap() {
                self.exit(status, log);
                return 0;
            }
            for event in ready {
                match event {
                    Ready::Exited => {} // reaped above
                    Ready::Pipe(i) => self.read_output(i, log),
                    Ready::Accept => self.accept(),
                    Ready::Client(i) => self.read_client(i),
                }
            }
            self.clients.retain(|c| !c.closed);
        }
    }

    fn poll(&mut self) -> std::io::Result<Vec<Ready>> {
        let input = PollFlags::IN;
        let mut fds = vec![PollFd::new(&self.pidfd, input)];
        let mut kinds = vec![Ready::Exited];
        for (i, pipe) in self.pipes.iter().enumerate() {
            if let Some(pipe) = pipe {
                fds.push(PollFd::new(pipe, input));
                kinds.push(Ready::Pipe(i));
            }
        }
        if let Some(listener) = &self.listener {
            fds.push(PollFd::new(listener, input));
            kinds.push(Ready::Accept);
        }
        for (i, client) in self.clients.iter().enumerate() {
            fds.push(PollFd::new(&client.stream, input));
            kinds.push(Ready::Client(i));
        }
        let timeout = rustix::event::Timespec { tv_sec: 1, tv_nsec: 0 };
        match rustix::event::poll(&mut fds, self.reap_orphans.then_some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        let ready: Vec<bool> = fds.iter().map(|fd| !fd.revents().is_empty()).collect();
        Ok(kinds.into_iter().zip(ready).filter(|(_, ready)| *ready).map(|(kind, _)| kind).collect())
    }

    /// Reap exited children; the init's status once it has exited.
    fn reap(&mut self) -> Option<WaitStatus> {
        let mut init = None;
        // wait(2) for any child (-1), not only those of the shim's process group.
        while let Ok(Some((pid, status))) = rustix::process::wait(WaitOptions::NOHANG) {
            if pid.as_raw_nonzero().get() == self.pid {
                init = Some(status);
            }
        }
        init
    }

    /// Read once from pipe `i` into the log; false when nothing more is to be had now
    /// (would block, or the pipe ended).
    fn read_pipe(&mut self, i: usize, log: &ShimLog) -> bool {
        let stream = if i == 0 { Stream::Stdout } else { Stream::Stderr };
        let Some(pipe) = &self.pipes[i] else { return false };
        let mut buf = [0u8; 64 * 1024];
        match rustix::io::read(pipe, &mut buf) {
            Ok(0) => {
                self.pipes[i] = None;
                let _ = self.log.finish(stream, &crate::time::now());
                false
            }
            Ok(n) => {
                if let Err(e) = self.log.feed(stream, &buf[..n], &crate::time::now()) {
                    log.line(format_args!("writing container.log: {e}"));
                }
                true
            }
            Err(rustix::io::Errno::INTR) => true,
            Err(rustix::io::Errno::AGAIN) => false,
            Err(e) => {
                log.line(format_args!("reading the container's {stream:?}: {e}"));
                self.pipes[i] = None;
                false
            }
        }
    }

    /// Read what pipe `i` holds, up to [`MAX_READS`] reads; once it is drained, write
    /// its partial line (a prompt, a progress dot) to the log rather than hold it until
    /// its newline. A container that writes faster than the shim reads leaves the pipe
    /// full: the next poll round serves the socket before reading on.
    fn read_output(&mut self, i: usize, log: &ShimLog) {
        for _ in 0..MAX_READS {
            if !self.read_pipe(i, log) {
                let stream = if i == 0 { Stream::Stdout } else { Stream::Stderr };
                if let Err(e) = self.log.flush(stream, &crate::time::now()) {
                    log.line(format_args!("writing container.log: {e}"));
                }
                return;
            }
        }
    }

    /// Read what is left in the pipes, without waiting for writers that may outlive the
    /// init (possible only without a pid namespace), and end both streams.
    fn drain(&mut self, log: &ShimLog) {
        for (i, stream) in [Stream::Stdout, Stream::Stderr].into_iter().enumerate() {
            while self.read_pipe(i, log) {}
            let _ = self.log.finish(stream, &crate::time::now());
            self.pipes[i] = None;
        }
    }

    fn accept(&mut self) {
        let Some(listener) = &self.listener else { return };
        while let Ok((stream, _)) = listener.accept() {
            if stream.set_nonblocking(true).is_ok() {
                self.clients.push(Client { stream, buf: Vec::new(), waiting: false, closed: false });
            }
        }
    }

    fn read_client(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        let client = &mut self.clients[i];
        match client.stream.read(&mut buf) {
            Ok(0) => client.closed = true,
            Ok(n) => client.buf.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => return,
            Err(_) => client.closed = true,
        }
        while let Some(end) = self.clients[i].buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.clients[i].buf.drain(..=end).collect();
            let response = match serde_json::from_slice::<Request>(&line) {
                Ok(request) => self.answer(i, request),
                Err(e) => Some(Response::Error { message: format!("bad request: {e}") }),
            };
            if let Some(response) = response {
                respond(&mut self.clients[i], &response);
            }
        }
        if self.clients[i].buf.len() > MAX_REQUEST {
            self.clients[i].closed = true;
        }
    }

    /// The answer to `request` from client `i`; `None` for a wait (answered at exit).
    fn answer(&mut self, i: usize, request: Request) -> Option<Response> {
        if let Some(info) = &self.exited {
            return Some(match request {
                Request::Kill { .. } => Response::Error { message: "the container is not running".into() },
                Request::State | Request::Wait => Response::Exited(info.clone()),
            });
        }
        Some(match request {
            Request::State => Response::Running { pid: self.pid, started_at: self.started_at.clone() },
            Request::Wait => {
                self.clients[i].waiting = true;
                return None;
            }
            Request::Kill { signal } if !(1..=64).contains(&signal) => {
                Response::Error { message: format!("invalid signal {signal}") }
            }
            Request::Kill { signal } => match sys::pidfd_send_signal(self.pidfd.as_fd(), signal) {
                Ok(()) => Response::Ok,
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {
                    Response::Error { message: "the container is not running".into() }
                }
                Err(e) => Response::Error { message: format!("kill: {e}") },
            },
        })
    }

    /// The init has exited: record it, tell the waiters, clean up.
    fn exit(mut self, status: WaitStatus, log: &ShimLog) {
        let finished_at = crate::time::now();
        let signal = status.terminating_signal();
        let exit_code = signal.map_or_else(|| status.exit_status().unwrap_or(255), |s| 128 + s);
        self.drain(log);
        let info = ExitInfo {
            exit_code,
            signal,
            oom_killed: self.cgroup.oom_kills() > 0,
            started_at: self.started_at.clone(),
            finished_at,
        };
        let json = serde_json::to_vec(&info).expect("exit info serializes");
        if let Err(e) = write_durably(self.bundle.dir(), "exit.json", &json) {
            log.line(format_args!("writing exit.json: {e}"));
        }
        let exited = Response::Exited(info.clone());
        for client in self.clients.iter_mut().filter(|c| c.waiting) {
            respond(client, &exited);
        }
        // Clients that connected or asked just now (state, wait) get the exit too.
        self.exited = Some(info);
        self.accept();
        for i in 0..self.clients.len() {
            self.read_client(i);
        }
        if let Err(e) = self.cgroup.remove() {
            log.line(format_args!("removing the cgroup: {e}"));
        }
        let _ = std::fs::remove_file(self.bundle.socket());
        let _ = std::fs::remove_file(self.bundle.shim_pid());
    }
}

fn respond(client: &mut Client, response: &Response) {
    let mut line = serde_json::to_vec(response).expect("responses serialize");
    line.push(b'\n');
    if client.stream.write_all(&line).is_err() {
        client.closed = true;
    }
}
