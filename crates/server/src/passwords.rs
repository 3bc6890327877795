//! Password hashing with Argon2id, off the async runtime, behind a bound, and below it in priority.
//!
//! One Argon2id hash at the OWASP parameters costs about 25 ms of one core and 19 MiB of memory.
//! Run on a runtime worker it would stall every other request on that worker; run unbounded, a
//! login flood would queue thousands of hashes and take the whole server down with it. So hashes
//! run on a small pool of threads of their own, at most `max_concurrent_hashes` at once; a request
//! that cannot get a slot within `hash_queue_timeout` is answered "busy" (503 with Retry-After) at
//! once.
//!
//! The bound alone does not keep the rest of the server fast: with one hashing thread per core (the
//! default; see [`PasswordConfig::hash_concurrency`]) a flood keeps every core busy hashing, and the
//! runtime workers answering discovery, token and userinfo wait their turn in the kernel's run queue. So the
//! hashing threads run at a lower scheduling priority (nice +10 on Linux, which any process may set
//! for its own threads): when the cores are contended the scheduler gives the runtime workers about
//! nine tenths of the time, and hashing gets whatever is left, which under a flood is still nearly
//! all of it because protocol requests are short.
//!
//! Memory: each hash needs its whole cost in memory (19 MiB at the OWASP parameters). Left to the
//! argon2 crate, every hash allocates and frees that block through the C library's malloc, and
//! glibc, after the first such block is returned to the system, raises its mmap threshold to that
//! size and serves the next ones from per-thread arenas that it never gives back: a 15-second login
//! flood left the server at 466 MiB. So each hashing thread keeps one block of at least 32 MiB of
//! address space (above glibc's largest dynamic threshold, so it is always mapped on its own and
//! unmapped when dropped), uses only the part the parameters need (only that part is ever touched,
//! so only that part is resident), reuses it for every hash while sign-ins keep coming, and drops it
//! after [`IDLE_RELEASE`] without work: memory follows the load back down. The default build's
//! allocator is jemalloc (see the binary's `main.rs`): there the dropped block goes back to the
//! system from jemalloc's background thread about a second later, and the 32 MiB minimum is only
//! needed by builds without it (`--no-default-features`), which use glibc's malloc.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::phc::{Output, ParamsString, Salt};
use argon2::{Algorithm, Argon2, Block, Params, PasswordHash, Version};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot};

use crate::config::PasswordConfig;

/// How much lower the hashing threads' priority is than the rest of the process (Linux nice
/// increment; 10 gives a thread about a tenth of the weight of a normal one when cores are contended).
pub const HASH_THREAD_NICE: i32 = 10;

/// How long a hashing thread keeps its memory block after its last hash.
pub const IDLE_RELEASE: Duration = Duration::from_secs(5);

/// The smallest block a hashing thread reserves, in 1 KiB Argon2 blocks: just over 32 MiB, glibc's
/// `DEFAULT_MMAP_THRESHOLD_MAX` on 64-bit systems, so the allocation is always a mapping of its own
/// that goes straight back to the system when dropped (and never moves glibc's threshold).
const MIN_RESERVED_BLOCKS: usize = 32 * 1024 + 1;

/// A hashing thread's reusable Argon2 memory.
#[derive(Default)]
pub struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// The first `count` blocks, reserving at least [`MIN_RESERVED_BLOCKS`]; only the blocks used
    /// are written, so only they become resident. Argon2's first pass overwrites every block it
    /// uses, so what a previous hash left there does not matter.
    fn blocks(&mut self, count: usize) -> &mut [Block] {
        if self.blocks.capacity() < count {
            self.blocks = Vec::with_capacity(count.max(MIN_RESERVED_BLOCKS));
        }
        if self.blocks.len() < count {
            self.blocks.resize(count, Block::default());
        }
        &mut self.blocks[..count]
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    /// Every hashing slot stayed taken for the whole queue timeout.
    #[error("password hashing is at capacity")]
    Busy,
    #[error("password hashing failed: {0}")]
    Internal(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    pub ok: bool,
    /// The stored hash uses other parameters than today's: re-hash on this successful sign-in.
    pub needs_rehash: bool,
}

#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// One permit per hashing thread: holding one means a thread is free for this hash.
    permits: Arc<Semaphore>,
    queue_timeout: Duration,
    /// A PHC string at today's parameters with a random salt and a random output ([`dummy_phc`]),
    /// verified for unknown accounts so that "no such user" costs the same time as "wrong password"
    /// (no user enumeration by timing).
    dummy_hash: String,
    /// Work for the hashing threads (a queue any idle thread takes from); they end when the last
    /// clone of the hasher is dropped.
    jobs: flume::Sender<Job>,
}

