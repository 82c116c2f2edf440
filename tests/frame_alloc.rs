//! Shows, with a counting global allocator, what the codec allocates: nothing big for a
//! hostile `content-length`, one allocation per received frame, none to encode.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use stompws::frame::{Decoded, Decoder, FrameWriter, Limits, Version};
use stompws::Frame;

struct Counting;

thread_local! {
    // Per thread, so tests running in parallel do not see each other's allocations.
    static COUNT: Cell<usize> = const { Cell::new(0) };
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    // try_with: allocations can happen while thread-locals are being torn down.
    let _ = COUNT.try_with(|c| c.set(c.get() + 1));
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: every call is forwarded unchanged to the system allocator; counting touches
// only const-initialised thread-locals, which do not allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract, which is System's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from System through this allocator, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: `ptr` came from System through this allocator, with this layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns its result, the number of allocations (and reallocations) it
/// made on this thread, and the largest one in bytes.
fn measure<R>(f: impl FnOnce() -> R) -> (R, usize, usize) {
    COUNT.with(|c| c.set(0));
    LARGEST.with(|l| l.set(0));
    let r = f();
    (r, COUNT.with(Cell::get), LARGEST.with(Cell::get))
}

fn message(body_len: usize) -> Vec<u8> {
    let frame = Frame::new("MESSAGE")
        .with_header("destination", "/queue/bench")
        .with_header("message-id", "T_sub-0@@session-abc@@1")
        .with_header("subscription", "sub-0")
        .with_header("ack", "T_sub-0@@session-abc@@1")
        .with_header("redelivered", "false")
        .with_header("content-type", "text/plain")
        .with_body(&vec![b'x'; body_len]);
    let mut wire = Vec::new();
    frame.encode(Version::V1_2, true, &mut wire);
    wire
}

#[test]
fn a_2_gib_content_length_is_refused_without_allocating_it() {
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_version(Version::V1_2);
    let wire = b"MESSAGE\ndestination:/queue/a\ncontent-length:2147483648\n\nxxxxxxxx";
    let (result, _, largest) = measure(|| decoder.decode(&mut &wire[..]));
    assert!(
        matches!(result, Err(stompws::Error::Protocol(_))),
        "{result:?}"
    );
    assert!(largest < 4096, "largest allocation {largest} bytes");
}

#[test]
fn a_message_costs_one_allocation() {
    let wire = message(100);
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_version(Version::V1_2);
    // The first frame sizes the decoder's reusable buffers.
    assert!(decoder.decode(&mut &wire[..]).unwrap().is_some());

    let (decoded, count, _) = measure(|| decoder.decode(&mut &wire[..]));
    let Ok(Some(Decoded::Frame(frame))) = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(frame.header_count(), 7);
    assert_eq!(count, 1, "head and body share one allocation");

    let receipt = b"RECEIPT\nreceipt-id:77\n\n\0\n";
    let mut input = &receipt[..];
    let (decoded, count, _) = measure(|| decoder.decode(&mut input));
    assert!(matches!(decoded, Ok(Some(Decoded::Frame(_)))));
    assert_eq!(count, 1, "a frame without body allocates its head");
    let (decoded, count, _) = measure(|| decoder.decode(&mut input));
    assert!(matches!(decoded, Ok(Some(Decoded::Heartbeat))));
    assert_eq!(count, 0);
}

#[test]
fn a_message_split_in_two_still_allocates_once() {
    let wire = message(64 * 1024);
    let mut decoder = Decoder::new(Limits::default());
    decoder.set_version(Version::V1_2);
    let (first, second) = wire.split_at(wire.len() / 2);
    // The first split frame sizes the reusable buffers of the decoder's state machine
    // (whole frames take the fast path, which does not use them).
    assert_eq!(decoder.decode(&mut &first[..]).unwrap(), None);
    assert!(decoder.decode(&mut &second[..]).unwrap().is_some());

    let (decoded, count, _) = measure(|| {
        assert_eq!(decoder.decode(&mut &first[..]).unwrap(), None);
        decoder.decode(&mut &second[..])
    });
    assert!(matches!(decoded, Ok(Some(Decoded::Frame(_)))));
    assert_eq!(count, 1);
}

#[test]
fn encoding_into_a_reserved_buffer_allocates_nothing() {
    let mut out = Vec::with_capacity(4096);
    let body = [b'x'; 128];
    let ((), count, _) = measure(|| {
        let mut w = FrameWriter::new(&mut out, "SEND", Version::V1_2);
        w.header("destination", "/queue/a")
            .header("receipt", "r:1")
            .content_length(body.len());
        w.finish(&body);
    });
    assert_eq!(count, 0);
    assert!(out.starts_with(b"SEND\ndestination:/queue/a\nreceipt:r\\c1\n"));
}
