//! Unit and property tests of the codec.

use super::version::escapes_headers;
use super::*;
use crate::{Error, Result};
use proptest::prelude::*;

const ALL_VERSIONS: [Version; 3] = [Version::V1_0, Version::V1_1, Version::V1_2];

fn decoder(version: Option<Version>) -> Decoder {
    let mut d = Decoder::new(Limits::default());
    if let Some(v) = version {
        d.set_version(v);
    }
    d
}

/// Everything `input` decodes to, fed at once; the error if there is one.
fn decode_all(version: Option<Version>, input: &[u8]) -> Result<Vec<Decoded>> {
    let mut d = decoder(version);
    let mut input = input;
    let mut out = Vec::new();
    while let Some(item) = d.decode(&mut input)? {
        out.push(item);
    }
    assert!(input.is_empty(), "Ok(None) before the input was used up");
    Ok(out)
}

/// The single frame `input` holds; fails the test otherwise.
fn one(version: Option<Version>, input: &[u8]) -> Frame {
    match decode_all(version, input) {
        Ok(mut items) if items.len() == 1 => match items.pop() {
            Some(Decoded::Frame(f)) => f,
            other => panic!("expected a frame, got {other:?}"),
        },
        other => panic!("expected one frame, got {other:?}"),
    }
}

/// The protocol error `input` causes; fails the test otherwise.
fn error(version: Option<Version>, input: &[u8]) -> String {
    error_with(decoder(version), input)
}

fn error_with(mut d: Decoder, input: &[u8]) -> String {
    let mut input = input;
    loop {
        match d.decode(&mut input) {
            Err(Error::Protocol(msg)) => return msg,
            Err(e) => panic!("expected a protocol error, got {e:?}"),
            Ok(Some(_)) => continue,
            Ok(None) => panic!("expected a protocol error, got none"),
        }
    }
}

fn encoded(frame: &Frame, version: Version, content_length: bool) -> Vec<u8> {
    let mut out = Vec::new();
    frame.encode(version, content_length, &mut out);
    out
}

fn headers(f: &Frame) -> Vec<(&str, &str)> {
    f.headers().collect()
}

/// Frames and heart-beats decoded from `chunks` fed one after another, and whether the
/// stream ended in an error.
fn outcome(
    version: Option<Version>,
    limits: Limits,
    chunks: &[&[u8]],
) -> (Vec<Decoded>, Option<String>) {
    outcome_of(limited_decoder(version, limits), chunks)
}

fn limited_decoder(version: Option<Version>, limits: Limits) -> Decoder {
    let mut d = Decoder::new(limits);
    if let Some(v) = version {
        d.set_version(v);
    }
    d
}

/// What `d` decodes from `chunks`, as `outcome`.
fn outcome_of(mut d: Decoder, chunks: &[&[u8]]) -> (Vec<Decoded>, Option<String>) {
    let mut items = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            match d.decode(&mut input) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {
                    assert!(input.is_empty());
                    break;
                }
                Err(e) => {
                    // Errors are sticky.
                    assert_eq!(d.decode(&mut &b"\n"[..]), Err(e.clone()));
                    return (items, Some(e.to_string()));
                }
            }
        }
    }
    (items, None)
}

/// Cuts `bytes` into pieces of the given sizes (cycled; 0 means 1).
fn split<'a>(bytes: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes
            .get(i % sizes.len().max(1))
            .copied()
            .unwrap_or(1)
            .max(1);
        let (a, b) = rest.split_at(n.min(rest.len()));
        out.push(a);
        rest = b;
        i += 1;
    }
    out
}

// ---------------------------------------------------------------- Version

#[test]
fn version_strings() {
    for v in ALL_VERSIONS {
        assert_eq!(Version::parse(v.as_str()), Some(v));
    }
    assert_eq!(Version::V1_2.subprotocol(), "v12.stomp");
    assert_eq!(Version::parse("2.0"), None);
}

// ---------------------------------------------------------------- the spec's examples

#[test]
fn spec_connect_frame() {
    let f = one(
        None,
        b"CONNECT\naccept-version:1.2\nhost:stomp.github.org\n\n\0",
    );
    assert_eq!(f.command(), "CONNECT");
    assert_eq!(
        headers(&f),
        [("accept-version", "1.2"), ("host", "stomp.github.org")]
    );
    assert_eq!(f.body(), b"");
}

#[test]
fn spec_connected_frame() {
    let f = one(None, b"CONNECTED\nversion:1.2\n\n\0");
    assert_eq!(f.command(), "CONNECTED");
    assert_eq!(f.header("version"), Some("1.2"));
}

#[test]
fn spec_send_frame() {
    let f = one(
        Some(Version::V1_2),
        b"SEND\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\n\0",
    );
    assert_eq!(f.command(), "SEND");
    assert_eq!(f.header("destination"), Some("/queue/a"));
    assert_eq!(f.header("content-type"), Some("text/plain"));
    assert_eq!(f.body(), b"hello queue a\n");
}

#[test]
fn spec_subscribe_and_message_and_receipt_frames() {
    let input = b"SUBSCRIBE\nid:0\ndestination:/queue/foo\nack:client\n\n\0\
MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\ncontent-type:text/plain\n\nhello queue a\0\
RECEIPT\nreceipt-id:message-12345\n\n\0";
    let items = decode_all(Some(Version::V1_2), input).unwrap();
    let frames: Vec<&Frame> = items
        .iter()
        .map(|i| match i {
            Decoded::Frame(f) => f,
            Decoded::Heartbeat => panic!("no heart-beat here"),
        })
        .collect();
    assert_eq!(frames.len(), 3);
    assert_eq!(frames[0].header("ack"), Some("client"));
    assert_eq!(frames[1].command(), "MESSAGE");
    assert_eq!(frames[1].header("message-id"), Some("007"));
    assert_eq!(frames[1].body(), b"hello queue a");
    assert_eq!(frames[2].header("receipt-id"), Some("message-12345"));
}

#[test]
fn spec_error_frame() {
    let body = "The message:\n-----\nMESSAGE\ndestined:/queue/a\nreceipt:message-12345\n\n\
Hello queue a!\n-----\nDid not contain a destination header, which is REQUIRED\n\
for message propagation.\n";
    // The spec prints content-length:171 for this body; as rendered it is 170 bytes.
    let input = format!(
        "ERROR\nreceipt-id:message-12345\ncontent-type:text/plain\ncontent-length:{}\n\
message: malformed frame received\n\n{body}\0",
        body.len()
    );
    let f = one(Some(Version::V1_2), input.as_bytes());
    assert_eq!(f.command(), "ERROR");
    // The leading space is part of the value on 1.2.
    assert_eq!(f.header("message"), Some(" malformed frame received"));
    assert_eq!(f.body(), body.as_bytes());
}

#[test]
fn spec_repeated_headers_first_wins() {
    let f = one(
        Some(Version::V1_2),
        b"MESSAGE\nsubscription:0\nmessage-id:007\ndestination:/queue/a\nfoo:World\nfoo:Hello\n\n\0",
    );
    assert_eq!(f.header("foo"), Some("World"));
    assert_eq!(f.header_count(), 5);
    assert_eq!(f.header_at(3), Some(("foo", "World")));
    assert_eq!(f.header_at(4), Some(("foo", "Hello")));
    assert_eq!(f.header_at(5), None);
}

// ---------------------------------------------------------------- escaping

const AWKWARD: &str = "a\\b\nc:d\re";