type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// Starts `threads` hashing threads at a lower priority, fed from one queue.
fn start_pool(threads: usize) -> Result<flume::Sender<Job>, HashError> {
    let (sender, receiver) = flume::unbounded::<Job>();
    for n in 0..threads {
        let receiver = receiver.clone();
        std::thread::Builder::new()
            .name(format!("argon2-{n}"))
            .spawn(move || {
                lower_this_threads_priority();
                let mut memory: Option<Memory> = None;
                loop {
                    let job = if memory.is_some() {
                        receiver.recv_timeout(IDLE_RELEASE)
                    } else {
                        receiver.recv().map_err(|_| flume::RecvTimeoutError::Disconnected)
                    };
                    match job {
                        Ok(job) => job(memory.get_or_insert_with(Memory::default)),
                        Err(flume::RecvTimeoutError::Timeout) => memory = None,
                        Err(flume::RecvTimeoutError::Disconnected) => return, // the hasher is gone
                    }
                }
            })
            .map_err(|e| HashError::Internal(format!("cannot start a hashing thread: {e}")))?;
    }
    Ok(sender)
}

#[cfg(target_os = "linux")]
fn lower_this_threads_priority() {
    // Linux applies setpriority(PRIO_PROCESS, tid) to the one thread. Raising a nice value needs
    // no privilege; failing (a seccomp profile, say) only costs latency under a flood.
    let tid = rustix::thread::gettid();
    let current = rustix::process::getpriority_process(Some(tid)).unwrap_or(0);
    if let Err(e) = rustix::process::setpriority_process(Some(tid), current.saturating_add(HASH_THREAD_NICE).min(19)) {
        tracing::warn!(error = %e, "cannot lower the priority of a password-hashing thread");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_this_threads_priority() {}

impl PasswordHasher {
    pub fn new(config: &PasswordConfig) -> Result<Self, HashError> {
        let params = Params::new(config.argon2_memory_kib, config.argon2_iterations, config.argon2_parallelism, None)
            .map_err(|e| HashError::Internal(format!("argon2 parameters: {e}")))?;
        let slots = config.hash_concurrency();
        let dummy_hash = dummy_phc(&params)?;
        let jobs = start_pool(slots)?;
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                permits: Arc::new(Semaphore::new(slots)),
                queue_timeout: config.hash_queue_timeout,
                dummy_hash,
                jobs,
            }),
        })
    }

    /// How many hashes may run at once.
    pub fn capacity(&self) -> usize {
        self.inner.permits.available_permits()
    }

    /// Takes one hashing slot and keeps it until the returned permit is dropped, or `None` when
    /// all are taken. Tests use it to fill the hasher deterministically (a slow background hash
    /// races the request it is meant to block).
    pub fn try_hold_slot(&self) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.inner.permits.try_acquire().ok()
    }

    /// Hashes a password (NFKC-normalised first) into a PHC string.
    pub async fn hash(&self, password: &str) -> Result<String, HashError> {
        let password = latchkey_core::password::normalize_password(password);
        let params = self.inner.params.clone();
        self.run(move |memory| hash_with(&params, &password, memory)).await
    }

    /// Checks a password against a stored PHC string. With `None` (no such account, or an account
    /// without a password) a dummy hash is verified instead and the answer is always "no".
    pub async fn verify(&self, password: &str, stored: Option<&str>) -> Result<Verified, HashError> {
        let password = latchkey_core::password::normalize_password(password);
        let real = stored.is_some();
        let stored = stored.unwrap_or(&self.inner.dummy_hash).to_owned();
        let params = self.inner.params.clone();
        self.run(move |memory| {
            let Ok(parsed) = PasswordHash::new(&stored) else {
                return Err(HashError::Internal("stored password hash is not a PHC string".into()));
            };
            let ok = verify_with(&parsed, &password, memory).unwrap_or_else(|e| {
                // As before this pool existed: a hash that cannot be checked never lets anyone in.
                tracing::warn!(error = %e, "a stored password hash cannot be checked");
                false
            });
            let needs_rehash = ok && !matches_params(&parsed, &params);
            Ok(Verified { ok: ok && real, needs_rehash: needs_rehash && real })
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Memory) -> Result<T, HashError> + Send + 'static,
    ) -> Result<T, HashError> {
        let permit: OwnedSemaphorePermit =
            tokio::time::timeout(self.inner.queue_timeout, Arc::clone(&self.inner.permits).acquire_owned())
                .await
                .map_err(|_| HashError::Busy)?
                .map_err(|_| HashError::Internal("hasher closed".into()))?;
        let (reply, answer) = oneshot::channel();
        // The permit travels with the job and is released when the hash is done, not when the
        // request stops waiting: a client that disconnects mid-hash does not free a slot that a
        // thread is still busy with.
        let job: Job = Box::new(move |memory| {
            let result = work(memory);
            drop(permit);
            let _ = reply.send(result);
        });
        self.inner.jobs.send(job).map_err(|_| HashError::Internal("hashing threads gone".into()))?;
        answer.await.map_err(|_| HashError::Internal("a hashing thread stopped".into()))?
    }
}

