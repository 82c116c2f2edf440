//! The STOMP handshake: CONNECT out, CONNECTED (or ERROR) back, all before the
//! connect deadline. Runs on the connecting thread, before the I/O thread exists.

use std::io::{ErrorKind, Read, Write};
use std::time::Instant;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::frame::{check_header, Decoded, Decoder, Frame, FrameWriter, Limits, Version};
use crate::transport::{wait_fd, Framing, Opened, Stream};

use super::debug;
use super::heartbeat::Heartbeat;
use super::info::SessionInfo;

/// A session that said CONNECTED, ready for its threads.
pub(crate) struct Established {
    pub(crate) info: SessionInfo,
    pub(crate) writer: Framing,
    pub(crate) reader: Framing,
    pub(crate) decoder: Decoder,
    pub(crate) io: IoParts,
}

/// What the I/O thread takes over from the handshake (the read side goes to the session's link).
pub(crate) struct IoParts {
    pub(crate) stream: Stream,
    /// STOMP bytes that came after CONNECTED, already taken off the framing.
    pub(crate) carry: Vec<u8>,
    pub(crate) heartbeat: Heartbeat,
}

/// Sends CONNECT and waits for the answer.
pub(crate) fn establish(opened: Opened, config: &Config, deadline: Instant) -> Result<Established> {
    let versions = config.accepted_versions()?;
    let connect = connect_frame(config, &versions)?;
    let Opened {
        mut stream,
        framing: mut reader,
        leftover,
        subprotocol,
    } = opened;
    let mut writer = reader.writer();
    if let Some(d) = &config.debug {
        d(&debug::encoded_line(">>>", &connect));
    }
    let mut wire = Vec::new();
    writer.write_frame(&mut wire, &connect);
    write_all(&mut stream, &wire, deadline)?;

    let limits = Limits {
        max_frame_size: config.max_frame_size,
        ..Limits::default()
    };
    let mut decoder = Decoder::new(limits);
    let mut answer: Option<Frame> = None;
    let mut carry = Vec::new();
    let mut replies = Vec::new();
    let mut input = leftover;
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let outcome = reader.read(
            &input,
            &mut |data| {
                if answer.is_some() {
                    carry.extend_from_slice(data);
                    return Ok(());
                }
                let mut data = data;
                while let Some(d) = decoder.decode(&mut data)? {
                    if let Decoded::Frame(f) = d {
                        answer = Some(f);
                        carry.extend_from_slice(data);
                        break;
                    }
                }
                Ok(())
            },
            &mut replies,
        )?;
        if !replies.is_empty() {
            write_all(&mut stream, &replies, deadline)?;
            replies.clear();
        }
        if let Some(close) = outcome.closed {
            return Err(Error::Io(format!(
                "{}: the broker closed the WebSocket before CONNECTED ({} {})",
                stream.peer(),
                close.code.unwrap_or(0),
                close.reason
            )));
        }
        if answer.is_some() {
            break;
        }
        input.clear();
        let n = read_some(&mut stream, &mut buf, deadline)
            .map_err(|e| no_connected(e, &stream, config))?;
        input.extend_from_slice(&buf[..n]);
    }
    let frame = answer.unwrap_or_else(|| Frame::new("ERROR"));
    if let Some(d) = &config.debug {
        d(&debug::frame_line("<<<", &frame, Version::V1_0));
    }
    match frame.command() {
        "CONNECTED" => {}
        "ERROR" => {
            return Err(Error::ServerError {
                message: frame.header("message").unwrap_or("").to_string(),
                body: String::from_utf8_lossy(frame.body()).trim_end().to_string(),
            })
        }
        other => {
            return Err(Error::protocol(format!(
                "expected CONNECTED, the broker sent {other}"
            )))
        }
    }
    let version = match frame.header("version") {
        None => Version::V1_0,
        Some(v) => Version::parse(v)
            .filter(|v| versions.contains(v))
            .ok_or_else(|| {
                Error::protocol(format!(
                    "the broker chose version {v:?}, which was not offered"
                ))
            })?,
    };
    decoder.set_version(version);
    let heartbeat = if version == Version::V1_0 {
        Heartbeat::none()
    } else {
        Heartbeat::negotiate(
            config.heartbeat,
            frame.header("heart-beat"),
            config.heartbeat_tolerance,
        )
    };
    Ok(Established {
        info: SessionInfo {
            url: String::new(),
            version,
            server: frame.header("server").map(str::to_string),
            session: frame.header("session").map(str::to_string),
            subprotocol,
            c: Default::default(),
        },
        writer,
        reader,
        decoder,
        io: IoParts {
            stream,
            carry,
            heartbeat,
        },
    })
}

/// The CONNECT frame. Its headers are never escaped, so values with a line break are
/// refused rather than sent broken.
fn connect_frame(config: &Config, versions: &[Version]) -> Result<Vec<u8>> {
    let mut headers: Vec<(&str, String)> = Vec::new();
    if versions != [Version::V1_0] {
        let list: Vec<&str> = versions.iter().map(|v| v.as_str()).collect();
        headers.push(("accept-version", list.join(",")));
    }
    if let Some(host) = &config.host {
        headers.push(("host", host.clone()));
    }
    if let Some((login, passcode)) = &config.login {
        headers.push(("login", login.clone()));
        headers.push(("passcode", passcode.clone()));
    }
    if versions.iter().any(|v| *v != Version::V1_0) {
        let (x, y) = config.heartbeat;
        headers.push(("heart-beat", format!("{x},{y}")));
    }
    for (n, v) in &config.connect_headers {
        headers.push((n, v.clone()));
    }
    let mut out = Vec::new();
    let mut w = FrameWriter::new(&mut out, "CONNECT", versions[0]);
    for (n, v) in &headers {
        check_header(n, v, versions[0], "CONNECT")?;
        w.header(n, v);
    }
    w.finish(b"");
    Ok(out)
}

fn write_all(stream: &mut Stream, mut bytes: &[u8], deadline: Instant) -> Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => {
                return Err(Error::Io(format!(
                    "{}: connection closed while writing",
                    stream.peer()
                )))
            }
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), false, true, deadline)?
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(stream.peer(), &e)),
        }
    }
    loop {
        match stream.flush() {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), false, true, deadline)?
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(stream.peer(), &e)),
        }
    }
}

/// A `Timeout` waiting for CONNECTED names the stage and the peer: a port that takes
/// the connection but speaks no STOMP (a `ws://` URL pointed at a plain STOMP port
/// waits here for the WebSocket upgrade's answer instead).
#[cold]
fn no_connected(e: Error, stream: &Stream, config: &Config) -> Error {
    if e != Error::Timeout {
        return e;
    }
    Error::timeout(format!(
        "{}: no CONNECTED frame within the connect timeout of {} ms (stage: STOMP CONNECTED); \
         is this the broker's STOMP port, and the right scheme?",
        stream.peer(),
        config.connect_timeout.as_millis()
    ))
}

fn read_some(stream: &mut Stream, buf: &mut [u8], deadline: Instant) -> Result<usize> {
    loop {
        match stream.read(buf) {
            Ok(0) => {
                return Err(Error::Io(format!(
                    "{}: the broker closed the connection before CONNECTED",
                    stream.peer()
                )))
            }
            Ok(n) => return Ok(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {
                wait_fd(stream.raw_fd(), true, false, deadline)?
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::io(stream.peer(), &e)),
        }
    }
}
