//! Throughput of the STOMP codec: `cargo bench --bench codec`.
//!
//! Plain `Instant` timing, about half a second per case, so the whole run takes a few
//! seconds. Three frames stand for the hot paths: a small SEND (publishing), a MESSAGE
//! with a 64 KiB body (receiving large messages), and a small MESSAGE as RabbitMQ
//! delivers it (a consumer paced by its broker decodes one per wake-up).
//!
//! The 64 KiB cases are memcpy within the CPU caches (each decoded body is freed before
//! the next is allocated, so the allocator hands back the same warm block); over a real
//! socket memory bandwidth and the kernel copy dominate instead.

use std::hint::black_box;
use std::time::{Duration, Instant};

use stompws::frame::{Decoded, Decoder, FrameWriter, Limits, Version};
use stompws::Frame;

const TIME_PER_CASE: Duration = Duration::from_millis(500);

/// Calls `f` (which handles `frames` frames of `bytes` wire bytes in all) until
/// `TIME_PER_CASE` has passed, and prints the rates.
fn run(name: &str, frames: usize, bytes: usize, mut f: impl FnMut()) {
    f(); // warm caches and the buffers `f` reuses
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < TIME_PER_CASE {
        for _ in 0..16 {
            f();
        }
        calls += 16;
    }
    let secs = start.elapsed().as_secs_f64();
    let frames_per_s = (calls as f64 * frames as f64) / secs;
    let mb_per_s = (calls as f64 * bytes as f64) / secs / 1e6;
    println!("{name:<54} {frames_per_s:>10.0} frames/s {mb_per_s:>8.1} MB/s");
}

fn send_frame() -> Frame {
    Frame::new("SEND")
        .with_header("destination", "/queue/bench")
        .with_header("content-type", "application/octet-stream")
        .with_header("receipt", "r-1")
        .with_body(&[b'x'; 128])
}

fn message_frame() -> Frame {
    Frame::new("MESSAGE")
        .with_header("destination", "/queue/bench")
        .with_header("message-id", "T_sub-0@@session-Xa1bc@@1")
        .with_header("subscription", "sub-0")
        .with_header("ack", "T_sub-0@@session-Xa1bc@@1")
        .with_header("redelivered", "false")
        .with_header("content-type", "application/octet-stream")
        .with_body(&vec![0xa5; 64 * 1024])
}

/// A small MESSAGE as RabbitMQ delivers it (the consume case of benches/rabbitmq-cpu.sh).
fn rabbitmq_message() -> Frame {
    Frame::new("MESSAGE")
        .with_header("subscription", "0")
        .with_header("destination", "/queue/firehose")
        .with_header("message-id", "T_0@@session-JisEQYqmVelL9uHZ8biWGQ@@1")
        .with_header("redelivered", "false")
        .with_body(&[b'x'; 128])
}

fn bench_encode(name: &str, frame: &Frame) {
    let mut wire = Vec::new();
    frame.encode(Version::V1_2, true, &mut wire);
    let len = wire.len();
    // A batch of frames per call, as when the I/O thread fills its write buffer.
    let batch = (1 << 20) / len + 1;
    let mut out = Vec::with_capacity(batch * len);
    run(
        &format!("encode {name} (Frame::encode)"),
        batch,
        batch * len,
        || {
            out.clear();
            for _ in 0..batch {
                black_box(frame).encode(Version::V1_2, true, &mut out);
            }
            black_box(&out);
        },
    );
    let headers: Vec<(&str, &str)> = frame.headers().collect();
    let body = frame.body();
    run(
        &format!("encode {name} (FrameWriter)"),
        batch,
        batch * len,
        || {
            out.clear();
            for _ in 0..batch {
                let mut w = FrameWriter::new(&mut out, frame.command(), Version::V1_2);
                for &(n, v) in black_box(&headers) {
                    w.header(n, v);
                }
                w.content_length(body.len());
                w.finish(black_box(body));
            }
            black_box(&out);
        },
    );
}

fn bench_decode(name: &str, frame: &Frame) {
    let mut one = Vec::new();
    frame.encode(Version::V1_2, true, &mut one);
    let batch = (1 << 20) / one.len() + 1;
    let wire = one.repeat(batch);
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_version(Version::V1_2);
    run(&format!("decode {name}"), batch, wire.len(), || {
        let mut input = &wire[..];
        let mut n = 0;
        while let Some(item) = decoder.decode(&mut input).expect("valid frames") {
            if let Decoded::Frame(f) = item {
                black_box(&f);
                n += 1;
            }
        }
        assert_eq!(n, batch);
    });
    // As off a socket: 16 KiB reads that cut frames anywhere.
    run(
        &format!("decode {name} (16 KiB reads)"),
        batch,
        wire.len(),
        || {
            for chunk in wire.chunks(16 * 1024) {
                let mut input = chunk;
                while let Some(item) = decoder.decode(&mut input).expect("valid frames") {
                    black_box(item);
                }
            }
        },
    );
}

fn main() {
    let send = send_frame();
    let message = message_frame();
    bench_encode("SEND 3 headers, 128 B body", &send);
    bench_decode("SEND 3 headers, 128 B body", &send);
    bench_decode("MESSAGE from RabbitMQ, 128 B body", &rabbitmq_message());
    bench_encode("MESSAGE 6 headers, 64 KiB body", &message);
    bench_decode("MESSAGE 6 headers, 64 KiB body", &message);
}