fn internal(e: impl std::fmt::Display) -> HashError {
    HashError::Internal(e.to_string())
}

/// Argon2id v19 of `password` under a fresh random salt, as a PHC string; the same string the
/// argon2 crate's `hash_password` makes, computed in the thread's reusable memory.
fn hash_with(params: &Params, password: &str, memory: &mut Memory) -> Result<String, HashError> {
    let salt = argon2::password_hash::try_generate_salt().map_err(internal)?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), &salt, &mut out, memory.blocks(params.block_count()))
        .map_err(internal)?;
    phc_string(params, &salt, &out)
}

/// A stand-in for a stored hash: Argon2id v19 at `params` with a random salt and a random output.
/// Verifying a password against it recomputes a full hash at today's cost, exactly as a real stored
/// hash would, and can only succeed by guessing 256 random bits (and [`PasswordHasher::verify`]
/// answers "no" for it regardless). Being no hash of anything, it costs nothing to make: start-up
/// does not pay for an Argon2id hash (about 25 to 100 ms of one core).
fn dummy_phc(params: &Params) -> Result<String, HashError> {
    use rand::RngCore as _;
    let salt = argon2::password_hash::try_generate_salt().map_err(internal)?;
    let mut out = vec![0u8; params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN)];
    rand::rng().fill_bytes(&mut out);
    phc_string(params, &salt, &out)
}

/// The PHC string of an Argon2id v19 output.
fn phc_string(params: &Params, salt: &[u8], out: &[u8]) -> Result<String, HashError> {
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(params).map_err(internal)?,
        salt: Some(Salt::new(salt).map_err(internal)?),
        hash: Some(Output::new(out).map_err(internal)?),
    };
    Ok(phc.to_string())
}

