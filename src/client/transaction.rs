//! Transactions: BEGIN, then COMMIT or ABORT.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::connection::Session;
use crate::error::{Error, Result};

/// An open transaction. Frames join it through a `transaction` header carrying
/// [`Transaction::id`]. Dropping an open transaction sends ABORT (without waiting).
#[must_use = "dropping a Transaction aborts it"]
pub struct Transaction {
    shared: Arc<Session>,
    id: String,
    /// The link it began on: after a reconnect it is gone, and so is the transaction.
    epoch: u64,
    ended: AtomicBool,
}

impl std::fmt::Debug for Transaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transaction").field("id", &self.id).finish()
    }
}

impl Transaction {
    pub(crate) fn new(shared: Arc<Session>, id: String, epoch: u64) -> Transaction {
        Transaction {
            shared,
            id,
            epoch,
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
    /// is [`Error::InvalidArgument`]; a transaction of a connection that was lost (even
    /// if a reconnect made a new one) is [`Error::Disconnected`].
    pub(crate) fn end(&self, command: &str) -> Result<()> {
        if self.shared.live_epoch() != self.epoch {
            return Err(self.shared.disconnected());
        }
        if self.ended.swap(true, Ordering::AcqRel) {
            return Err(Error::invalid(format!(
                "transaction {} was already committed or aborted",
                self.id
            )));
        }
        self.shared.end_transaction(&self.id, self.epoch, command)
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.ended.swap(true, Ordering::AcqRel) {
            self.shared.drop_transaction(&self.id, self.epoch);
        }
    }
}
