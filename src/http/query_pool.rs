//! Queries whose cost grows with the data they look through (the contact list's filters,
//! the search), run on a few threads of their own instead of the HTTP workers: a worker
//! serves many connections, and a worker busy with one long query would hold every
//! `/info` queued behind it, of every client. Here a long query waits only for the
//! other long ones.

use std::sync::{Arc, Mutex};
use std::thread;

use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use crate::store::{Reader, Store};

/// Queries that may wait for a thread; past this, requests wait to enqueue.
const QUEUE_DEPTH: usize = 256;

type Job = Box<dyn FnOnce(&Store) + Send>;

/// A handle on the threads; cheap to clone.
#[derive(Clone)]
pub struct QueryPool {
    queue: mpsc::Sender<Job>,
}

impl QueryPool {
    /// Starts `threads` threads reading `store`, each on a pooled connection per query.
    pub fn start(store: &Store, threads: usize) -> std::io::Result<Self> {
        let (queue, jobs) = mpsc::channel::<Job>(QUEUE_DEPTH);
        let jobs = Arc::new(Mutex::new(jobs));
        for n in 0..threads.max(1) {
            let jobs = jobs.clone();
            let store = store.clone();
            thread::Builder::new()
                .name(format!("contactd-query-{n}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = jobs.lock().map(|mut jobs| jobs.blocking_recv());
                        match job {
                            Ok(Some(job)) => job(&store),
                            _ => return,
                        }
                    }
                })?;
        }
        Ok(Self { queue })
    }

    /// Runs `query` on one of the threads, in one read snapshot, and awaits its answer.
    pub async fn run<T: Send + 'static>(
        &self,
        query: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let (reply, answer) = oneshot::channel();
        let job: Job = Box::new(move |store: &Store| {
            let result = store
                .reader()
                .map_err(ApiError::from)
                .and_then(|reader| reader.in_snapshot(|reader| query(reader)));
            // The requester may have gone (client disconnected): nobody to tell.
            let _ = reply.send(result);
        });
        self.queue
            .send(job)
            .await
            .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("the query threads stopped")))?;
        answer
            .await
            .map_err(|_| ApiError::Unexpected(anyhow::anyhow!("a query thread stopped")))?
    }
}
