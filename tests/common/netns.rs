//! A real network partition for the tests: a network namespace joined to this one by a
//! veth pair, whose link the test takes down and up (see [`Partition::link_down`]).
//! Unlike the proxy's blackhole, the kernel itself stops delivering packets: the client
//! sees no FIN and no RST, only silence, and TCP retransmits until the link is back.
//!
//! ```ignore
//! let part = Partition::new()?;                       // needs root and `ip`
//! let proxy = Proxy::start_on(part.listen()?, broker); // listens inside, on the veth
//! let client = Client::connect(Config::new(&proxy.url("tcp", "")))?;
//! part.link_down()?;                                   // silence
//! part.link_up()?;                                     // the same connections go on
//! ```
//!
//! The client connects from this (the root) namespace across the veth to the proxy
//! listening inside; the proxy's own connection to the broker is made from this
//! namespace, over 127.0.0.1.
//!
//! Names and addresses: the namespace is `stompws-<pid>-<n>`; the veth ends are
//! `swh<slot>` (here) and `swi<slot>` (inside), with 169.254.<x>.<4y+1>/30 here and
//! .<4y+2> inside, where slot = 64·(x − 1) + y. A slot is claimed by creating its veth,
//! which fails if another test (or process) holds it; then the next slot is tried.
//! Namespaces left by a process that no longer runs are deleted on the way.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and iproute2; without them
//! [`Partition::new`] returns an error saying why, and [`Partition::require`] fails the
//! test under `STOMPWS_REQUIRE_BROKERS=1`, as [`require!`](crate::require) does.
#![cfg(target_os = "linux")]
#![allow(dead_code)]

use std::fs::File;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::os::fd::AsRawFd;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// /30 subnets of 169.254.0.0/16, leaving out 169.254.0.0/24 and 169.254.255.0/24,
/// which RFC 3927 reserves.
const SLOTS: usize = 254 * 64;

/// How many slots [`Partition::new`] tries before it gives up.
const SLOT_TRIES: usize = 256;

/// A network namespace with a veth link to this namespace; dropping it deletes both.
pub struct Partition {
    name: String,
    host_dev: String,
    inner_dev: String,
    host_ip: Ipv4Addr,
    inner_ip: Ipv4Addr,
    /// What was created, so that `Drop` (also of a half-built one) removes just that.
    have_ns: bool,
    have_link: bool,
}

/// Runs `ip ARGS`; Ok(stdout), or an error with the command and its stderr.
fn ip(args: &[&str]) -> io::Result<String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| io::Error::new(e.kind(), format!("cannot run `ip` (iproute2): {e}")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let kind = if stderr.contains("File exists") {
            io::ErrorKind::AlreadyExists
        } else if stderr.contains("Operation not permitted") || stderr.contains("Permission") {
            io::ErrorKind::PermissionDenied
        } else {
            io::ErrorKind::Other
        };
        Err(io::Error::new(
            kind,
            format!("`ip {}`: {}: {}", args.join(" "), out.status, stderr.trim()),
        ))
    }
}

/// Deletes `stompws-<pid>-<n>` namespaces whose process is gone (a test that crashed or
/// was killed before its `Drop`). Best effort: another process may be doing the same.
fn delete_stale() {
    let Ok(list) = ip(&["netns", "list"]) else {
        return;
    };
    for line in list.lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let Some(rest) = name.strip_prefix("stompws-") else {
            continue;
        };
        let Some(pid) = rest.split('-').next().and_then(|p| p.parse::<u32>().ok()) else {
            continue;
        };
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            // Deleting the namespace destroys its veth end, and with it the pair.
            let _ = ip(&["netns", "delete", name]);
        }
    }
}

