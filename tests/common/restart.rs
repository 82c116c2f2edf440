//! The `restart` instances of the broker scripts (`STOMPWS_INSTANCE=restart
//! tests/brokers/rabbitmq.sh` and `activemq.sh`), for tests that restart or kill a
//! broker while clients run.
//!
//! ```ignore
//! let Some(broker) = RestartBroker::start(Broker::RabbitMq) else { return };
//! let url = broker.url("STOMPWS_RABBITMQ_RESTART_TCP");
//! // ... clients connect to url ...
//! broker.run(&["restart-app", "1"]); // stop_app, 1 s down, start_app
//! broker.run(&["kill"]);
//! broker.run(&["start"]);
//! // dropping `broker` stops the instance, then releases its lock
//! ```
//!
//! A [`RestartBroker`] holds an exclusive `flock` on
//! `$STOMPWS_BROKER_DIR/<rabbitmq|activemq>-restart.use.lock` from before the wipe to
//! after the stop, so that no two tests (in this process or another) share an instance:
//! one test's restart would otherwise cut another's clients and its wipe delete their
//! messages. It is not the script's own lock, which the script holds only while one verb
//! runs.
//!
//! When the instance cannot be started (the broker is not installed and cannot be, say),
//! [`RestartBroker::start`] prints `skipping: ...` and returns `None`, except under
//! `STOMPWS_REQUIRE_BROKERS=1`, where it panics, as [`require!`](crate::require) does.
#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long [`RestartBroker::start`] waits for another user of the instance to finish.
/// A test file of restarts takes a few minutes at most.
pub const LOCK_WAIT: Duration = Duration::from_secs(600);

/// A broker that has a `restart` instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Broker {
    /// `tests/brokers/rabbitmq.sh`: verbs start, stop, restart-app [S], kill, restart
    /// [S], wipe.
    RabbitMq,
    /// `tests/brokers/activemq.sh`: verbs start, stop, restart [S], kill, wipe (KahaDB).
    ActiveMq,
}

impl Broker {
    /// The script's file name in tests/brokers/.
    pub fn script_name(self) -> &'static str {
        match self {
            Broker::RabbitMq => "rabbitmq.sh",
            Broker::ActiveMq => "activemq.sh",
        }
    }

    /// The script's path in this checkout.
    pub fn script(self) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/brokers")
            .join(self.script_name())
    }

    /// The lock file that serialises the use of the instance across processes.
    pub fn use_lock(self) -> PathBuf {
        let name = match self {
            Broker::RabbitMq => "rabbitmq-restart.use.lock",
            Broker::ActiveMq => "activemq-restart.use.lock",
        };
        broker_dir().join(name)
    }
}

/// `$STOMPWS_BROKER_DIR`, default `/tmp/stompws-brokers` (as in tests/brokers/common.sh).
pub fn broker_dir() -> PathBuf {
    match std::env::var_os("STOMPWS_BROKER_DIR") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from("/tmp/stompws-brokers"),
    }
}

/// What one run of the script gave: its stderr (where it reports what it did and how
/// long it took) and how long it ran, as seen from here.
#[derive(Debug, Clone)]
pub struct Ran {
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `STOMPWS_INSTANCE=restart bash tests/brokers/<script> ARGS`. Ok when it exits 0,
/// otherwise an error with the command, the exit status and its stderr.
pub fn script(broker: Broker, args: &[&str]) -> Result<Ran, String> {
    let t0 = Instant::now();
    let out = Command::new("bash")
        .arg(broker.script())
        .args(args)
        .env("STOMPWS_INSTANCE", "restart")
        // What the script records as the instance's starter; it also keeps an inherited
        // tests/run.sh value, which the scripts refuse on the restart instance, away.
        .env("STOMPWS_BROKER_OWNER", "tests/restarts")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("bash {}: {e}", broker.script().display()))?;
    let ran = Ran {
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t0.elapsed(),
    };
    if out.status.success() {
        Ok(ran)
    } else {
        Err(format!(
            "STOMPWS_INSTANCE=restart {} {}: {} after {:.1} s\n{}{}",
            broker.script_name(),
            args.join(" "),
            out.status,
            ran.took.as_secs_f64(),
            ran.stdout,
            ran.stderr
        ))
    }
}

