//! What one HTTP worker keeps between requests: its own database connection, and a
//! cache of key lookups that is never stale.
//!
//! Each worker is one thread, so none of this is shared or locked. Before a request
//! uses the cache, SQLite's `data_version` says whether anyone has committed since the
//! last request; if so, the cache is emptied. That covers every writer: `fixtures
//! load` and `keys revoke` in other processes as much as anything in this one.

use std::cell::RefCell;
use std::num::NonZeroUsize;

use lru::LruCache;

use crate::api_key::KeyHash;
use crate::store::{KeyOwner, Reader, Store, StoreError};

/// Keys seen recently, live or not (an unknown key is cached as such too).
const KEY_CACHE_ENTRIES: NonZeroUsize = NonZeroUsize::new(1024).unwrap();

pub struct WorkerContext {
    store: Store,
    reader: RefCell<Option<Reader>>,
    keys: RefCell<LruCache<KeyHash, Option<KeyOwner>>>,
}

impl WorkerContext {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            reader: RefCell::new(None),
            keys: RefCell::new(LruCache::new(KEY_CACHE_ENTRIES)),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs `f` with this worker's connection (taken from the pool on first use), in one
    /// read snapshot, after emptying the key cache if anything was committed since the
    /// last request.
    pub fn read<T, E: From<StoreError>>(
        &self,
        f: impl FnOnce(&Snapshot<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut slot = self.reader.borrow_mut();
        let reader = match slot.as_ref() {
            Some(reader) => reader,
            None => slot.insert(self.store.reader()?),
        };
        reader.in_snapshot(|reader| {
            if reader.saw_commit()? {
                self.keys.borrow_mut().clear();
            }
            f(&Snapshot {
                reader,
                worker: self,
            })
        })
    }
}

/// The reads of one request: keys from the cache where it holds, the rest from the
/// database.
pub struct Snapshot<'a> {
    reader: &'a Reader,
    worker: &'a WorkerContext,
}

impl Snapshot<'_> {
    /// The worker's connection, inside this snapshot, for reads that are not cached.
    pub fn reader(&self) -> &Reader {
        self.reader
    }

    /// The owner of a live key.
    pub fn owner_of_key(&self, hash: &KeyHash) -> Result<Option<KeyOwner>, StoreError> {
        if let Some(owner) = self.worker.keys.borrow_mut().get(hash) {
            return Ok(*owner);
        }
        let owner = self.reader.owner_of_key(hash)?;
        self.worker.keys.borrow_mut().put(*hash, owner);
        Ok(owner)
    }
}
