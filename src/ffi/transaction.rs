//! `stompws_transaction_*`: committing and aborting.

use std::ffi::c_char;
use std::ptr;

use super::boundary::{self, try_ref};
use super::types::{stompws_result, stompws_transaction};

/// The transaction id; NULL for NULL. Borrowed: valid until `stompws_transaction_free`.
/// Frames join the transaction through a `transaction` header carrying it.
///
/// # Safety
/// `transaction` is NULL or a live transaction.
#[no_mangle]
pub unsafe extern "C" fn stompws_transaction_id(
    transaction: *const stompws_transaction,
) -> *const c_char {
    // SAFETY: NULL or a live transaction, per the contract.
    boundary::getter(ptr::null(), || {
        unsafe { transaction.as_ref() }.map_or(ptr::null(), |t| t.id.as_ptr())
    })
}

/// COMMIT, waiting for its receipt (TIMEOUT after the receipt timeout, SERVER_ERROR if
/// the broker refuses it). INVALID_ARGUMENT once committed or aborted; DISCONNECTED
/// after the connection closed, and for a transaction begun on a connection that was
/// since lost (with reconnect on: the transaction went with it; nothing is sent).
///
/// # Safety
/// `transaction` is NULL or a live transaction.
#[no_mangle]
pub unsafe extern "C" fn stompws_transaction_commit(
    transaction: *mut stompws_transaction,
) -> stompws_result {
    // SAFETY: NULL or a live transaction, per the contract.
    boundary::result(|| {
        Ok(unsafe { try_ref(transaction, "transaction") }?
            .tx
            .end("COMMIT")?)
    })
}

/// ABORT, waiting for its receipt. INVALID_ARGUMENT once committed or aborted.
///
/// # Safety
/// `transaction` is NULL or a live transaction.
#[no_mangle]
pub unsafe extern "C" fn stompws_transaction_abort(
    transaction: *mut stompws_transaction,
) -> stompws_result {
    // SAFETY: NULL or a live transaction, per the contract.
    boundary::result(|| {
        Ok(unsafe { try_ref(transaction, "transaction") }?
            .tx
            .end("ABORT")?)
    })
}

/// Frees the transaction, sending ABORT (without waiting) if neither commit nor abort
/// was tried. NULL is fine; call at most once.
///
/// # Safety
/// `transaction` is NULL or a live transaction, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn stompws_transaction_free(transaction: *mut stompws_transaction) {
    boundary::void(|| {
        if !transaction.is_null() {
            // SAFETY: a pointer from Box::into_raw in stompws_client_begin, freed once.
            drop(unsafe { Box::from_raw(transaction) });
        }
    })
}