/// Takes the exclusive flock on `path`, waiting at most [`LOCK_WAIT`].
fn lock_file(path: &PathBuf) -> Result<File, String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let deadline = Instant::now() + LOCK_WAIT;
    let mut said = false;
    loop {
        // flock(2), as the scripts' `flock` takes it: held by this open file (so two
        // tests of one process exclude each other too) until it is closed. The file is
        // opened close-on-exec, so the scripts and brokers started meanwhile never
        // inherit it. (std's File::try_lock is newer than the crate's MSRV.)
        // SAFETY: flock on a file descriptor this function owns; no memory is passed.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(file);
        }
        let err = std::io::Error::last_os_error();
        match err.kind() {
            std::io::ErrorKind::WouldBlock if Instant::now() < deadline => {
                if !said {
                    eprintln!("waiting for {} (another test uses it)", path.display());
                    said = true;
                }
                thread::sleep(Duration::from_millis(200));
            }
            std::io::ErrorKind::WouldBlock => {
                return Err(format!(
                    "{} still locked after {} s",
                    path.display(),
                    LOCK_WAIT.as_secs()
                ))
            }
            std::io::ErrorKind::Interrupted => {}
            _ => return Err(format!("flock {}: {err}", path.display())),
        }
    }
}

/// The restart instance of a broker, wiped and started for one test; dropping it stops
/// the instance and then releases the lock.
pub struct RestartBroker {
    broker: Broker,
    env: HashMap<String, String>,
    /// Held (and so the flock with it) until after the stop in `Drop`.
    _lock: File,
}

impl RestartBroker {
    /// Locks the instance, wipes its data and starts it. `None` after printing
    /// `skipping: ...` when that fails and brokers are not required; a panic when they
    /// are (`STOMPWS_REQUIRE_BROKERS=1`).
    #[track_caller]
    pub fn start(broker: Broker) -> Option<RestartBroker> {
        match Self::try_start(broker) {
            Ok(b) => Some(b),
            Err(e) if super::brokers_required() => panic!(
                "STOMPWS_REQUIRE_BROKERS=1 but the restart instance of {} did not start: {e}",
                broker.script_name()
            ),
            Err(e) => {
                eprintln!(
                    "skipping: the restart instance of {} did not start: {e}",
                    broker.script_name()
                );
                None
            }
        }
    }

    fn try_start(broker: Broker) -> Result<RestartBroker, String> {
        let lock = lock_file(&broker.use_lock())?;
        // From here on a failure must stop what may have started: the guard does it.
        let mut guard = RestartBroker {
            broker,
            env: HashMap::new(),
            _lock: lock,
        };
        let wiped = script(broker, &["wipe"])?;
        let started = script(broker, &["start"])?;
        eprintln!(
            "{} (restart): wipe {:.1} s, start {:.1} s",
            broker.script_name(),
            wiped.took.as_secs_f64(),
            started.took.as_secs_f64()
        );
        guard.env = parse_env(&script(broker, &["env"])?.stdout);
        Ok(guard)
    }

    /// The value of a variable the script's `env` verb prints, e.g.
    /// `STOMPWS_RABBITMQ_RESTART_WS`; panics if it prints no such variable.
    #[track_caller]
    pub fn url(&self, var: &str) -> String {
        match self.env.get(var) {
            Some(v) => v.clone(),
            None => panic!(
                "STOMPWS_INSTANCE=restart {} env prints no {var}",
                self.broker.script_name()
            ),
        }
    }

    /// Runs a verb of the script on the instance (`restart-app`, `kill`, `start`, ...);
    /// panics when it fails. Returns what it printed and how long it took.
    #[track_caller]
    pub fn run(&self, args: &[&str]) -> Ran {
        script(self.broker, args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn broker(&self) -> Broker {
        self.broker
    }
}

impl Drop for RestartBroker {
    fn drop(&mut self) {
        match script(self.broker, &["stop"]) {
            Ok(ran) => eprintln!(
                "{} (restart): stop {:.1} s",
                self.broker.script_name(),
                ran.took.as_secs_f64()
            ),
            // No panic in drop (it may run while unwinding): say it loudly instead.
            Err(e) => eprintln!("could not stop the restart instance: {e}"),
        }
    }
}

/// The `export NAME="VALUE"` lines of a script's `env` verb, as a map.
fn parse_env(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (name, value) = line.strip_prefix("export ")?.split_once('=')?;
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}