#[test]
fn encode_escapes_per_version() {
    let f = Frame::new("SEND").with_header("k:1", AWKWARD);
    assert_eq!(
        encoded(&f, Version::V1_0, false),
        b"SEND\nk:1:a\\b\nc:d\re\n\n\0"
    );
    assert_eq!(
        encoded(&f, Version::V1_1, false),
        b"SEND\nk\\c1:a\\\\b\\nc\\cd\re\n\n\0"
    );
    assert_eq!(
        encoded(&f, Version::V1_2, false),
        b"SEND\nk\\c1:a\\\\b\\nc\\cd\\re\n\n\0"
    );
}

#[test]
fn connect_stomp_connected_are_never_escaped() {
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        let f = Frame::new(command).with_header("passcode", "a\\b:c");
        for v in ALL_VERSIONS {
            let wire = encoded(&f, v, false);
            assert_eq!(wire, format!("{command}\npasscode:a\\b:c\n\n\0").as_bytes());
            assert_eq!(one(Some(v), &wire), f);
        }
    }
}

#[test]
fn decode_unescapes_1_1() {
    let f = one(Some(Version::V1_1), b"MESSAGE\nk\\c1:a\\\\b\\nc\\cd\n\n\0");
    assert_eq!(headers(&f), [("k:1", "a\\b\nc:d")]);
}

#[test]
fn decode_unescapes_1_2_including_cr() {
    let f = one(
        Some(Version::V1_2),
        b"MESSAGE\nk\\c1:a\\\\b\\nc\\cd\\re\n\n\0",
    );
    assert_eq!(headers(&f), [("k:1", AWKWARD)]);
}

#[test]
fn escaped_backslash_is_not_reread() {
    // `\\n` is a backslash then `n`, not a backslash then a line feed.
    for v in [Version::V1_1, Version::V1_2] {
        let f = one(Some(v), b"MESSAGE\nx:\\\\n\\\\c\\\\\\\\\n\n\0");
        assert_eq!(f.header("x"), Some("\\n\\c\\\\"));
    }
}

#[test]
fn cr_escape_is_undefined_on_1_1() {
    let msg = error(Some(Version::V1_1), b"MESSAGE\nx:a\\rb\n\n\0");
    assert!(msg.contains("undefined escape \"\\\\r\""), "{msg}");
}

#[test]
fn undefined_escapes_are_errors() {
    for v in [Version::V1_1, Version::V1_2] {
        for line in [
            &b"x:a\\tb"[..],
            b"x:\\",
            b"x\\:a",
            b"x:a\\ b",
            b"x:\\\xc3\xa9",
            b"x\\",
        ] {
            let mut input = b"MESSAGE\n".to_vec();
            input.extend_from_slice(line);
            input.extend_from_slice(b"\n\n\0");
            let msg = error(Some(v), &input);
            assert!(
                msg.contains("escape") || msg.contains("backslash") || msg.contains("':'"),
                "{msg}"
            );
        }
    }
    let msg = error(Some(Version::V1_2), b"MESSAGE\nx:a\\\n\n\0");
    assert!(msg.contains("lone backslash"), "{msg}");
}

#[test]
fn nothing_is_unescaped_on_1_0() {
    let f = one(Some(Version::V1_0), b"MESSAGE\nx:a\\tb\\c\\n\\\n\n\0");
    assert_eq!(f.header("x"), Some("a\\tb\\c\\n\\"));
}

#[test]
fn connected_is_not_unescaped() {
    for v in [None, Some(Version::V1_1), Some(Version::V1_2)] {
        let f = one(v, b"CONNECTED\nversion:1.2\nserver:a\\cb\\t\n\n\0");
        assert_eq!(f.header("server"), Some("a\\cb\\t"));
    }
}

#[test]
fn nothing_is_unescaped_before_the_version_is_set() {
    let f = one(None, b"ERROR\nmessage:bad\\cthing\\t\n\n\0");
    assert_eq!(f.header("message"), Some("bad\\cthing\\t"));
}

#[test]
fn escaped_header_names() {
    let f = one(Some(Version::V1_2), b"MESSAGE\na\\cb\\n:v\n\n\0");
    assert_eq!(headers(&f), [("a:b\n", "v")]);
}

// ---------------------------------------------------------------- header lines

#[test]
fn values_are_never_trimmed() {
    for v in [
        None,
        Some(Version::V1_0),
        Some(Version::V1_1),
        Some(Version::V1_2),
    ] {
        let f = one(v, b"MESSAGE\n key : value \t\n\n\0");
        assert_eq!(headers(&f), [(" key ", " value \t")]);
    }
}

#[test]
fn header_lines_split_on_the_first_colon() {
    let f = one(
        Some(Version::V1_0),
        b"MESSAGE\na:b:c\nempty:\n:no-name\n\n\0",
    );
    assert_eq!(headers(&f), [("a", "b:c"), ("empty", ""), ("", "no-name")]);
}

#[test]
fn a_header_line_without_colon_is_an_error() {
    let msg = error(Some(Version::V1_2), b"MESSAGE\nnocolon\n\n\0");
    assert!(msg.contains("has no ':'"), "{msg}");
}

#[test]
fn head_must_be_utf8() {
    let msg = error(Some(Version::V1_2), b"MESS\xffAGE\n\n\0");
    assert!(msg.contains("UTF-8"), "{msg}");
    let msg = error(Some(Version::V1_2), b"MESSAGE\nx:\xc3\n\n\0");
    assert!(msg.contains("UTF-8"), "{msg}");
    let f = one(Some(Version::V1_2), "MESSAGE\nclé:été\n\n\0".as_bytes());
    assert_eq!(f.header("clé"), Some("été"));
}

#[test]
fn nul_in_the_head_is_an_error() {
    for input in [
        &b"SE\0ND\n\n\0"[..],
        b"SEND\nx:a\0b\n\n\0",
        b"SEND\nx\0",
        b"\0",
        b"SEND\n\n\0\0",
    ] {
        let msg = error(Some(Version::V1_2), input);
        assert!(msg.contains("NUL"), "{msg}");
    }
}

// ---------------------------------------------------------------- CR LF

#[test]
fn crlf_on_1_2_and_before_the_version() {
    for v in [None, Some(Version::V1_2)] {
        let items = decode_all(v, b"\r\nMESSAGE\r\nfoo:bar\r\n\r\nbody\0\r\n").unwrap();
        assert_eq!(items.len(), 3);
        assert_eq!(items[0], Decoded::Heartbeat);
        assert_eq!(items[2], Decoded::Heartbeat);
        let Decoded::Frame(f) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(f.command(), "MESSAGE");
        assert_eq!(headers(f), [("foo", "bar")]);
        assert_eq!(f.body(), b"body");
    }
}

#[test]
fn cr_is_part_of_the_value_on_1_0_and_1_1() {
    for v in [Version::V1_0, Version::V1_1] {
        let items = decode_all(Some(v), b"\r\nMESSAGE\r\nfoo:bar\r\n\r\nbody\0").unwrap();
        assert_eq!(items[0], Decoded::Heartbeat);
        let Decoded::Frame(f) = &items[1] else {
            panic!("{items:?}")
        };
        assert_eq!(f.command(), "MESSAGE");
        assert_eq!(headers(f), [("foo", "bar\r")]);
        assert_eq!(f.body(), b"body");
    }
}

