//! Feeds arbitrary bytes, cut in arbitrary places, to the frame decoder.
//!
//! Input layout: one control byte (version, limits), one seed for the cut points, then
//! the stream. Checked: no panic; the same frames and the same failure however the
//! stream is cut; every decoded frame that can be written back re-encodes to bytes that
//! decode to it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use stompws::frame::{Decoded, Decoder, Limits, Version};

fn decoder(control: u8) -> Decoder {
    let limits = if control & 4 == 0 {
        Limits::default()
    } else {
        // Small limits, so the fuzzer reaches every limit check with short inputs.
        Limits {
            max_frame_size: 64 + usize::from(control >> 3) * 8,
            max_headers: usize::from(control >> 5),
            max_header_line: 8 + usize::from(control >> 4),
        }
    };
    let mut d = Decoder::new(limits);
    match control & 3 {
        1 => d.set_version(Version::V1_0),
        2 => d.set_version(Version::V1_1),
        3 => d.set_version(Version::V1_2),
        _ => {}
    }
    d
}

/// What the chunks decode to, and whether decoding failed.
fn run(control: u8, chunks: &[&[u8]]) -> (Vec<Decoded>, bool) {
    let mut d = decoder(control);
    let mut items = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        loop {
            match d.decode(&mut input) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {
                    assert!(input.is_empty(), "Ok(None) with input left");
                    break;
                }
                Err(_) => return (items, true),
            }
        }
    }
    (items, false)
}

fuzz_target!(|data: &[u8]| {
    let [control, seed, stream @ ..] = data else {
        return;
    };
    let whole = run(*control, &[stream]);

    let mut chunks = Vec::new();
    let mut rest = stream;
    let mut state = u32::from(*seed) | 1;
    while !rest.is_empty() {
        // xorshift: cheap, deterministic cut points from one byte of input.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        let n = (state as usize % 17).clamp(1, rest.len());
        let (a, b) = rest.split_at(n);
        chunks.push(a);
        rest = b;
    }
    assert_eq!(run(*control, &chunks), whole, "split changed the result");
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(
        run(*control, &bytewise),
        whole,
        "byte-by-byte changed the result"
    );

    let version = decoder(*control).version();
    for item in &whole.0 {
        if let Decoded::Frame(frame) = item {
            // A CR right before a line feed ends the line, so the decoder drops it. A
            // command that still ends in CR, or a value that does where CR LF is a line
            // end and the frame is not escaped, cannot be written back; nothing else is
            // lost.
            let ends_in_cr = |s: &str| s.ends_with('\r');
            let crlf = matches!(version, None | Some(Version::V1_2));
            let escaped = version.is_some_and(|v| v != Version::V1_0)
                && !matches!(frame.command(), "CONNECT" | "STOMP" | "CONNECTED");
            if ends_in_cr(frame.command())
                || (crlf && !escaped && frame.headers().any(|(_, v)| ends_in_cr(v)))
            {
                continue;
            }
            let mut wire = Vec::new();
            frame.encode(version.unwrap_or(Version::V1_0), false, &mut wire);
            let mut d = Decoder::new(Limits::default());
            if let Some(v) = version {
                d.set_version(v);
            }
            let again = d.decode(&mut &wire[..]).expect("re-encoded frame decodes");
            assert_eq!(again.as_ref(), Some(item), "re-encoding changed the frame");
        }
    }
});
