//! The command line: `stompws SUBCOMMAND [OPTIONS] ARGS...`, parsed by hand into
//! [`Options`] (API.md, "Command line: `stompws`").
//!
//! Contract: anything wrong with the command line itself is a [`Usage`] error, which
//! `main` turns into exit status 64 with the message on standard error. Values the
//! library judges (a bad URL, a reserved header, an unknown STOMP version) are not
//! checked here: they come back from the library as `InvalidArgument`, exit status 2.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use stompws::AckMode;

/// Heart-beats asked for when `--heartbeat` is absent: the library's default, set
/// explicitly so that `ping` can work out what was negotiated.
pub const DEFAULT_HEARTBEAT: (u32, u32) = (10_000, 10_000);

/// The text of `--help`.
pub const HELP: &str = "\
stompws: send to, subscribe to and ping a STOMP broker (ws://, wss://, tcp://, ssl://)

usage:
  stompws send URL DEST [BODY]     send BODY, or standard input when BODY is absent
  stompws subscribe URL DEST       print each message (its body and a newline)
  stompws ping URL                 connect, print the session, time a receipt round trip
  stompws --help | --version

options (after the subcommand):
  -H, --header NAME:VALUE   an extra frame header; repeatable (send, subscribe)
      --receipt             send: wait for the broker's receipt; without it a send
                            the broker refuses (no write rights) may still exit 0
      --ack MODE            subscribe: auto (default), client or client-individual; a
                            message is acked after it was written out
      --count N             subscribe: stop after N messages
      --timeout SECS        subscribe: stop after SECS (may be fractional) without a
                            message; with --count, stopping this way before N exits 3
      --json                subscribe: one JSON object per line: {\"destination\":...,
                            \"headers\":{...},\"body\":...}, a body that is not UTF-8 as
                            base64 under \"body_base64\"
      --login L             default: $STOMPWS_LOGIN
      --passcode P          default: $STOMPWS_PASSCODE
      --host VHOST          the STOMP host header (RabbitMQ: the virtual host)
      --heartbeat OUT,IN    heart-beats asked for, in ms (default 10000,10000; 0 = none)
      --versions LIST       STOMP versions offered (default 1.2,1.1,1.0)
      --ca-file PEM         trust this CA too (wss://, ssl://)
      --insecure            skip TLS certificate and host name checks
      --debug               every frame to standard error, the passcode hidden
  -h, --help                this text
  -V, --version             the version
  --                        the arguments after it are not options (a BODY that
                            starts with '-')
An option given twice keeps its last value (-H adds a header each time).

With --ack auto the broker counts a message delivered as consumed, so messages it
already sent past --count N are lost; --ack client-individual leaves them queued.

exit status: 0 success; else the stompws_result number of the failure: 2 invalid
argument (a bad URL, a reserved header), 3 timeout, 4 disconnected, 5 server error
(an ERROR frame, e.g. a refused login), 6 protocol, 7 TLS, 8 I/O (e.g. connection
refused), 9 WebSocket handshake refused; 64 usage error.
";

/// A mistake on the command line; the text says which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage(pub String);

fn usage<T>(message: impl Into<String>) -> Result<T, Usage> {
    Err(Usage(message.into()))
}

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    /// `--help` (anywhere) or `help`: print [`HELP`], exit 0.
    Help,
    /// `--version`: print the version, exit 0.
    Version,
    /// A subcommand to run.
    Run(Box<Options>),
}

/// The subcommand with its own arguments.
#[derive(Debug, PartialEq)]
pub enum Mode {
    Send {
        dest: String,
        /// The BODY argument as bytes (any bytes but NUL); `None`: read standard input.
        body: Option<Vec<u8>>,
        receipt: bool,
    },
    Subscribe {
        dest: String,
        ack: AckMode,
        count: Option<u64>,
        /// Idle time after which the subscription ends.
        timeout: Option<Duration>,
        json: bool,
    },
    Ping,
}

/// A checked command line.
#[derive(Debug, PartialEq)]
pub struct Options {
    pub mode: Mode,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Login and passcode; the passcode is empty when only a login was given.
    pub login: Option<(String, String)>,
    pub host: Option<String>,
    pub heartbeat: (u32, u32),
    pub versions: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub insecure: bool,
    pub debug: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sub {
    Send,
    Subscribe,
    Ping,
}

/// The options, with the subcommands each applies to.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Opt {
    Header,
    Receipt,
    Ack,
    Count,
    Timeout,
    Json,
    Login,
    Passcode,
    Host,
    Heartbeat,
    Versions,
    CaFile,
    Insecure,
    Debug,
    Help,
    Version,
}

impl Opt {
    fn from_long(name: &str) -> Option<Opt> {
        Some(match name {
            "header" => Opt::Header,
            "receipt" => Opt::Receipt,
            "ack" => Opt::Ack,
            "count" => Opt::Count,
            "timeout" => Opt::Timeout,
            "json" => Opt::Json,
            "login" => Opt::Login,
            "passcode" => Opt::Passcode,
            "host" => Opt::Host,
            "heartbeat" => Opt::Heartbeat,
            "versions" => Opt::Versions,
            "ca-file" => Opt::CaFile,
            "insecure" => Opt::Insecure,
            "debug" => Opt::Debug,
            "help" => Opt::Help,
            "version" => Opt::Version,
            _ => return None,
        })
    }

    fn takes_value(self) -> bool {
        !matches!(
            self,
            Opt::Receipt | Opt::Json | Opt::Insecure | Opt::Debug | Opt::Help | Opt::Version
        )
    }

    fn applies_to(self, sub: Sub) -> bool {
        match self {
            Opt::Header => sub != Sub::Ping,
            Opt::Receipt => sub == Sub::Send,
            Opt::Ack | Opt::Count | Opt::Timeout | Opt::Json => sub == Sub::Subscribe,
            _ => true,
        }
    }
}

/// Parses the arguments after the program name. `env` looks up an environment variable
/// (`STOMPWS_LOGIN`, `STOMPWS_PASSCODE`); an empty value counts as unset.
pub fn parse(
    args: impl IntoIterator<Item = OsString>,
    env: impl Fn(&str) -> Option<OsString>,
) -> Result<Parsed, Usage> {
    let mut args = args.into_iter();
    let Some(first) = args.next() else {
        return usage("a subcommand is missing: send, subscribe or ping");
    };
    let sub = match first.to_str() {
        Some("send") => Sub::Send,
        Some("subscribe") => Sub::Subscribe,
        Some("ping") => Sub::Ping,
        Some("help" | "--help" | "-h") => return Ok(Parsed::Help),
        Some("--version" | "-V") => return Ok(Parsed::Version),
        Some(s) if s.starts_with('-') => {
            return usage(format!(
                "{s}: options follow the subcommand (send, subscribe or ping)"
            ))
        }
        _ => {
            return usage(format!(
                "unknown subcommand {:?}: send, subscribe or ping",
                first.to_string_lossy()
            ))
        }
    };

    let mut b = Builder::default();
    let mut positional: Vec<OsString> = Vec::new();
    let mut only_positional = false;
    while let Some(arg) = args.next() {
        let bytes = arg.as_bytes();
        if only_positional || bytes == b"-" || !bytes.starts_with(b"-") {
            positional.push(arg);
            continue;
        }
        if bytes == b"--" {
            only_positional = true;
            continue;
        }
        // --name, --name=value, -H VALUE, -HVALUE, -h, -V
        let (opt, shown, inline): (Opt, String, Option<OsString>) =
            if let Some(long) = bytes.strip_prefix(b"--") {
                let (name, inline) = match long.iter().position(|&c| c == b'=') {
                    Some(i) => (&long[..i], Some(os(&long[i + 1..]))),
                    None => (long, None),
                };
                let shown = format!("--{}", String::from_utf8_lossy(name));
                let opt = std::str::from_utf8(name)
                    .ok()
                    .and_then(Opt::from_long)
                    .ok_or_else(|| Usage(format!("unknown option {shown}")))?;
                (opt, shown, inline)
            } else {
                let (flag, rest) = (bytes[1], &bytes[2..]);
                let opt = match flag {
                    b'H' => Opt::Header,
                    b'h' => Opt::Help,
                    b'V' => Opt::Version,
                    _ => return usage(format!("unknown option {}", arg.to_string_lossy())),
                };
                let shown = format!("-{}", flag as char);
                if !rest.is_empty() && !opt.takes_value() {
                    return usage(format!("unknown option {}", arg.to_string_lossy()));
                }
                (opt, shown, (!rest.is_empty()).then(|| os(rest)))
            };
        match opt {
            Opt::Help => return Ok(Parsed::Help),
            Opt::Version => return Ok(Parsed::Version),
            _ => {}
        }
        if !opt.applies_to(sub) {
            return usage(format!(
                "{shown} does not apply to {}",
                match sub {
                    Sub::Send => "send",
                    Sub::Subscribe => "subscribe",
                    Sub::Ping => "ping",
                }
            ));
        }
        let value = if opt.takes_value() {
            match inline.or_else(|| args.next()) {
                Some(v) => Some(text(&v, &shown)?),
                None => return usage(format!("{shown} needs a value")),
            }
        } else if inline.is_some() {
            return usage(format!("{shown} takes no value"));
        } else {
            None
        };
        b.set(opt, &shown, value)?;
    }

    let expected: &[&str] = match sub {
        Sub::Send => &["URL", "DEST", "[BODY]"],
        Sub::Subscribe => &["URL", "DEST"],
        Sub::Ping => &["URL"],
    };
    let required = expected.iter().filter(|a| !a.starts_with('[')).count();
    if positional.len() < required {
        return usage(format!(
            "{} is missing (arguments: {})",
            expected[positional.len()],
            expected.join(" ")
        ));
    }
    if positional.len() > expected.len() {
        return usage(format!(
            "unexpected argument {:?} (arguments: {})",
            positional[expected.len()].to_string_lossy(),
            expected.join(" ")
        ));
    }
    let mut positional = positional.into_iter();
    let url = text(&positional.next().expect("checked above"), "URL")?;
    let mode = match sub {
        Sub::Send => Mode::Send {
            dest: text(&positional.next().expect("checked above"), "DEST")?,
            body: positional.next().map(|b| b.as_bytes().to_vec()),
            receipt: b.receipt,
        },
        Sub::Subscribe => Mode::Subscribe {
            dest: text(&positional.next().expect("checked above"), "DEST")?,
            ack: b.ack,
            count: b.count,
            timeout: b.timeout,
            json: b.json,
        },
        Sub::Ping => Mode::Ping,
    };

    let from_env = |var: &str| -> Result<Option<String>, Usage> {
        match env(var).filter(|v| !v.is_empty()) {
            Some(v) => Ok(Some(text(&v, var)?)),
            None => Ok(None),
        }
    };
    let login = match b.login {
        Some(l) => Some(l),
        None => from_env("STOMPWS_LOGIN")?,
    };
    let passcode = match b.passcode {
        Some(p) => Some(p),
        None => from_env("STOMPWS_PASSCODE")?,
    };
    let login = match (login, passcode) {
        (Some(l), p) => Some((l, p.unwrap_or_default())),
        (None, Some(_)) => {
            return usage("a passcode was given without a login (--login or STOMPWS_LOGIN)")
        }
        (None, None) => None,
    };

    Ok(Parsed::Run(Box::new(Options {
        mode,
        url,
        headers: b.headers,
        login,
        host: b.host,
        heartbeat: b.heartbeat.unwrap_or(DEFAULT_HEARTBEAT),
        versions: b.versions,
        ca_file: b.ca_file,
        insecure: b.insecure,
        debug: b.debug,
    })))
}

/// The options seen so far.
struct Builder {
    headers: Vec<(String, String)>,
    receipt: bool,
    ack: AckMode,
    count: Option<u64>,
    timeout: Option<Duration>,
    json: bool,
    login: Option<String>,
    passcode: Option<String>,
    host: Option<String>,
    heartbeat: Option<(u32, u32)>,
    versions: Option<String>,
    ca_file: Option<PathBuf>,
    insecure: bool,
    debug: bool,
}

impl Default for Builder {
    fn default() -> Self {
        Builder {
            headers: Vec::new(),
            receipt: false,
            ack: AckMode::Auto,
            count: None,
            timeout: None,
            json: false,
            login: None,
            passcode: None,
            host: None,
            heartbeat: None,
            versions: None,
            ca_file: None,
            insecure: false,
            debug: false,
        }
    }
}

impl Builder {
    fn set(&mut self, opt: Opt, shown: &str, value: Option<String>) -> Result<(), Usage> {
        let v = value.unwrap_or_default();
        match opt {
            Opt::Header => match v.split_once(':') {
                Some((name, value)) if !name.is_empty() => {
                    self.headers.push((name.to_string(), value.to_string()))
                }
                _ => return usage(format!("{shown} wants NAME:VALUE, not {v:?}")),
            },
            Opt::Receipt => self.receipt = true,
            Opt::Ack => {
                self.ack = match v.as_str() {
                    "auto" => AckMode::Auto,
                    "client" => AckMode::Client,
                    "client-individual" => AckMode::ClientIndividual,
                    _ => {
                        return usage(format!(
                            "{shown} {v:?}: the modes are auto, client and client-individual"
                        ))
                    }
                }
            }
            Opt::Count => match v.parse::<u64>() {
                Ok(n) if n > 0 => self.count = Some(n),
                _ => return usage(format!("{shown} wants a whole number above 0, not {v:?}")),
            },
            Opt::Timeout => match v.parse::<f64>().ok().filter(|s| *s >= 0.0) {
                Some(secs) => match Duration::try_from_secs_f64(secs) {
                    Ok(d) => self.timeout = Some(d),
                    Err(_) => return usage(format!("{shown} {v:?} is out of range")),
                },
                None => return usage(format!("{shown} wants seconds (0 or more), not {v:?}")),
            },
            Opt::Json => self.json = true,
            Opt::Login => self.login = Some(v),
            Opt::Passcode => self.passcode = Some(v),
            Opt::Host => self.host = Some(v),
            Opt::Heartbeat => {
                let pair = v
                    .split_once(',')
                    .and_then(|(o, i)| Some((o.trim().parse().ok()?, i.trim().parse().ok()?)));
                match pair {
                    Some(p) => self.heartbeat = Some(p),
                    None => {
                        return usage(format!(
                            "{shown} wants OUT,IN in milliseconds (e.g. 10000,10000), not {v:?}"
                        ))
                    }
                }
            }
            Opt::Versions => self.versions = Some(v),
            Opt::CaFile => self.ca_file = Some(PathBuf::from(v)),
            Opt::Insecure => self.insecure = true,
            Opt::Debug => self.debug = true,
            Opt::Help | Opt::Version => unreachable!("handled by parse"),
        }
        Ok(())
    }
}

fn os(bytes: &[u8]) -> OsString {
    OsStr::from_bytes(bytes).to_os_string()
}

/// An argument that must be text: URLs, destinations, headers, names.
fn text(arg: &OsStr, what: &str) -> Result<String, Usage> {
    match arg.to_str() {
        Some(s) => Ok(s.to_string()),
        None => usage(format!(
            "{what} is not valid UTF-8: {:?}",
            arg.to_string_lossy()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_with(args: &[&str], env: &[(&str, &str)]) -> Result<Parsed, Usage> {
        let env: Vec<(String, OsString)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        parse(args.iter().map(OsString::from), move |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })
    }

    fn run(args: &[&str]) -> Options {
        match parse_with(args, &[]) {
            Ok(Parsed::Run(o)) => *o,
            other => panic!("{args:?} gave {other:?}"),
        }
    }

    fn err(args: &[&str]) -> String {
        match parse_with(args, &[]) {
            Err(Usage(m)) => m,
            other => panic!("{args:?} gave {other:?}, not a usage error"),
        }
    }

    #[test]
    fn send_with_everything() {
        let o = run(&[
            "send",
            "tcp://h:1",
            "-H",
            "priority:9",
            "/queue/a",
            "--header=x-a:b:c",
            "-Hy:",
            "--receipt",
            "--login",
            "u",
            "--passcode=p",
            "--host",
            "/",
            "--heartbeat",
            "0,5000",
            "--versions",
            "1.1",
            "--ca-file",
            "/tmp/ca.pem",
            "--insecure",
            "--debug",
            "--",
            "-body-",
        ]);
        assert_eq!(o.url, "tcp://h:1");
        assert_eq!(
            o.mode,
            Mode::Send {
                dest: "/queue/a".into(),
                body: Some(b"-body-".to_vec()),
                receipt: true
            }
        );
        assert_eq!(
            o.headers,
            vec![
                ("priority".into(), "9".into()),
                ("x-a".into(), "b:c".into()),
                ("y".into(), String::new())
            ]
        );
        assert_eq!(o.login, Some(("u".into(), "p".into())));
        assert_eq!(o.host.as_deref(), Some("/"));
        assert_eq!(o.heartbeat, (0, 5000));
        assert_eq!(o.versions.as_deref(), Some("1.1"));
        assert_eq!(o.ca_file, Some(PathBuf::from("/tmp/ca.pem")));
        assert!(o.insecure && o.debug);
    }

    #[test]
    fn subscribe_defaults_and_values() {
        let o = run(&["subscribe", "ws://h/ws", "/topic/t"]);
        assert_eq!(
            o.mode,
            Mode::Subscribe {
                dest: "/topic/t".into(),
                ack: AckMode::Auto,
                count: None,
                timeout: None,
                json: false
            }
        );
        assert_eq!(o.heartbeat, DEFAULT_HEARTBEAT);
        assert_eq!(o.login, None);
        let o = run(&[
            "subscribe",
            "--ack",
            "client-individual",
            "--count=3",
            "--timeout",
            "0.25",
            "--json",
            "ws://h/ws",
            "/topic/t",
        ]);
        assert_eq!(
            o.mode,
            Mode::Subscribe {
                dest: "/topic/t".into(),
                ack: AckMode::ClientIndividual,
                count: Some(3),
                timeout: Some(Duration::from_millis(250)),
                json: true
            }
        );
    }

    #[test]
    fn body_absent_means_stdin() {
        let o = run(&["send", "tcp://h", "/queue/a"]);
        assert!(matches!(o.mode, Mode::Send { body: None, .. }));
        let o = run(&["send", "tcp://h", "/queue/a", "-"]);
        assert!(matches!(o.mode, Mode::Send { body: Some(ref b), .. } if b == b"-"));
    }

    #[test]
    fn login_from_environment_and_options_win() {
        let env = [("STOMPWS_LOGIN", "el"), ("STOMPWS_PASSCODE", "ep")];
        let login = |args: &[&str], env: &[(&str, &str)]| match parse_with(args, env) {
            Ok(Parsed::Run(o)) => o.login,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            login(&["ping", "tcp://h"], &env),
            Some(("el".into(), "ep".into()))
        );
        assert_eq!(
            login(&["ping", "tcp://h", "--passcode", "p"], &env),
            Some(("el".into(), "p".into()))
        );
        assert_eq!(
            login(&["ping", "tcp://h", "--login", "l"], &[]),
            Some(("l".into(), String::new()))
        );
        // Empty variables count as unset.
        let empty = [("STOMPWS_LOGIN", ""), ("STOMPWS_PASSCODE", "")];
        assert_eq!(login(&["ping", "tcp://h"], &empty), None);
        assert!(parse_with(&["ping", "tcp://h"], &[("STOMPWS_PASSCODE", "p")]).is_err());
    }

    #[test]
    fn last_value_wins() {
        let o = run(&["ping", "tcp://h", "--host", "a", "--host", "b"]);
        assert_eq!(o.host.as_deref(), Some("b"));
    }

    #[test]
    fn help_and_version() {
        assert_eq!(parse_with(&["--help"], &[]), Ok(Parsed::Help));
        assert_eq!(parse_with(&["help"], &[]), Ok(Parsed::Help));
        assert_eq!(parse_with(&["-V"], &[]), Ok(Parsed::Version));
        assert!(
            parse_with(&["subscribe", "--bogus", "-h"], &[]).is_err(),
            "an unknown option before --help is still an error"
        );
        assert_eq!(parse_with(&["send", "-h"], &[]), Ok(Parsed::Help));
        assert_eq!(parse_with(&["ping", "--version"], &[]), Ok(Parsed::Version));
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert!(err(&[]).contains("subcommand"));
        assert!(err(&["publish"]).contains("unknown subcommand"));
        assert!(err(&["--debug", "ping", "tcp://h"]).contains("follow the subcommand"));
        assert!(err(&["ping"]).contains("URL is missing"));
        assert!(err(&["send", "tcp://h"]).contains("DEST is missing"));
        assert!(err(&["subscribe", "tcp://h", "/q", "extra"]).contains("unexpected"));
        assert!(err(&["send", "tcp://h", "/q", "a", "b"]).contains("unexpected"));
        assert!(err(&["ping", "tcp://h", "--bogus"]).contains("unknown option --bogus"));
        assert!(err(&["ping", "tcp://h", "-x"]).contains("unknown option -x"));
        assert!(err(&["ping", "tcp://h", "-hx"]).contains("unknown option -hx"));
        assert!(err(&["subscribe", "u", "d", "--ack", "sometimes"]).contains("sometimes"));
        assert!(err(&["subscribe", "u", "d", "--ack"]).contains("needs a value"));
        for n in ["0", "-1", "x", "1.5", ""] {
            assert!(err(&["subscribe", "u", "d", "--count", n]).contains("--count"));
        }
        for t in ["-1", "x", "nan", "inf", "1e300"] {
            assert!(err(&["subscribe", "u", "d", "--timeout", t]).contains("--timeout"));
        }
        for h in ["1", "1,", "a,b", "1,2,3", "-1,0"] {
            assert!(err(&["ping", "u", "--heartbeat", h]).contains("--heartbeat"));
        }
        for h in ["novalue", ":v", ""] {
            assert!(err(&["send", "u", "d", "-H", h]).contains("NAME:VALUE"));
        }
        assert!(err(&["send", "u", "d", "--json"]).contains("does not apply to send"));
        assert!(err(&["send", "u", "d", "--count", "1"]).contains("does not apply"));
        assert!(err(&["subscribe", "u", "d", "--receipt"]).contains("does not apply"));
        assert!(err(&["ping", "u", "-H", "a:b"]).contains("does not apply to ping"));
        assert!(err(&["ping", "u", "--debug=yes"]).contains("takes no value"));
    }

    #[test]
    fn non_utf8_arguments() {
        let bad = OsStr::from_bytes(b"\xff\x00x").to_os_string();
        // A body may hold any bytes; a destination may not.
        let args = ["send".into(), "tcp://h".into(), "/q".into(), bad.clone()];
        match parse(args, |_| None) {
            Ok(Parsed::Run(o)) => {
                assert!(matches!(o.mode, Mode::Send { body: Some(ref b), .. } if b == b"\xff\x00x"))
            }
            other => panic!("{other:?}"),
        }
        let args = ["send".into(), "tcp://h".into(), bad];
        assert!(parse(args, |_| None).unwrap_err().0.contains("DEST"));
    }
}