#[test]
fn only_one_cr_before_lf_is_a_line_end() {
    for (v, command) in [
        (Some(Version::V1_2), "MESSAGE"),
        (Some(Version::V1_2), "CONNECTED"),
        (None, "MESSAGE"),
    ] {
        let input = format!("{command}\r\r\nfoo:a\rb\r\r\n\n\0");
        let f = one(v, input.as_bytes());
        assert_eq!(f.command(), format!("{command}\r"));
        assert_eq!(f.header("foo"), Some("a\rb\r"));
    }
}

// ---------------------------------------------------------------- bodies

#[test]
fn content_length_body_may_hold_nul_and_any_byte() {
    let body = [0u8, 0xff, b'\n', 0, 0xfe, 0];
    let mut input = b"MESSAGE\ncontent-length:6\n\n".to_vec();
    input.extend_from_slice(&body);
    input.push(0);
    for v in ALL_VERSIONS {
        let f = one(Some(v), &input);
        assert_eq!(f.body(), body);
        assert_eq!(f.header("content-length"), Some("6"));
    }
}

#[test]
fn zero_content_length() {
    let f = one(Some(Version::V1_2), b"MESSAGE\ncontent-length:0\n\n\0");
    assert_eq!(f.body(), b"");
    assert_eq!(f.size_hint(), std::mem::size_of::<Frame>() + f.text_len());
}

#[test]
fn content_length_body_must_end_with_nul() {
    let msg = error(Some(Version::V1_2), b"SEND\ncontent-length:2\n\nabc\0");
    assert!(msg.contains("not followed by a NUL"), "{msg}");
}

#[test]
fn invalid_content_length_is_an_error() {
    for value in [
        "",
        "abc",
        "-1",
        "+5",
        " 5",
        "5 ",
        "0x10",
        "1.5",
        "99999999999999999999999999",
    ] {
        let input = format!("SEND\ncontent-length:{value}\n\n\0");
        let msg = error(Some(Version::V1_2), input.as_bytes());
        assert!(msg.contains("invalid content-length"), "{value}: {msg}");
    }
}

#[test]
fn first_content_length_wins() {
    let f = one(
        Some(Version::V1_2),
        b"SEND\ncontent-length:3\ncontent-length:bogus\n\na\0b\0",
    );
    assert_eq!(f.body(), b"a\0b");
    assert_eq!(f.header("content-length"), Some("3"));
}

#[test]
fn content_length_body_may_be_a_lone_nul() {
    let f = one(Some(Version::V1_2), b"SEND\ncontent-length:1\n\n\0\0");
    assert_eq!(f.body(), b"\0");
}

#[test]
fn body_without_content_length_ends_at_the_first_nul() {
    let items = decode_all(Some(Version::V1_2), b"SEND\n\nab\0\n").unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        items[0],
        Decoded::Frame(Frame::new("SEND").with_body(b"ab"))
    );
    assert_eq!(items[1], Decoded::Heartbeat);
}

#[test]
fn body_bytes_are_kept_exactly() {
    let body: Vec<u8> = (1..=255u8).collect();
    let mut input = b"SEND\n\n".to_vec();
    input.extend_from_slice(&body);
    input.push(0);
    assert_eq!(one(None, &input).body(), body);
}

// ---------------------------------------------------------------- streams

#[test]
fn heartbeats_between_frames() {
    let items = decode_all(Some(Version::V1_2), b"\n\nA\n\n\0\n\r\nB\nx:y\n\nbody\0\n").unwrap();
    let a = Frame::new("A");
    let b = Frame::new("B").with_header("x", "y").with_body(b"body");
    assert_eq!(
        items,
        [
            Decoded::Heartbeat,
            Decoded::Heartbeat,
            Decoded::Frame(a),
            Decoded::Heartbeat,
            Decoded::Heartbeat,
            Decoded::Frame(b),
            Decoded::Heartbeat,
        ]
    );
}

#[test]
fn decode_stops_after_each_frame() {
    let mut d = decoder(Some(Version::V1_2));
    let wire = b"A\n\n\0B\n\n\0\n";
    let mut input = &wire[..];
    assert_eq!(
        d.decode(&mut input).unwrap(),
        Some(Decoded::Frame(Frame::new("A")))
    );
    assert_eq!(input, b"B\n\n\0\n");
    assert_eq!(
        d.decode(&mut input).unwrap(),
        Some(Decoded::Frame(Frame::new("B")))
    );
    assert_eq!(d.decode(&mut input).unwrap(), Some(Decoded::Heartbeat));
    assert_eq!(d.decode(&mut input).unwrap(), None);
    assert!(input.is_empty());
}

#[test]
fn one_frame_split_over_many_inputs() {
    let frame = Frame::new("MESSAGE")
        .with_header("destination", "/queue/a")
        .with_header("x", "a:b\\c\nd")
        .with_body(&[0, 1, 2, 0xff, 0, b'\n']);
    let mut wire = b"\n".to_vec();
    frame.encode(Version::V1_2, true, &mut wire);
    Frame::new("RECEIPT")
        .with_header("receipt-id", "77")
        .with_body(b"no length")
        .encode(Version::V1_2, false, &mut wire);
    let whole = outcome(Some(Version::V1_2), Limits::default(), &[&wire]);
    assert_eq!(whole.1, None);
    assert_eq!(whole.0.len(), 3);
    assert_eq!(
        whole.0[1],
        Decoded::Frame(frame.with_header("content-length", "6"))
    );
    for sizes in [&[1][..], &[2], &[3, 1, 7], &[13, 50]] {
        let chunks = split(&wire, sizes);
        assert_eq!(
            outcome(Some(Version::V1_2), Limits::default(), &chunks),
            whole
        );
    }
}

#[test]
fn empty_input_is_fine() {
    let mut d = decoder(None);
    assert_eq!(d.decode(&mut &b""[..]).unwrap(), None);
    assert_eq!(d.version(), None);
    d.set_version(Version::V1_1);
    assert_eq!(d.version(), Some(Version::V1_1));
}

#[test]
fn version_applies_from_the_next_command_line() {
    let mut d = decoder(None);
    let mut input = &b"CONNECTED\nversion:1.2\n\n\0MESSAGE\nx:a\\cb\n\n\0"[..];
    let Some(Decoded::Frame(connected)) = d.decode(&mut input).unwrap() else {
        panic!()
    };
    d.set_version(Version::parse(connected.header("version").unwrap()).unwrap());
    let Some(Decoded::Frame(msg)) = d.decode(&mut input).unwrap() else {
        panic!()
    };
    assert_eq!(msg.header("x"), Some("a:b"));
}

// ---------------------------------------------------------------- limits

fn limited(max_frame_size: usize, max_headers: usize, max_header_line: usize) -> Decoder {
    let mut d = Decoder::new(Limits {
        max_frame_size,
        max_headers,
        max_header_line,
    });
    d.set_version(Version::V1_2);
    d
}

#[test]
fn default_limits() {
    let l = Limits::default();
    assert_eq!(l.max_frame_size, 64 * 1024 * 1024);
    assert_eq!(l.max_headers, 1024);
    assert_eq!(l.max_header_line, 64 * 1024);
}

#[test]
fn huge_content_length_fails_before_the_body() {
    // No blank line and no body yet: the header alone is enough to refuse the frame.
    let mut d = decoder(Some(Version::V1_2));
    let mut input = &b"MESSAGE\ncontent-length:2147483648\n"[..];
    let msg = match d.decode(&mut input) {
        Err(Error::Protocol(msg)) => msg,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("2147483648"), "{msg}");
    assert!(d.buffered() < 1024, "{}", d.buffered());
}