impl Partition {
    /// Creates the namespace and the veth pair, addresses both ends, and brings them
    /// (and `lo` inside) up. Needs root; the error says what failed.
    pub fn new() -> io::Result<Partition> {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() as usize;
        delete_stale();

        let mut p = Partition {
            name: format!("stompws-{pid}-{n}"),
            host_dev: String::new(),
            inner_dev: String::new(),
            host_ip: Ipv4Addr::UNSPECIFIED,
            inner_ip: Ipv4Addr::UNSPECIFIED,
            have_ns: false,
            have_link: false,
        };
        ip(&["netns", "add", &p.name])?;
        p.have_ns = true;

        // Spread processes (pid) and the partitions of one process (n) over the slots.
        let first = pid.wrapping_mul(131).wrapping_add(n.wrapping_mul(7919)) % SLOTS;
        let mut last_err = None;
        for k in 0..SLOT_TRIES {
            let slot = (first + k) % SLOTS;
            let (host_dev, inner_dev) = (format!("swh{slot}"), format!("swi{slot}"));
            match ip(&[
                "link", "add", &host_dev, "type", "veth", "peer", "name", &inner_dev, "netns",
                &p.name,
            ]) {
                Ok(_) => {
                    let (x, y) = ((slot / 64 + 1) as u8, (slot % 64 * 4) as u8);
                    p.host_dev = host_dev;
                    p.inner_dev = inner_dev;
                    p.host_ip = Ipv4Addr::new(169, 254, x, y + 1);
                    p.inner_ip = Ipv4Addr::new(169, 254, x, y + 2);
                    p.have_link = true;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last_err = Some(e),
                Err(e) => return Err(e),
            }
        }
        if !p.have_link {
            return Err(last_err.unwrap_or_else(|| io::Error::other("no free veth slot")));
        }

        let host = format!("{}/30", p.host_ip);
        let inner = format!("{}/30", p.inner_ip);
        ip(&["addr", "add", &host, "dev", &p.host_dev])?;
        ip(&["link", "set", &p.host_dev, "up"])?;
        ip(&["-n", &p.name, "addr", "add", &inner, "dev", &p.inner_dev])?;
        ip(&["-n", &p.name, "link", "set", &p.inner_dev, "up"])?;
        ip(&["-n", &p.name, "link", "set", "lo", "up"])?;
        Ok(p)
    }

    /// Like [`new`](Partition::new), for a test: when the partition cannot be made,
    /// panics under `STOMPWS_REQUIRE_BROKERS=1`, otherwise prints
    /// `skipping: network partition unavailable (...)` to stderr and returns `None`.
    #[track_caller]
    pub fn require() -> Option<Partition> {
        match Partition::new() {
            Ok(p) => Some(p),
            Err(e) if super::brokers_required() => panic!(
                "STOMPWS_REQUIRE_BROKERS=1 but a network partition cannot be made: {e} \
                 (needs root and iproute2)"
            ),
            Err(e) => {
                eprintln!("skipping: network partition unavailable ({e})");
                None
            }
        }
    }

    /// The namespace's name (`ip netns exec NAME ...`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The veth end in this namespace.
    pub fn host_dev(&self) -> &str {
        &self.host_dev
    }

    /// The address of the veth end in this namespace.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The address of the veth end inside the namespace, where [`listen`] binds.
    ///
    /// [`listen`]: Partition::listen
    pub fn inner_ip(&self) -> Ipv4Addr {
        self.inner_ip
    }

    /// A listener inside the namespace on [`inner_ip`](Partition::inner_ip) and a free
    /// port, reachable from this namespace across the veth. The socket is created by a
    /// short-lived thread that first enters the namespace (setns); a socket belongs to
    /// the namespace it was created in, so the listener and the connections it accepts
    /// stay there while everything else in the process stays here.
    pub fn listen(&self) -> io::Result<TcpListener> {
        let path = format!("/var/run/netns/{}", self.name);
        let addr = SocketAddr::from((self.inner_ip, 0));
        std::thread::spawn(move || -> io::Result<TcpListener> {
            let ns = File::open(&path)
                .map_err(|e| io::Error::new(e.kind(), format!("open {path}: {e}")))?;
            // SAFETY: a valid descriptor of a network namespace file; setns changes only
            // the namespace of this thread, which ends right after the bind.
            if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                let e = io::Error::last_os_error();
                return Err(io::Error::new(e.kind(), format!("setns({path}): {e}")));
            }
            TcpListener::bind(addr)
        })
        .join()
        .map_err(|_| io::Error::other("the setns thread panicked"))?
    }

    /// Cuts the link: from then on no packet crosses it in either direction (no FIN, no
    /// RST; TCP retransmits into the void, and an open connection sees only silence).
    ///
    /// It takes the veth end *inside* the namespace down, not the one here: taking this
    /// end down would remove its route to [`inner_ip`](Partition::inner_ip), and the
    /// packets would then follow the default route out of the machine. With the inner
    /// end down, this end only loses its carrier and keeps the route (marked
    /// `linkdown`), and the veth drops what is sent into it. A new connection to the
    /// inner address then fails after ARP gives up (EHOSTUNREACH after about 3 s).
    /// Checks that the route still goes through the veth, and if not, restores the link
    /// and returns an error.
    pub fn link_down(&self) -> io::Result<()> {
        ip(&["-n", &self.name, "link", "set", &self.inner_dev, "down"])?;
        let inner = self.inner_ip.to_string();
        let route = ip(&["route", "get", &inner])?;
        if !route.split_whitespace().any(|w| w == self.host_dev) {
            let _ = self.link_up();
            return Err(io::Error::other(format!(
                "with the link down, {inner} would leave through another device: {}",
                route.trim()
            )));
        }
        Ok(())
    }

    /// Brings the link back up: connections that were open across it go on (after TCP's
    /// next retransmission).
    pub fn link_up(&self) -> io::Result<()> {
        ip(&["-n", &self.name, "link", "set", &self.inner_dev, "up"]).map(drop)
    }
}

impl Drop for Partition {
    /// Deletes the veth pair, then the namespace. Deleting the link first matters: a
    /// socket still open inside keeps the namespace (and a veth end in it) alive after
    /// `ip netns delete`, which only removes its name.
    fn drop(&mut self) {
        if self.have_link {
            if let Err(e) = ip(&["link", "delete", &self.host_dev]) {
                eprintln!("netns: cannot delete {}: {e}", self.host_dev);
            }
        }
        if self.have_ns {
            if let Err(e) = ip(&["netns", "delete", &self.name]) {
                eprintln!("netns: cannot delete namespace {}: {e}", self.name);
            }
        }
    }
}
