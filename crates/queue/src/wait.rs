//! The state an async call keeps between polls: whether it waits in one of the core's
//! [`WaitQueue`](weft_sync::WaitQueue)s (its ticket) and whether its latest wait ended with a
//! wake-up, which it must honour or pass on.

use weft_sync::waitq::Ticket;

/// Where an async put, get or join is: not queued (`ticket == None`) or queued.
#[derive(Debug, Default)]
pub(crate) struct TaskWait {
    /// The ticket of the entry the task waits in, while it waits.
    pub(crate) ticket: Option<Ticket>,
    /// The task's latest wait ended with a wake-up (a token in its slot): if it leaves with an
    /// item (or a slot, or `ShutDown`), it passes the wake-up on as a woken thread does.
    pub(crate) woken: bool,
}

impl TaskWait {
    /// Whether the task waits in a queue now.
    pub(crate) fn is_queued(&self) -> bool {
        self.ticket.is_some()
    }
}