/// Does `password` match the stored hash? Recomputes it with the stored algorithm, version,
/// parameters and salt in the thread's memory and compares the outputs in constant time (the
/// `Output` type's equality), as the argon2 crate's own verifier does. A stored hash this code
/// cannot compute (another algorithm, broken parameters) is an error, which the caller treats as "no".
fn verify_with(stored: &PasswordHash, password: &str, memory: &mut Memory) -> Result<bool, HashError> {
    let (Some(salt), Some(expected)) = (&stored.salt, &stored.hash) else {
        return Err(HashError::Internal("stored password hash has no salt or output".into()));
    };
    let algorithm = Algorithm::try_from(stored.algorithm.as_str()).map_err(internal)?;
    let version = stored.version.map(Version::try_from).transpose().map_err(internal)?.unwrap_or_default();
    let params = Params::try_from(stored).map_err(internal)?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params.clone())
        .hash_password_into_with_memory(password.as_bytes(), salt, &mut out, memory.blocks(params.block_count()))
        .map_err(internal)?;
    Ok(Output::new(&out).map_err(internal)? == *expected)
}

/// Is this hash Argon2id v19 at exactly today's m, t, p?
fn matches_params(hash: &PasswordHash, params: &Params) -> bool {
    let Ok(stored) = Params::try_from(hash) else { return false };
    hash.algorithm.as_str() == "argon2id"
        && hash.version == Some(0x13)
        && stored.m_cost() == params.m_cost()
        && stored.t_cost() == params.t_cost()
        && stored.p_cost() == params.p_cost()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(m: u32, slots: usize) -> PasswordConfig {
        PasswordConfig {
            min_length: 15,
            argon2_memory_kib: m,
            argon2_iterations: 2,
            argon2_parallelism: 1,
            max_concurrent_hashes: slots,
            hash_queue_timeout: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn hashes_are_argon2id_phc_and_verify() {
        let hasher = PasswordHasher::new(&config(19456, 2)).unwrap();
        let phc = hasher.hash("correct horse battery staple").await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert_eq!(
            hasher.verify("correct horse battery staple", Some(&phc)).await.unwrap(),
            Verified { ok: true, needs_rehash: false }
        );
        assert!(!hasher.verify("wrong", Some(&phc)).await.unwrap().ok);
        // NFKC: the fullwidth form of the same password verifies.
        let phc = hasher.hash("Ｐａｓｓ").await.unwrap();
        assert!(hasher.verify("Pass", Some(&phc)).await.unwrap().ok);
    }

    #[test]
    fn hashes_match_the_argon2_crates_own_and_verify_its_hashes() {
        use argon2::{PasswordHasher as _, PasswordVerifier as _};
        let params = Params::new(1024, 2, 1, None).unwrap();
        let mut memory = Memory::default();
        let ours = hash_with(&params, "a long enough passphrase", &mut memory).unwrap();
        let crate_hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
        // The crate verifies ours ...
        crate_hasher.verify_password(b"a long enough passphrase", &PasswordHash::new(&ours).unwrap()).unwrap();
        // ... and we verify the crate's, in the same (reused) memory, including other variants.
        let theirs = crate_hasher.hash_password(b"another passphrase").unwrap().to_string();
        assert!(verify_with(&PasswordHash::new(&theirs).unwrap(), "another passphrase", &mut memory).unwrap());
        assert!(!verify_with(&PasswordHash::new(&theirs).unwrap(), "another passphrasE", &mut memory).unwrap());
        let argon2i =
            Argon2::new(Algorithm::Argon2i, Version::V0x10, params).hash_password(b"old").unwrap().to_string();
        assert!(verify_with(&PasswordHash::new(&argon2i).unwrap(), "old", &mut memory).unwrap());
        assert_eq!(ours.len(), theirs.len());
        assert!(ours.starts_with("$argon2id$v=19$m=1024,t=2,p=1$"), "{ours}");
    }

    #[test]
    fn memory_is_reserved_past_the_mmap_threshold_and_reused() {
        let mut memory = Memory::default();
        assert_eq!(memory.blocks(19456).len(), 19456);
        let reserved = memory.blocks.capacity();
        assert!(reserved >= MIN_RESERVED_BLOCKS && reserved * 1024 > 32 * 1024 * 1024);
        let first = memory.blocks(19456).as_ptr();
        assert_eq!(memory.blocks(8).as_ptr(), first, "a smaller hash reuses the block");
        assert_eq!(memory.blocks(19456).as_ptr(), first);
        assert_eq!(memory.blocks(65536).len(), 65536, "a larger cost gets a larger block");
    }

    #[tokio::test]
    async fn unknown_accounts_verify_a_dummy_and_fail() {
        let hasher = PasswordHasher::new(&config(8, 2)).unwrap();
        assert_eq!(hasher.verify("anything", None).await.unwrap(), Verified { ok: false, needs_rehash: false });
    }

    #[test]
    fn the_dummy_costs_a_full_hash_at_todays_parameters() {
        let params = Params::new(19456, 2, 1, None).unwrap();
        let dummy = dummy_phc(&params).unwrap();
        let parsed = PasswordHash::new(&dummy).unwrap();
        // The verifier recomputes Argon2id at exactly these parameters: the same work as a real hash.
        assert!(matches_params(&parsed, &params), "{dummy}");
        assert_ne!(dummy, dummy_phc(&params).unwrap(), "random salt and output");
        // A real hash at the same parameters has the same salt and output lengths.
        let real = hash_with(&params, "a long enough passphrase", &mut Memory::default()).unwrap();
        let real = PasswordHash::new(&real).unwrap();
        assert_eq!(real.salt.map(|s| s.len()), parsed.salt.map(|s| s.len()));
        assert_eq!(real.hash.map(|h| h.len()), parsed.hash.map(|h| h.len()));
        assert!(!verify_with(&parsed, "a long enough passphrase", &mut Memory::default()).unwrap());
    }

    #[tokio::test]
    async fn changed_parameters_ask_for_a_rehash() {
        let old = PasswordHasher::new(&config(4096, 2)).unwrap();
        let phc = old.hash("a long enough passphrase").await.unwrap();
        let new = PasswordHasher::new(&config(8192, 2)).unwrap();
        assert_eq!(
            new.verify("a long enough passphrase", Some(&phc)).await.unwrap(),
            Verified { ok: true, needs_rehash: true }
        );
    }

    #[tokio::test]
    async fn a_full_hasher_answers_busy_quickly() {
        let hasher = PasswordHasher::new(&config(8, 1)).unwrap();
        let held = hasher.try_hold_slot().unwrap();
        let started = std::time::Instant::now();
        assert_eq!(hasher.hash("x").await, Err(HashError::Busy));
        assert!(started.elapsed() < Duration::from_secs(1));
        drop(held);
        assert!(hasher.hash("x").await.is_ok());
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_at_a_lower_priority_than_the_runtime() {
        let hasher = PasswordHasher::new(&config(8, 2)).unwrap();
        let here = rustix::process::getpriority_process(None).unwrap();
        let there = hasher
            .run(|_| Ok(rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()))
            .await
            .unwrap();
        assert_eq!(there, (here + HASH_THREAD_NICE).min(19), "runtime thread at nice {here}");
        // The runtime thread itself is untouched.
        assert_eq!(rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap(), here);
    }

    #[tokio::test]
    async fn a_slot_stays_taken_until_its_hash_ends_even_if_the_caller_gives_up() {
        let hasher = PasswordHasher::new(&config(8, 1)).unwrap();
        let (started_tx, started_rx) = oneshot::channel();
        let (finish_tx, finish_rx) = std::sync::mpsc::channel::<()>();
        let caller = hasher.clone();
        let waiting = tokio::spawn(async move {
            caller
                .run(move |_| {
                    started_tx.send(()).unwrap();
                    finish_rx.recv().unwrap();
                    Ok(())
                })
                .await
        });
        started_rx.await.unwrap();
        // The request goes away (a client disconnect) while its hash is still running.
        waiting.abort();
        assert!(waiting.await.unwrap_err().is_cancelled());
        assert_eq!(hasher.capacity(), 0, "the slot is still in use by the running hash");
        assert_eq!(hasher.hash("x").await, Err(HashError::Busy));
        finish_tx.send(()).unwrap();
        // Freed by the thread once the hash ends.
        drop(hasher.inner.permits.acquire().await.unwrap());
        assert!(hasher.hash("x").await.is_ok());
    }
}
