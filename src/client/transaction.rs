//! Transactions: BEGIN, then COMMIT or ABORT.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::connection::Shared;
use crate::error::{Error, Result};

/// An open transaction. Frames join it through a `transaction` header carrying
/// [`Transaction::id`]. Dropping an open transaction sends ABORT (without waiting).
#[must_use = "dropping a Transaction aborts it"]
pub struct Transaction {
    shared: Arc<Shared>,
    id: String,
    ended: AtomicBool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}

impl Transaction {
    pub(crate) fn new(shared: Arc<Shared>, id: String) -> Transaction {
        Transaction {
            shared,
            id,
            ended: AtomicBool::new(false),
        }
    }

    /// The transaction id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// COMMIT, waiting for its receipt.
    pub fn commit(self) -> Result<()> {
        self.end("COMMIT")
    }

    /// ABORT, waiting for its receipt.
    pub fn abort(self) -> Result<()> {
        self.end("ABORT")
    }

    /// COMMIT or ABORT through a shared reference (the C API's handles). A second call
    /// is [`Error::InvalidArgument`].
    pub(crate) fn end(&self, command: &str) -> Result<()> {
        if !self.shared.is_connected() {
            return Err(Error::Disconnected);
        }
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid(format!(
                "transaction {} was already committed or aborted",
                self.id
            )));
        }
        self.shared
            .request(command, &[("transaction", &self.id)], &[], b"", true)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.ended.swap(true, Ordering::AcqRel) && self.shared.is_connected() {
            let _ = self
                .shared
                .request("ABORT", &[("transaction", &self.id)], &[], b"", false);
        }
    }
}