#[test]
fn content_length_counts_with_the_head() {
    // Head "SEND\ncontent-length:50\n" is 23 bytes, the blank line 1 more.
    let ok = b"SEND\ncontent-length:50\n\n";
    let mut input = ok.to_vec();
    input.extend_from_slice(&[b'x'; 50]);
    input.push(0);
    let mut d = limited(74, 10, 100);
    assert!(matches!(
        d.decode(&mut &input[..]),
        Ok(Some(Decoded::Frame(_)))
    ));
    let msg = error_with(limited(73, 10, 100), &input);
    assert!(msg.contains("content-length 50"), "{msg}");
}

#[test]
fn content_length_is_rechecked_after_later_headers() {
    let input = b"SEND\ncontent-length:10\nx:0123456789\n\n0123456789\0";
    let msg = error_with(limited(40, 10, 100), input);
    assert!(msg.contains("content-length 10"), "{msg}");
    assert!(matches!(
        limited(48, 10, 100).decode(&mut &input[..]),
        Ok(Some(_))
    ));
}

#[test]
fn body_without_content_length_is_limited() {
    // "SEND\n\n" is 6 bytes of head.
    let mut input = b"SEND\n\n".to_vec();
    input.extend_from_slice(&[b'x'; 58]);
    input.push(0);
    assert!(matches!(
        limited(64, 10, 100).decode(&mut &input[..]),
        Ok(Some(_))
    ));
    // Fed in pieces, the error comes as soon as the body grows past the limit.
    let mut d = limited(63, 10, 100);
    assert_eq!(d.decode(&mut &input[..40]), Ok(None));
    let msg = match d.decode(&mut &input[40..64]) {
        Err(Error::Protocol(msg)) => msg,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("larger than the limit of 63"), "{msg}");
}

#[test]
fn header_count_is_limited() {
    let input = b"SEND\na:1\nb:2\n\n\0";
    assert!(matches!(
        limited(1000, 2, 100).decode(&mut &input[..]),
        Ok(Some(_))
    ));
    let msg = error_with(limited(1000, 1, 100), input);
    assert!(msg.contains("more than the limit of 1 headers"), "{msg}");
}

#[test]
fn line_length_is_limited() {
    let input = b"SEND\nabcd:1234\n\n\0";
    assert!(matches!(
        limited(1000, 10, 9).decode(&mut &input[..]),
        Ok(Some(_))
    ));
    let msg = error_with(limited(1000, 10, 8), input);
    assert!(msg.contains("header line is longer"), "{msg}");
    let msg = error_with(limited(1000, 10, 3), input);
    assert!(msg.contains("command line is longer"), "{msg}");
    // A line that never ends is refused before it can grow past the limit.
    let mut d = limited(1 << 30, 10, 100);
    for _ in 0..10 {
        assert_eq!(d.decode(&mut &[b'A'; 10][..]), Ok(None));
    }
    assert!(d.decode(&mut &b"A"[..]).is_err());
    assert!(d.buffered() <= 200, "{}", d.buffered());
}

#[test]
fn header_section_is_limited() {
    let mut input = b"SEND\n".to_vec();
    for i in 0..20 {
        input.extend_from_slice(format!("header{i}:value\n").as_bytes());
    }
    input.extend_from_slice(b"\n\0");
    let msg = error_with(limited(100, 100, 100), &input);
    assert!(msg.contains("header section exceed"), "{msg}");
    assert!(matches!(
        limited(input.len(), 100, 100).decode(&mut &input[..]),
        Ok(Some(_))
    ));
}

#[test]
fn errors_are_sticky() {
    let mut d = decoder(Some(Version::V1_2));
    let e = d.decode(&mut &b"SEND\nbad\n"[..]).unwrap_err();
    assert_eq!(d.decode(&mut &b"SEND\n\n\0"[..]), Err(e));
}

// ---------------------------------------------------------------- Frame

#[test]
fn frame_builder_and_accessors() {
    let mut f = Frame::new("SEND")
        .with_header("a", "1")
        .with_header("b", "");
    f.add_header("a", "2");
    let f = f.with_body(b"xyz");
    assert_eq!(f.command(), "SEND");
    assert_eq!(f.header("a"), Some("1"));
    assert_eq!(f.header("b"), Some(""));
    assert_eq!(f.header("c"), None);
    assert_eq!(headers(&f), [("a", "1"), ("b", ""), ("a", "2")]);
    assert_eq!(f.header_count(), 3);
    assert_eq!(f.header_at(2), Some(("a", "2")));
    assert_eq!(f.header_at(3), None);
    assert_eq!(f.body(), b"xyz");
    assert!(f.size_hint() >= std::mem::size_of::<Frame>() + 3);
    assert_eq!(f.clone().with_body(b"").body(), b"");
    assert_eq!(f.into_body(), b"xyz");
    assert_eq!(Frame::new("X").into_body(), b"");
}

#[test]
fn headers_added_after_the_body_go_before_it() {
    let mut f = Frame::new("SEND").with_body(b"b\0dy");
    f.add_header("a", "1");
    f.add_header("x\0", "é");
    assert_eq!(headers(&f), [("a", "1"), ("x\u{FFFD}", "é")]);
    assert_eq!(f.body(), b"b\0dy");
    assert_eq!(f.body_with_nul(), b"b\0dy\0");
    assert_eq!(f.header_cstr(b"a"), Some(c"1"));
    assert_eq!(
        f,
        Frame::new("SEND")
            .with_header("a", "1")
            .with_header("x\0", "é")
            .with_body(b"b\0dy")
    );
    assert_eq!(f.clone().into_body(), b"b\0dy");
    let f = f.with_body(b"");
    assert_eq!((f.body(), f.body_with_nul()), (&b""[..], &b"\0"[..]));
    assert_eq!(f.header_at(1), Some(("x\u{FFFD}", "é")));
    assert_eq!(f.into_body(), b"");
}

#[test]
fn frame_c_strings() {
    let f = Frame::new("MESSAGE")
        .with_header("a", "1")
        .with_header("", "")
        .with_header("a", "2");
    assert_eq!(f.command_cstr(), c"MESSAGE");
    assert_eq!(f.header_cstr(b"a"), Some(c"1"));
    assert_eq!(f.header_cstr(b""), Some(c""));
    assert_eq!(f.header_cstr(b"b"), None);
    assert_eq!(f.header_at_cstr(0), Some((c"a", c"1")));
    assert_eq!(f.header_at_cstr(1), Some((c"", c"")));
    assert_eq!(f.header_at_cstr(2), Some((c"a", c"2")));
    assert_eq!(f.header_at_cstr(3), None);
    assert_eq!(f.body_with_nul(), b"\0");
    let f = f.with_body(b"hi");
    assert_eq!(f.body_with_nul(), b"hi\0");
    assert_eq!(f.body(), b"hi");
    let decoded = one(Some(Version::V1_2), b"M\nk:v\n\n\0");
    assert_eq!(decoded.header_at_cstr(0), Some((c"k", c"v")));
    assert_eq!(decoded.body_with_nul(), b"\0");
}

#[test]
fn nul_cannot_enter_a_frame_head() {
    let f = Frame::new("SE\0ND").with_header("a\0", "\0b");
    assert_eq!(f.command(), "SE\u{FFFD}ND");
    assert_eq!(headers(&f), [("a\u{FFFD}", "\u{FFFD}b")]);
    assert_eq!(
        f.header_at_cstr(0).unwrap().1.to_bytes(),
        "\u{FFFD}b".as_bytes()
    );
}

