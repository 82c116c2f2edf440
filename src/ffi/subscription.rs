//! `stompws_subscription_*`: receiving from a pull subscription, unsubscribing.

use std::ffi::c_char;
use std::ptr;
use std::time::Duration;

use super::boundary::{self, check_out, try_headers, try_ref, write_out};
use super::types::{stompws_header, stompws_message, stompws_result, stompws_subscription};

/// The subscription id (the SUBSCRIBE `id` header); NULL for NULL. Borrowed from the
/// subscription: valid until `stompws_subscription_free`.
///
/// # Safety
/// `subscription` is NULL or a live subscription.
#[no_mangle]
pub unsafe extern "C" fn stompws_subscription_id(
    subscription: *const stompws_subscription,
) -> *const c_char {
    // SAFETY: NULL or a live subscription, per the contract.
    boundary::getter(ptr::null(), || {
        unsafe { subscription.as_ref() }.map_or(ptr::null(), |s| s.id.as_ptr())
    })
}

/// Waits up to `timeout_ms` (0 = just look) for the next message. On OK the caller owns
/// `*out` and frees it with `stompws_message_free`. TIMEOUT if none came (`*out`
/// untouched); DISCONNECTED once the subscription or connection is closed and nothing is
/// queued; INVALID_ARGUMENT on a callback subscription. Several threads may receive on
/// one subscription at once; each message goes to one of them. With reconnect on, a
/// receive keeps waiting across an outage, and messages queued before it stay.
///
/// # Safety
/// `subscription` is NULL or a live subscription; `out` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_subscription_receive(
    subscription: *mut stompws_subscription,
    timeout_ms: u32,
    out: *mut *mut stompws_message,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: NULL or a live subscription, per the contract.
        let s = unsafe { try_ref(subscription, "subscription") }?;
        check_out(out, "out")?;
        let msg = if timeout_ms == 0 {
            s.sub.try_recv()?
        } else {
            s.sub
                .recv_timeout(Duration::from_millis(u64::from(timeout_ms)))?
        };
        // SAFETY: checked non-NULL above; written only on success.
        unsafe { write_out(out, stompws_message::owning(msg)) };
        Ok(())
    })
}

/// Like `stompws_subscription_receive`, but takes up to `max` messages at once: waits up
/// to `timeout_ms` (0 = just look) for the first, then takes whatever else is queued
/// without waiting more. On OK `out[0]` to `out[*n - 1]` hold `*n` (1 to `max`) messages,
/// in arrival order, each owned by the caller and freed with `stompws_message_free`, one
/// by one, on any thread. `*n` is always written: 0 unless OK, and then `out` is
/// untouched. Results as `stompws_subscription_receive`; `max` 0 is INVALID_ARGUMENT. A
/// consumer that keeps up with a busy subscription pays the per-call costs (the lock on
/// the queue, the call boundary) once per batch instead of once per message.
///
/// # Safety
/// `subscription` is NULL or a live subscription; `out` NULL or writable for `max`
/// pointers; `n` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn stompws_subscription_receive_many(
    subscription: *mut stompws_subscription,
    timeout_ms: u32,
    out: *mut *mut stompws_message,
    max: usize,
    n: *mut usize,
) -> stompws_result {
    boundary::result(|| {
        check_out(n, "n")?;
        // SAFETY: checked non-NULL above, writable per the contract.
        unsafe { write_out(n, 0) };
        // SAFETY: NULL or a live subscription, per the contract.
        let s = unsafe { try_ref(subscription, "subscription") }?;
        check_out(out, "out")?;
        let mut taken = 0;
        s.sub
            .take_many(Duration::from_millis(u64::from(timeout_ms)), max, |msg| {
                // SAFETY: `out` is writable for `max` pointers and take_many hands over at
                // most `max` messages; `n` is writable. Counted as each is written, so
                // `*n` always says how many `out` holds.
                unsafe {
                    write_out(out.add(taken), stompws_message::owning(msg));
                    taken += 1;
                    write_out(n, taken);
                }
            })?;
        Ok(())
    })
}

/// UNSUBSCRIBE, with extra headers (a `receipt` header makes the call wait for it; `id`
/// is the library's). Queued messages can still be received afterwards; callbacks are
/// never called again once it returns (it waits for a running one, unless called from
/// inside it). A second call is INVALID_ARGUMENT; after the connection closed for good,
/// DISCONNECTED. During a reconnect outage it ends the subscription at once, returns OK
/// and sends nothing (the broker's side went with the connection); it is not made again.
///
/// # Safety
/// `subscription` is NULL or a live subscription; `headers` valid for `header_count`.
#[no_mangle]
pub unsafe extern "C" fn stompws_subscription_unsubscribe(
    subscription: *mut stompws_subscription,
    headers: *const stompws_header,
    header_count: usize,
) -> stompws_result {
    boundary::result(|| {
        // SAFETY: per the contract above.
        let (s, headers) = unsafe {
            (
                try_ref(subscription, "subscription")?,
                try_headers(headers, header_count)?,
            )
        };
        s.sub.unsubscribe(&headers)?;
        Ok(())
    })
}

/// Frees the subscription, unsubscribing first if it is still active. After it returns
/// a callback is never called again (it waits for a running call to finish, unless
/// called from inside that callback). NULL is fine; call at most once, and not while
/// other threads use the subscription. Messages received from it stay valid.
///
/// # Safety
/// `subscription` is NULL or a live subscription, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn stompws_subscription_free(subscription: *mut stompws_subscription) {
    boundary::void(|| {
        if !subscription.is_null() {
            // SAFETY: a pointer from Box::into_raw in stompws_client_subscribe*, freed once.
            drop(unsafe { Box::from_raw(subscription) });
        }
    })
}
