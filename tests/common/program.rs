//! Running a built program as the C and C++ tests do: its input given, its output
//! collected, killed after a timeout, and a report of all of it for a failed assertion.

use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// What a program run gave.
pub struct Output {
    pub what: String,
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: String,
    pub stderr: String,
}

impl Output {
    pub fn report(&self) -> String {
        format!(
            "{}: exit {:?}, signal {:?}{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.what,
            self.status,
            self.signal,
            if self.timed_out {
                ", killed after the timeout"
            } else {
                ""
            },
            tail(&self.stdout, 20_000),
            tail(&self.stderr, 20_000)
        )
    }
}

impl Output {
    /// Panics with the whole report unless standard output holds `text`.
    pub fn assert_stdout(&self, text: &str) {
        assert!(
            self.stdout.contains(text),
            "{text:?} not in the output of {}",
            self.report()
        );
    }

    /// Panics with the whole report unless standard error holds `text`.
    pub fn assert_stderr(&self, text: &str) {
        assert!(
            self.stderr.contains(text),
            "{text:?} not in stderr of {}",
            self.report()
        );
    }
}

fn tail(text: &str, max: usize) -> &str {
    let mut start = text.len().saturating_sub(max);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    &text[start..]
}

/// Runs `cmd` with `stdin` as its input, killing it after `timeout`.
pub fn run(cmd: &mut Command, stdin: &[u8], timeout: Duration, what: String) -> Output {
    // cargo test puts target/debug on LD_LIBRARY_PATH, which the loader searches before
    // a program's rpath: the program would load the debug build-tree library (build.rs
    // links libstompws.so.0 there), not the one it was linked and meant to run with.
    let mut child = cmd
        .env_remove("LD_LIBRARY_PATH")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{what}: cannot start {cmd:?}: {e}"));
    let mut input = child.stdin.take().unwrap();
    let data = stdin.to_vec();
    // Dropping the pipe at the end gives the program its end of input.
    let writer = thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out_pipe.read_to_end(&mut s);
        s
    });
    let err_reader = thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err_pipe.read_to_end(&mut s);
        s
    });
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break (status, false);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break (child.wait().unwrap(), true);
        }
        thread::sleep(Duration::from_millis(20));
    };
    let _ = writer.join();
    let stdout = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap()).into_owned();
    Output {
        what,
        status: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
    }
}