#[test]
fn frame_debug_abbreviates_the_body() {
    let f = Frame::new("MESSAGE")
        .with_header("id", "7")
        .with_body(&[b'x'; 100_000]);
    let s = format!("{f:?}");
    assert!(
        s.starts_with(
            "Frame { command: \"MESSAGE\", headers: [(\"id\", \"7\")], body: 100000 bytes b\"xxxx"
        ),
        "{s}"
    );
    assert!(s.ends_with("...\" }"), "{s}");
    assert!(s.len() < 150, "{s}");
    let s = format!(
        "{:?}",
        Frame::new("CONNECT").with_header("passcode", "secret")
    );
    assert!(s.contains("(\"passcode\", \"<redacted>\")"), "{s}");
    assert!(!s.contains("secret"), "{s}");
    let s = format!("{:?}", Frame::new("R").with_body(b"\0\xff"));
    assert!(s.contains("2 bytes b\"\\x00\\xff\""), "{s}");
}

#[test]
fn decoded_frames_equal_built_ones() {
    let f = one(Some(Version::V1_2), b"MESSAGE\na:1\na:2\n\nbody\0");
    assert_eq!(
        f,
        Frame::new("MESSAGE")
            .with_header("a", "1")
            .with_header("a", "2")
            .with_body(b"body")
    );
    assert_ne!(
        f,
        Frame::new("MESSAGE")
            .with_header("a", "1")
            .with_body(b"body")
    );
}

// ---------------------------------------------------------------- encoding

#[test]
fn content_length_is_added_once_when_asked() {
    let f = Frame::new("SEND").with_body(b"a\0b");
    assert_eq!(encoded(&f, Version::V1_2, false), b"SEND\n\na\0b\0");
    assert_eq!(
        encoded(&f, Version::V1_2, true),
        b"SEND\ncontent-length:3\n\na\0b\0"
    );
    let f = f.with_header("content-length", "3");
    assert_eq!(
        encoded(&f, Version::V1_2, true),
        b"SEND\ncontent-length:3\n\na\0b\0"
    );
    let empty = Frame::new("DISCONNECT");
    assert_eq!(
        encoded(&empty, Version::V1_0, true),
        b"DISCONNECT\ncontent-length:0\n\n\0"
    );
}

#[test]
fn encode_appends() {
    let mut out = b"\n".to_vec();
    Frame::new("A").encode(Version::V1_2, false, &mut out);
    Frame::new("B").encode(Version::V1_2, false, &mut out);
    assert_eq!(out, b"\nA\n\n\0B\n\n\0");
}

#[test]
fn writer_content_length_digits() {
    for n in [0usize, 9, 10, 12345, usize::MAX] {
        let mut out = Vec::new();
        let mut w = FrameWriter::new(&mut out, "X", Version::V1_2);
        w.content_length(n);
        w.finish(b"");
        assert_eq!(out, format!("X\ncontent-length:{n}\n\n\0").as_bytes());
    }
}

#[test]
fn writer_matches_frame_encode() {
    let body = b"body\0with nul";
    for v in ALL_VERSIONS {
        for command in ["SEND", "CONNECT", "STOMP", "CONNECTED"] {
            let frame = Frame::new(command)
                .with_header("destination", "/queue/a")
                .with_header("k:1", AWKWARD)
                .with_body(body);
            let mut out = Vec::new();
            let mut w = FrameWriter::new(&mut out, command, v);
            w.header("destination", "/queue/a")
                .header("k:1", AWKWARD)
                .content_length(body.len());
            w.finish(body);
            assert_eq!(out, encoded(&frame, v, true), "{v:?} {command}");
        }
    }
}

// ---------------------------------------------------------------- check_header

fn invalid(name: &str, value: &str, version: Version, command: &str) -> String {
    match check_header(name, value, version, command) {
        Err(Error::InvalidArgument(msg)) => msg,
        other => panic!("{name:?}:{value:?} on {version:?} {command}: {other:?}"),
    }
}

#[test]
fn check_header_rules() {
    for v in ALL_VERSIONS {
        for command in ["SEND", "CONNECT"] {
            assert!(invalid("", "x", v, command).contains("name is empty"));
            assert!(invalid("a\0", "x", v, command).contains("NUL"));
            assert!(invalid("a", "x\0", v, command).contains("NUL"));
            check_header("a", "b:c d\\e", v, command).unwrap();
        }
    }
    for command in ["SEND", "CONNECT"] {
        let msg = invalid("a", "x\ny", Version::V1_0, command);
        assert!(
            msg.contains("line break") && msg.contains("STOMP 1.0"),
            "{msg}"
        );
        let msg = invalid("a\r", "x", Version::V1_0, command);
        assert!(msg.contains("line break"), "{msg}");
        let msg = invalid("a:b", "x", Version::V1_0, command);
        assert!(msg.contains("':'"), "{msg}");
    }
    for command in ["CONNECT", "STOMP", "CONNECTED"] {
        for v in [Version::V1_1, Version::V1_2] {
            let msg = invalid("login", "a\rb", v, command);
            assert!(msg.contains(&format!("in a {command} frame")), "{msg}");
            invalid("a:b", "x", v, command);
        }
    }
    for v in [Version::V1_1, Version::V1_2] {
        check_header("a:b\n\r\\", "x\r\n:\\", v, "SEND").unwrap();
    }
}

#[test]
fn check_value_judges_a_value_as_check_header_does() {
    for v in ALL_VERSIONS {
        for command in ["SEND", "SUBSCRIBE", "CONNECT"] {
            for value in ["/queue/a", "x\0y", "x\ny", "a\rb", "a:b\\c", ""] {
                assert_eq!(
                    version::check_value("destination", value, v, command),
                    check_header("destination", value, v, command),
                    "{value:?} on {v:?} {command}"
                );
            }
        }
    }
}

#[test]
fn own_header_writes_the_name_as_it_is_and_escapes_the_value() {
    for v in ALL_VERSIONS {
        for value in ["/queue/a", "a:b\nc\\d\re"] {
            let (mut own, mut any) = (Vec::new(), Vec::new());
            let mut w = FrameWriter::new(&mut own, "SEND", v);
            w.own_header("destination", value);
            w.finish(b"");
            let mut w = FrameWriter::new(&mut any, "SEND", v);
            w.header("destination", value);
            w.finish(b"");
            assert_eq!(own, any, "{value:?} on {v:?}");
        }
    }
}

// ---------------------------------------------------------------- properties

fn version() -> impl Strategy<Value = Version> {
    prop_oneof![
        Just(Version::V1_0),
        Just(Version::V1_1),
        Just(Version::V1_2)
    ]
}

fn command() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        &[
            "SEND",
            "MESSAGE",
            "ERROR",
            "RECEIPT",
            "CONNECT",
            "STOMP",
            "CONNECTED",
            "x",
        ][..],
    )
}

/// Frames as the application builds them, some of whose headers STOMP cannot carry on
/// a given version; `carried` drops those.
fn raw_frame() -> impl Strategy<Value = (&'static str, Vec<(String, String)>, Vec<u8>)> {
    let text = "[a-z:\\\\\r\n é-]{0,8}";
    (
        command(),
        prop::collection::vec((text, text), 0..6),
        prop::collection::vec(any::<u8>(), 0..64),
    )
}

