//! The 3-node RabbitMQ cluster of `tests/brokers/rabbitmq-cluster.sh`, for the tests that
//! kill and revive its nodes.
//!
//! [`Cluster::require`] takes `$STOMPWS_BROKER_DIR/rabbitmq-cluster.use.lock` (default
//! folder `/tmp/stompws-brokers`) with `flock`, so that one test process at a time uses
//! the cluster (a test that kills nodes would break any other's traffic), then starts the
//! cluster through the script unless it already runs. Dropping the [`Cluster`] stops the
//! cluster if `require` started it, and otherwise revives the nodes that [`Cluster::kill`]
//! left down, so that a cluster someone else started is handed back whole; then the lock
//! is released.
//!
//! A cluster that cannot be started fails the test under `STOMPWS_REQUIRE_BROKERS=1`
//! (tests/run.sh, CI); otherwise the test passes after printing `skipping: ...`.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::brokers_required;

/// Node numbers as the script counts them.
pub const NODES: [usize; 3] = [1, 2, 3];

/// How long `stop` (in `Drop`) may take: the script gives each node 30 s to stop
/// gracefully, then 15 s after SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(90);

/// What one run of the script printed.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// The cluster, held for the lifetime of a test; see the module comment.
pub struct Cluster {
    script: PathBuf,
    /// `require` started it (nothing of it ran before): `Drop` stops it.
    started: bool,
    /// Nodes killed by [`Cluster::kill`] and not revived since.
    killed: BTreeSet<usize>,
    tcp: Vec<String>,
    ws: Vec<String>,
    /// When the use lock was taken: the start of what a test may bound in time.
    held_since: Instant,
    /// The flock on the use lock; dropped (released) after `Drop::drop` has run.
    _lock: File,
}

fn script_path() -> PathBuf {
    match std::env::var_os("STOMPWS_CLUSTER_SCRIPT") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/brokers/rabbitmq-cluster.sh"),
    }
}

fn broker_dir() -> PathBuf {
    match std::env::var_os("STOMPWS_BROKER_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/tmp/stompws-brokers"),
    }
}

/// Runs the script with `args`, its output in files (no pipe a detached node could hold
/// open), in its own process group, which is killed if it runs past `timeout`. `env`:
/// extra environment variables. Err only when it could not be run or ran too long.
fn run_script(
    script: &PathBuf,
    args: &[&str],
    env: &[(&str, String)],
    timeout: Duration,
) -> Result<Output, String> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let base = std::env::temp_dir().join(format!("stompws-cluster-{}-{n}", std::process::id()));
    let out_path = base.with_extension("out");
    let err_path = base.with_extension("err");
    let what = format!("{} {}", script.display(), args.join(" "));
    let t0 = Instant::now();
    let mut cmd = Command::new("bash");
    cmd.arg(script)
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&out_path).map_err(|e| format!("{what}: {e}"))?)
        .stderr(File::create(&err_path).map_err(|e| format!("{what}: {e}"))?)
        // A cluster started from a test is the test's, whoever runs the test.
        .env_remove("STOMPWS_BROKER_OWNER")
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if t0.elapsed() < timeout => thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                // The group that spawn made for it: the script and its rabbitmqctl or
                // sleep, not the nodes (each runs in its own session).
                let pgid = child.id() as libc::pid_t;
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                let _ = child.wait();
                let stderr = fs::read_to_string(&err_path).unwrap_or_default();
                let _ = fs::remove_file(&out_path);
                let _ = fs::remove_file(&err_path);
                return Err(format!(
                    "{what}: still running after {timeout:?}, killed; its stderr:\n{stderr}"
                ));
            }
        }
    };
    let stdout = fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = fs::read_to_string(&err_path).unwrap_or_default();
    let _ = fs::remove_file(&out_path);
    let _ = fs::remove_file(&err_path);
    Ok(Output {
        status,
        stdout,
        stderr,
        took: t0.elapsed(),
    })
}

/// Takes an exclusive flock on `path`, polling until `wait` has passed.
fn lock_file(path: &PathBuf, wait: Duration) -> Result<File, String> {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let t0 = Instant::now();
    let mut told = false;
    loop {
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(format!("flock {}: {e}", path.display()));
        }
        if t0.elapsed() >= wait {
            return Err(format!(
                "another test process held {} for {wait:?}",
                path.display()
            ));
        }
        if !told {
            eprintln!(
                "cluster: waiting for {} (another test uses the cluster)",
                path.display()
            );
            told = true;
        }
        thread::sleep(Duration::from_millis(200));
    }
}

/// `export NAME="VALUE"` lines, as the script's `env` prints them.
fn parse_env(text: &str, name: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.trim().strip_prefix("export ")?;
        let (k, v) = rest.split_once('=')?;
        (k == name).then(|| v.trim_matches('"').to_string())
    })
}

impl Cluster {
    /// The cluster, running with its three nodes, held by this process until the value
    /// is dropped; see the module comment. Waits up to `lock_wait` for another test
    /// process to let go of it, and up to `start_timeout` for `start`. When it cannot be
    /// had: panics if [`brokers_required`], else prints `skipping: ...` and returns `None`.
    #[track_caller]
    pub fn require(lock_wait: Duration, start_timeout: Duration) -> Option<Cluster> {
        match Cluster::acquire(lock_wait, start_timeout) {
            Ok(c) => Some(c),
            Err(e) if brokers_required() => {
                panic!("STOMPWS_REQUIRE_BROKERS=1 but the RabbitMQ cluster is unavailable: {e}")
            }
            Err(e) => {
                eprintln!("skipping: the RabbitMQ cluster is unavailable: {e}");
                None
            }
        }
    }

