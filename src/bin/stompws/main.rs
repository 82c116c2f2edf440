//! `stompws`: send to, subscribe to and ping a STOMP broker from the shell, built with
//! `cargo build --release --features cli` (API.md, "Command line: `stompws`").
//!
//! ```text
//! stompws send URL DEST [BODY]      BODY, or standard input when absent
//! stompws subscribe URL DEST        prints each message
//! stompws ping URL                  prints the session, times a receipt round trip
//! ```
//!
//! Exit status: 0 on success; the `stompws_result` number of the failure otherwise
//! (`stompws::Error::code`); [`USAGE_EXIT`] for a mistake on the command line.
//!
//! Modules: `args` parses the command line, `session` connects and maps errors onto exit
//! statuses, `commands` runs the subcommands, `output` writes messages (text or JSON).

mod args;
mod commands;
mod output;
mod session;

use std::io::Write;
use std::process::ExitCode;

use args::{Parsed, Usage, HELP};

/// Exit status of a usage error (EX_USAGE of BSD's sysexits.h), apart from every
/// `stompws_result` number.
const USAGE_EXIT: u8 = 64;

fn main() -> ExitCode {
    let parsed = args::parse(std::env::args_os().skip(1), |name| std::env::var_os(name));
    match parsed {
        Err(Usage(message)) => {
            eprintln!("stompws: {message}\nTry 'stompws --help'.");
            ExitCode::from(USAGE_EXIT)
        }
        Ok(Parsed::Help) => print(HELP),
        Ok(Parsed::Version) => print(&format!("stompws {}\n", env!("CARGO_PKG_VERSION"))),
        Ok(Parsed::Run(opts)) => match commands::run(&opts) {
            Ok(()) => ExitCode::SUCCESS,
            Err(failure) => {
                eprintln!("stompws: {}", failure.message);
                ExitCode::from(failure.code)
            }
        },
    }
}

/// Writes `text` to standard output; a failure to do so is an I/O error (exit 8).
fn print(text: &str) -> ExitCode {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let failure = session::Failure::io("standard output", &e);
            eprintln!("stompws: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}