fn carried(
    version: Version,
    (command, headers, body): &(&'static str, Vec<(String, String)>, Vec<u8>),
    content_length: bool,
) -> (Frame, Frame) {
    let mut frame = Frame::new(command);
    for (name, value) in headers {
        if check_header(name, value, version, command).is_ok() && name != "content-length" {
            frame.add_header(name, value);
        }
    }
    let frame = frame.with_body(body);
    let expected = if content_length {
        frame
            .clone()
            .with_header("content-length", &body.len().to_string())
    } else {
        frame.clone()
    };
    (frame, expected)
}

fn limits() -> impl Strategy<Value = Limits> {
    prop_oneof![
        Just(Limits::default()),
        (1usize..300, 0usize..8, 0usize..40).prop_map(|(f, h, l)| Limits {
            max_frame_size: f,
            max_headers: h,
            max_header_line: l,
        }),
    ]
}

fn maybe_version() -> impl Strategy<Value = Option<Version>> {
    prop::option::of(version())
}

/// `frame` encoded and decoded again (`None` if that fails). Returned unchanged when it
/// holds a CR the decoder would drop and no encoding can protect: one ending the command,
/// or one ending a header value where CR LF is a line end and the frame is not escaped.
fn reencoded(frame: &Frame, version: Option<Version>) -> Option<Frame> {
    let ends_in_cr = |s: &str| s.ends_with('\r');
    let crlf = matches!(version, None | Some(Version::V1_2));
    let escaped = version.is_some_and(|v| escapes_headers(v, frame.command()));
    if ends_in_cr(frame.command())
        || (crlf && !escaped && frame.headers().any(|(_, v)| ends_in_cr(v)))
    {
        return Some(frame.clone());
    }
    let wire = encoded(frame, version.unwrap_or(Version::V1_0), false);
    match decode_all(version, &wire) {
        Ok(mut items) if items.len() == 1 => match items.pop() {
            Some(Decoded::Frame(f)) => Some(f),
            _ => None,
        },
        _ => None,
    }
}

/// Outcome with errors reduced to "failed": where the input is split may change which
/// limit is noticed first, never whether the stream fails or what it held before that.
fn coarse(o: (Vec<Decoded>, Option<String>)) -> (Vec<Decoded>, bool) {
    (o.0, o.1.is_some())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(
        version in version(),
        frames in prop::collection::vec((raw_frame(), any::<bool>(), 0usize..3), 1..5),
        sizes in prop::collection::vec(0usize..40, 1..8),
    ) {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        for (raw, content_length, heartbeats) in &frames {
            // Without content-length a body ends at its first NUL.
            let content_length = *content_length || raw.2.contains(&0);
            let (frame, decoded) = carried(version, raw, content_length);
            for _ in 0..*heartbeats {
                wire.extend_from_slice(b"\n");
                expected.push(Decoded::Heartbeat);
            }
            frame.encode(version, content_length, &mut wire);
            expected.push(Decoded::Frame(decoded));
        }
        let chunks = split(&wire, &sizes);
        prop_assert_eq!(outcome(Some(version), Limits::default(), &chunks), (expected.clone(), None));
        prop_assert_eq!(outcome(Some(version), Limits::default(), &[&wire]), (expected, None));
    }

    #[test]
    fn writer_equals_encode(version in version(), raw in raw_frame(), content_length: bool) {
        let (command, headers, body) = &raw;
        let frame = headers
            .iter()
            .fold(Frame::new(command), |f, (n, v)| f.with_header(n, v))
            .with_body(body);
        let mut out = Vec::new();
        let mut w = FrameWriter::new(&mut out, command, version);
        for (n, v) in headers {
            w.header(n, v);
        }
        if content_length && frame.header("content-length").is_none() {
            w.content_length(body.len());
        }
        w.finish(body);
        prop_assert_eq!(out, encoded(&frame, version, content_length));
    }

    #[test]
    fn random_bytes_never_panic_and_split_does_not_matter(
        version in maybe_version(),
        limits in limits(),
        bytes in prop::collection::vec(
            prop_oneof![
                4 => any::<u8>(),
                4 => prop::sample::select(&b"\n\r\0:\\cnrtA"[..]),
            ],
            0..300,
        ),
        sizes in prop::collection::vec(0usize..20, 1..8),
    ) {
        let whole = coarse(outcome(version, limits, &[&bytes]));
        let chunks = split(&bytes, &sizes);
        prop_assert_eq!(coarse(outcome(version, limits, &chunks)), whole.clone());
        let bytewise: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(coarse(outcome(version, limits, &bytewise)), whole.clone());
        for item in &whole.0 {
            if let Decoded::Frame(frame) = item {
                prop_assert_eq!(reencoded(frame, version), Some(frame.clone()));
            }
        }
    }

    #[test]
    fn mutated_frames_never_panic_and_split_does_not_matter(
        version in version(),
        limits in limits(),
        frames in prop::collection::vec((raw_frame(), any::<bool>()), 1..4),
        mutations in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        sizes in prop::collection::vec(0usize..20, 1..8),
    ) {
        let mut wire = Vec::new();
        for (raw, content_length) in &frames {
            carried(version, raw, *content_length).0.encode(version, *content_length, &mut wire);
        }
        for (at, byte, kind) in mutations {
            let i = at.index(wire.len() + 1);
            match kind {
                0 => wire.insert(i, byte),
                1 if i < wire.len() => { wire.remove(i); }
                _ if i < wire.len() => wire[i] = byte,
                _ => {}
            }
        }
        let whole = coarse(outcome(Some(version), limits, &[&wire]));
        let chunks = split(&wire, &sizes);
        prop_assert_eq!(coarse(outcome(Some(version), limits, &chunks)), whole.clone());
        for item in &whole.0 {
            if let Decoded::Frame(frame) = item {
                prop_assert_eq!(reencoded(frame, Some(version)), Some(frame.clone()));
            }
        }
    }
}

/// Checks that `frame.header` finds what a search of `frame.headers()` finds, for the
/// frame's names, names one byte longer or shorter, and a few others.
fn check_lookups(frame: &Frame) {
    let mut names: Vec<String> = ["", "x", "content-length", "subscription", "a\0b"]
        .map(String::from)
        .into();
    for (name, _) in frame.headers() {
        names.push(name.to_string());
        names.push(format!("{name}x"));
        let mut shorter = name.to_string();
        shorter.pop();
        names.push(shorter);
    }
    for name in &names {
        let plain = frame.headers().find(|&(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(frame.header(name), plain, "{name:?} in {frame:?}");
    }
}

#[test]
fn header_lookup_past_the_index_and_in_long_heads() {
    let mut f = Frame::new("MESSAGE");
    for i in 0..30 {
        f.add_header(&format!("h{}", i % 20), &format!("v{i}"));
    }
    check_lookups(&f);
    assert_eq!(f.header("h15"), Some("v15"));
    assert_eq!(f.header("h3"), Some("v3"));
    // A head past 64 KiB: the headers after that point are not indexed.
    let long = "x".repeat(40_000);
    let f = Frame::new("MESSAGE")
        .with_header("a", "1")
        .with_header("long", &long)
        .with_header("longer", &long)
        .with_header("b", "2")
        .with_header("a", "3")
        .with_body(b"body");
    check_lookups(&f);
    assert_eq!((f.header("b"), f.header("a")), (Some("2"), Some("1")));
    let mut wire = Vec::new();
    f.encode(Version::V1_2, true, &mut wire);
    let decoded = one(Some(Version::V1_2), &wire);
    check_lookups(&decoded);
    assert_eq!(decoded.header("b"), Some("2"));
    // A name holding a NUL is no header's name, though its bytes are in the head.
    let f = Frame::new("M").with_header("a", "b").with_header("c", "d");
    assert_eq!(f.header("a\0b"), None);
}

#[test]
fn header_lookup_agrees_with_a_plain_search() {
    let f = Frame::new("MESSAGE")
        .with_header("ab", "1")
        .with_header("a", "ab")
        .with_header("", "empty name")
        .with_header("abc", "")
        .with_header("a", "second")
        .with_header("subscription", "sub-12345678901234567890");
    for name in [
        "a",
        "ab",
        "abc",
        "",
        "abcd",
        "b",
        "subscription",
        "subscriptio",
        "second",
        "1",
    ] {
        let plain = f.headers().find(|&(n, _)| n == name).map(|(_, v)| v);
        assert_eq!(f.header(name), plain, "{name:?}");
    }
    assert_eq!(f.header("a"), Some("ab"));
    assert_eq!(f.header("abc"), Some(""));
    assert_eq!(Frame::new("RECEIPT").header("x"), None);
    check_lookups(&f);
}

// ---------------------------------------------------------------- the fast path

/// Frames and heart-beats the fast path decoded out of `input`, fed whole, and what
/// the whole stream decoded to.
fn fast_hits(version: Option<Version>, input: &[u8]) -> (usize, Vec<Decoded>) {
    let mut d = decoder(version);
    let mut input = input;
    let mut items = Vec::new();
    while let Some(item) = d.decode(&mut input).unwrap() {
        items.push(item);
    }
    (d.fast_hits, items)
}

#[test]
fn whole_frames_take_the_fast_path() {
    let v12 = Some(Version::V1_2);
    for (version, input) in [
        (
            v12,
            &b"MESSAGE\ndestination:/queue/a\ncontent-length:3\n\nabc\0"[..],
        ),
        (v12, b"MESSAGE\nsubscription:0\n\nno length\0"),
        (v12, b"RECEIPT\nreceipt-id:7\n\n\0"),
        (v12, b"MESSAGE\nx:a\\cb\\\\\\n\\r\nk\\c:v\n\n\0"),
        (Some(Version::V1_0), b"MESSAGE\nx:a\\cb\n\n\0"),
        (Some(Version::V1_1), b"MESSAGE\nx:a\rb\n\n\0"),
        (v12, b"CONNECTED\nserver:a\\b\n\n\0"),
        (None, b"CONNECTED\nversion:1.2\n\n\0"),
        (v12, b"X\n\n\0"),
        (v12, b"\n"),
        (v12, b"\r\n"),
        (v12, "MESSAGE\nclé:été\n\n\0".as_bytes()),
        (
            v12,
            b"MESSAGE\na:1\na:2\ncontent-length:1\ncontent-length:x\n\n\0\0",
        ),
    ] {
        let (hits, items) = fast_hits(version, input);
        assert_eq!((hits, items.len()), (1, 1), "{:?}", input.escape_ascii());
        let slow = outcome_of(decoder(version).without_fast_path(), &[input]);
        assert_eq!((items, None), slow, "{:?}", input.escape_ascii());
    }
}

#[test]
fn the_fast_path_leaves_the_rest_to_the_state_machine() {
    let v12 = Some(Version::V1_2);
    for input in [
        &b"MESSAGE\r\nx:1\r\n\r\nbody\0"[..], // CR LF line ends
        b"MESSAGE\nx:1\n\nbody",              // incomplete
        b"MESSAGE\ncontent-length:5\n\nbody\0",
        b"MESSAGE\nx:1\n",
        b"MESSAGE\nx:a\\tb\n\n\0", // undefined escape
        b"MESSAGE\nnocolon\n\n\0",
        b"MESSAGE\ncontent-length:-1\n\n\0",
        b"MESSAGE\ncontent-length:1\n\nab\0",
        b"MESS\xffAGE\n\n\0",
        b"MESSAGE\nx:\0\n\n\0",
    ] {
        let mut d = decoder(v12);
        let mut rest = input;
        let _ = d.decode(&mut rest);
        assert_eq!(d.fast_hits, 0, "{:?}", input.escape_ascii());
    }
    // Over a limit: refused by the state machine, with its own message.
    let input = b"SEND\na:1\nb:2\n\n\0";
    let mut d = limited(1000, 1, 100);
    let msg = match d.decode(&mut &input[..]) {
        Err(Error::Protocol(msg)) => msg,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("more than the limit of 1 headers"), "{msg}");
    assert_eq!(d.fast_hits, 0);
}

#[test]
fn frames_after_a_partial_one_return_to_the_fast_path() {
    let wire = b"A\nx:1\n\nab\0B\n\n\0C\n\n\0";
    let mut d = decoder(Some(Version::V1_2));
    let mut items = Vec::new();
    for chunk in [&wire[..5], &wire[5..]] {
        let mut input = chunk;
        while let Some(item) = d.decode(&mut input).unwrap() {
            items.push(item);
        }
    }
    assert_eq!(items.len(), 3);
    assert_eq!(d.fast_hits, 2);
}

#[test]
fn fast_path_frames_are_sized_as_the_state_machine_sizes_them() {
    let input = b"MESSAGE\nx:a\\cb\ncontent-length:4\n\nbody\0SEND\ny:z\n\nbody\0";
    let fast = outcome_of(decoder(Some(Version::V1_2)), &[input]);
    let slow = outcome_of(decoder(Some(Version::V1_2)).without_fast_path(), &[input]);
    assert_eq!(fast, slow);
    assert_eq!(sizes(&fast.0), sizes(&slow.0));
}

/// The heap size of each frame (0 for a heart-beat): equal frames may still differ in
/// their buffers' capacities, which queue limits count.
fn sizes(items: &[Decoded]) -> Vec<usize> {
    items
        .iter()
        .map(|item| match item {
            Decoded::Frame(f) => f.size_hint(),
            Decoded::Heartbeat => 0,
        })
        .collect()
}

/// One frame as a peer might put it on the wire, well formed or not: LF or CR LF line
/// ends, header text with escapes (defined or not), CRs, colons and non-ASCII, a
/// content-length that is right, wrong, invalid or absent, any body, and a NUL at the
/// end or not, after zero to two heart-beats.
fn wire_frame() -> impl Strategy<Value = Vec<u8>> {
    let eol = || prop_oneof![4 => Just("\n"), 1 => Just("\r\n")];
    let text = || {
        prop_oneof![
            24 => "[a-z/é: -]{0,8}",
            4 => "[a-z]{0,3}\\\\[\\\\nc][a-z]{0,3}",
            1 => "[a-z:\\\\\r é-]{0,8}|\\\\[\\\\ncrt]",
        ]
    };
    let content_length = prop_oneof![
        6 => Just(None),
        6 => Just(Some(String::new())), // the body's length
        1 => "[0-9]{1,3}|-1|x|99999999999999999999999".prop_map(Some),
    ];
    (
        prop::collection::vec(eol(), 0..3),
        (command(), eol()),
        prop::collection::vec(((text(), text()), eol()), 0..5),
        (content_length, 0usize..6, eol()),
        eol(),
        prop::collection::vec(prop_oneof![200 => 1u8.., 1 => Just(0u8)], 0..40),
        prop_oneof![30 => Just(Some(0u8)), 1 => Just(None), 1 => any::<u8>().prop_map(Some)],
    )
        .prop_map(
            |(heartbeats, (command, eol1), headers, (cl, cl_at, cl_eol), blank, body, end)| {
                let mut lines: Vec<String> = headers
                    .into_iter()
                    .map(|((n, v), eol)| format!("{n}:{v}{eol}"))
                    .collect();
                if let Some(cl) = cl {
                    let value = if cl.is_empty() {
                        body.len().to_string()
                    } else {
                        cl
                    };
                    let at = cl_at.min(lines.len());
                    lines.insert(at, format!("content-length:{value}{cl_eol}"));
                }
                let mut wire = heartbeats.concat().into_bytes();
                wire.extend_from_slice(
                    format!("{command}{eol1}{}{blank}", lines.concat()).as_bytes(),
                );
                wire.extend_from_slice(&body);
                wire.extend(end);
                wire
            },
        )
}

/// Streams of such frames, now and then with a few bytes changed.
fn wire_stream() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::collection::vec(wire_frame(), 1..5),
        prop_oneof![
            6 => Just(Vec::new()),
            1 => prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..3),
        ],
    )
        .prop_map(|(frames, changes)| {
            let mut wire = frames.concat();
            for (at, byte) in changes {
                if !wire.is_empty() {
                    let i = at.index(wire.len());
                    wire[i] = byte;
                }
            }
            wire
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    /// The fast path is invisible: in every split, the same frames (buffers sized the
    /// same), heart-beats and error, word for word, as the state machine alone.
    #[test]
    fn fast_path_agrees_with_the_state_machine(
        version in maybe_version(),
        limits in limits(),
        wire in wire_stream(),
        sizes_ in prop::collection::vec(0usize..64, 1..6),
    ) {
        let chunkings = [vec![&wire[..]], split(&wire, &sizes_), wire.chunks(1).collect()];
        for chunks in &chunkings {
            let fast = outcome_of(limited_decoder(version, limits), chunks);
            let slow = outcome_of(limited_decoder(version, limits).without_fast_path(), chunks);
            prop_assert_eq!(sizes(&fast.0), sizes(&slow.0));
            for item in fast.0.iter().chain(&slow.0) {
                if let Decoded::Frame(frame) = item {
                    check_lookups(frame);
                }
            }
            prop_assert_eq!(fast, slow);
        }
    }

    /// Fed whole or one byte at a time (when the fast path can never see a whole
    /// frame), a stream gives the same frames and heart-beats, and fails or not alike;
    /// within the default limits it fails with the same error too.
    #[test]
    fn whole_and_bytewise_agree(
        version in maybe_version(),
        limits in limits(),
        wire in wire_stream(),
    ) {
        let whole = outcome(version, limits, &[&wire]);
        let bytewise = outcome(version, limits, &wire.chunks(1).collect::<Vec<_>>());
        if limits.max_frame_size == Limits::default().max_frame_size {
            prop_assert_eq!(whole, bytewise);
        } else {
            prop_assert_eq!(coarse(whole), coarse(bytewise));
        }
    }
}

/// A reader that writes large bodies straight into the decoder's buffer (as the
/// connection does on plain sockets) gets the same frames as one that feeds every byte
/// through `decode`, whatever the split.
#[test]
fn body_read_into_the_frame_buffer_matches_decode() {
    let body: Vec<u8> = (0..40_000u32).map(|i| (i % 251) as u8).collect();
    let mut wire =
        format!("MESSAGE\nsubscription:0\ncontent-length:{}\n\n", body.len()).into_bytes();
    wire.extend(&body);
    wire.extend(b"\0\nMESSAGE\nsubscription:0\ncontent-length:3\n\na\0b\0\n");
    wire.extend(format!("SEND\ncontent-length:{}\n\n", body.len()).as_bytes());
    wire.extend(&body);
    wire.push(0);
    let expected = decode_all(Some(Version::V1_2), &wire).unwrap();
    for (step, take) in [
        (1, 1),
        (13, 999),
        (100, 1 << 20),
        (8192, 7),
        (1 << 20, 1 << 20),
    ] {
        let mut d = decoder(Some(Version::V1_2));
        let mut got = Vec::new();
        let mut pos = 0;
        let mut direct = 0;
        while pos < wire.len() {
            if let Some(spare) = d.body_spare(1) {
                let n = spare.len().min(take).min(wire.len() - pos);
                for (dst, &src) in spare.iter_mut().zip(&wire[pos..pos + n]) {
                    dst.write(src);
                }
                // SAFETY: the loop above wrote the first `n` bytes of `spare`.
                unsafe { d.body_filled(n) };
                pos += n;
                direct += n;
                continue;
            }
            let end = (pos + step).min(wire.len());
            let mut input = &wire[pos..end];
            while let Some(item) = d.decode(&mut input).unwrap() {
                got.push(item);
            }
            pos = end;
        }
        assert_eq!(got, expected, "step {step}, take {take}");
        if step < body.len() {
            assert!(direct > 0, "step {step}: no body byte went straight in");
        }
    }
    // Nothing to fill between frames, in a head, or in a body to the first NUL.
    let mut d = decoder(Some(Version::V1_2));
    assert!(d.body_spare(1).is_none());
    let mut input = &b"SEND\nx:y\n"[..];
    assert!(d.decode(&mut input).unwrap().is_none());
    assert!(d.body_spare(1).is_none());
    let mut input = &b"\nno length"[..];
    assert!(d.decode(&mut input).unwrap().is_none());
    assert!(d.body_spare(1).is_none());
    assert_eq!(d.body_missing(), 0);
}

#[test]
fn body_missing_counts_down_a_content_length_body_only() {
    let mut d = decoder(Some(Version::V1_2));
    assert_eq!(d.body_missing(), 0, "between frames");
    let mut input = &b"MESSAGE\nsubscription:0\ncontent-len"[..];
    assert!(d.decode(&mut input).unwrap().is_none());
    assert_eq!(d.body_missing(), 0, "in the head");
    let mut input = &b"gth:100\n\n0123456789"[..];
    assert!(d.decode(&mut input).unwrap().is_none());
    assert_eq!(d.body_missing(), 90);
    let rest = [b'x'; 90];
    let mut input = &rest[..];
    assert!(d.decode(&mut input).unwrap().is_none());
    assert_eq!(d.body_missing(), 0, "only the NUL is left");
    let mut input = &b"\0"[..];
    assert!(matches!(
        d.decode(&mut input).unwrap(),
        Some(Decoded::Frame(_))
    ));
    assert_eq!(d.body_missing(), 0);
}

#[test]
fn a_body_longer_than_its_content_length_is_refused_naming_the_header() {
    // What a server that replaced a byte that is not UTF-8 by U+FFFD (three bytes)
    // without fixing content-length sends: the length ends inside the body. Refused
    // (the frame boundary is lost), with a text that says which header was wrong.
    let mut d = decoder(Some(Version::V1_2));
    let mut input = &b"MESSAGE\ncontent-length:3\n\na\xef\xbf\xbdb\0"[..];
    let msg = match d.decode(&mut input) {
        Err(Error::Protocol(msg)) => msg,
        other => panic!("{other:?}"),
    };
    assert!(msg.contains("content-length 3"), "{msg}");
    assert!(msg.contains("longer than its content-length"), "{msg}");
}