    fn acquire(lock_wait: Duration, start_timeout: Duration) -> Result<Cluster, String> {
        let script = script_path();
        let lock = lock_file(&broker_dir().join("rabbitmq-cluster.use.lock"), lock_wait)?;
        let held_since = Instant::now();
        let env = run_script(&script, &["env"], &[], Duration::from_secs(30))?;
        if !env.status.success() {
            return Err(format!("env failed: {}{}", env.stdout, env.stderr));
        }
        let var = |name: String| {
            parse_env(&env.stdout, &name).ok_or_else(|| format!("env printed no {name}"))
        };
        let mut tcp = Vec::new();
        let mut ws = Vec::new();
        for n in NODES {
            tcp.push(var(format!("STOMPWS_CLUSTER_TCP_{n}"))?);
            ws.push(var(format!("STOMPWS_CLUSTER_WS_{n}"))?);
        }
        // Exit status 0: complete; 1: part of it runs; 3: nothing runs.
        let status = run_script(&script, &["status"], &[], Duration::from_secs(120))?;
        let code = status.status.code();
        let started = code == Some(3);
        if code != Some(0) {
            eprintln!(
                "cluster: {}; running start",
                if started {
                    "not running"
                } else {
                    "partly running"
                }
            );
            let secs = start_timeout.as_secs().max(1).to_string();
            let out = run_script(
                &script,
                &["start"],
                &[("STOMPWS_CLUSTER_START_TIMEOUT", secs)],
                start_timeout + Duration::from_secs(30),
            );
            let cluster = Cluster {
                script,
                started,
                killed: BTreeSet::new(),
                tcp,
                ws,
                held_since,
                _lock: lock,
            };
            match out {
                Ok(o) if o.status.success() => {
                    eprintln!("cluster: start took {:.1} s", o.took.as_secs_f64());
                    return Ok(cluster);
                }
                // Dropping `cluster` stops what a failed start left, if it was this start's.
                Ok(o) => return Err(format!("start failed ({}):\n{}", o.status, o.stderr)),
                Err(e) => return Err(e),
            }
        }
        eprintln!("cluster: already running (left running at the end)");
        Ok(Cluster {
            script,
            started: false,
            killed: BTreeSet::new(),
            tcp,
            ws,
            held_since,
            _lock: lock,
        })
    }

    /// Node `n`'s STOMP-over-TCP URL (`n` from 1).
    pub fn tcp_url(&self, n: usize) -> &str {
        &self.tcp[n - 1]
    }

    /// Node `n`'s STOMP-over-WebSocket URL (`n` from 1).
    pub fn ws_url(&self, n: usize) -> &str {
        &self.ws[n - 1]
    }

    /// The node (from 1) whose TCP or ws URL is `url`.
    pub fn node_of(&self, url: &str) -> Option<usize> {
        NODES
            .into_iter()
            .find(|&n| self.tcp_url(n) == url || self.ws_url(n) == url)
    }

    /// When this process got the cluster to itself (before `require` started it).
    pub fn held_since(&self) -> Instant {
        self.held_since
    }

    /// Whether `require` started the cluster (and drop stops it).
    pub fn started_here(&self) -> bool {
        self.started
    }

    /// Runs the script with `args`, failing on a non-zero exit or after `timeout`.
    pub fn script(&self, args: &[&str], timeout: Duration) -> Result<Output, String> {
        let env = [(
            "STOMPWS_CLUSTER_REVIVE_TIMEOUT",
            timeout.as_secs().max(1).to_string(),
        )];
        let o = run_script(&self.script, args, &env, timeout + Duration::from_secs(5))?;
        if o.status.success() {
            Ok(o)
        } else {
            Err(format!(
                "{} {} failed ({}):\n{}{}",
                self.script.display(),
                args.join(" "),
                o.status,
                o.stdout,
                o.stderr
            ))
        }
    }

    /// SIGKILL to node `n`'s VM (`kill N`); returns once it is gone.
    pub fn kill(&mut self, n: usize, timeout: Duration) -> Result<Output, String> {
        self.killed.insert(n);
        self.script(&["kill", &n.to_string()], timeout)
    }

    /// Starts node `n` again (`revive N`); returns once another node lists it as running
    /// and its listeners answer.
    pub fn revive(&mut self, n: usize, timeout: Duration) -> Result<Output, String> {
        let o = self.script(&["revive", &n.to_string()], timeout)?;
        self.killed.remove(&n);
        Ok(o)
    }

    /// rabbitmqctl against node `n` (`ctl N ARGS...`).
    pub fn ctl(&self, n: usize, args: &[&str], timeout: Duration) -> Result<String, String> {
        let mut all = vec!["ctl".to_string(), n.to_string()];
        all.extend(args.iter().map(|a| a.to_string()));
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        self.script(&all, timeout).map(|o| o.stdout)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.started {
            match run_script(&self.script, &["stop"], &[], STOP_TIMEOUT) {
                Ok(o) if o.status.success() => eprintln!("cluster: stopped"),
                Ok(o) => eprintln!("cluster: stop failed ({}):\n{}", o.status, o.stderr),
                Err(e) => eprintln!("cluster: {e}"),
            }
            return;
        }
        // Not ours to stop: hand it back with every node running.
        for n in std::mem::take(&mut self.killed) {
            match self.script(&["revive", &n.to_string()], Duration::from_secs(120)) {
                Ok(_) => eprintln!("cluster: node {n} revived"),
                Err(e) => eprintln!("cluster: node {n} left down: {e}"),
            }
        }
    }
}
