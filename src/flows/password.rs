//! argon2id hashing on a fixed pool of worker threads.
//!
//! Each hash needs 19 MiB. Allocating that per request on an unbounded number of blocking
//! threads made resident memory grow by gigabytes under concurrent sign-ins (the allocator
//! keeps the freed blocks). Instead, `workers` threads each own one argon2 memory buffer for
//! their whole life, and a bounded queue sits in front of them: when it is full the caller gets
//! [`FlowError::Busy`] (503 with `Retry-After`) at once instead of waiting in line. Memory for
//! hashing is therefore fixed at `workers × 19 MiB`, whatever the load.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version, password_hash::rand_core::OsRng};
use tokio::sync::oneshot;

use super::{FlowError, FlowResult};
use crate::domain::NewPassword;

/// How long a refused caller is told to wait before trying again.
const BUSY_RETRY_AFTER_SECS: i64 = 1;

/// The largest argon2 memory a stored hash may ask for (in 1 KiB blocks) before we refuse to
/// verify it: a hash written with other parameters must not make a worker's buffer unbounded.
const MAX_BLOCKS: usize = 64 * 1024;

/// A PHC string with the default parameters (m=19456, t=2, p=1) of an unguessable password:
/// verifying against it costs exactly what verifying a real hash costs, so an unknown user and
/// a wrong password take the same time.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$cG9ydGljby1kdW1teS1zYWx0$GqZK3JYkPaJ+Jc0hnVz5WLMD6iCjGx9nkjHPDXaZc6s";

enum Job {
    Hash { password: String, reply: oneshot::Sender<Result<String, String>> },
    Verify { password: String, stored: String, reply: oneshot::Sender<bool> },
}

/// The hashing pool. Cloning shares it; the threads end when the last clone is dropped.
#[derive(Clone)]
pub struct Hasher {
    queue: SyncSender<Job>,
    /// Jobs accepted into the queue so far.
    accepted: Arc<AtomicU64>,
}

impl Hasher {
    /// Starts `workers` threads (at least one) behind a queue of `queue` waiting jobs.
    pub fn new(workers: usize, queue: usize) -> Hasher {
        let workers = workers.max(1);
        let (tx, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..workers {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new().name(format!("argon2-{n}")).spawn(move || worker(&rx));
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a hashing worker");
            }
        }
        Hasher { queue: tx, accepted: Arc::new(AtomicU64::new(0)) }
    }

    /// How many hashes or checks this pool has accepted (refused ones are not counted).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    fn submit(&self, job: Job) -> FlowResult<()> {
        match self.queue.try_send(job) {
            Ok(()) => {
                self.accepted.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(TrySendError::Full(_)) => {
                crate::metrics::HASH_REFUSED.add(1);
                Err(FlowError::Busy { retry_after: BUSY_RETRY_AFTER_SECS })
            }
            Err(TrySendError::Disconnected(_)) => Err(FlowError::Internal("hashing workers are gone".into())),
        }
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) for a new password.
    pub async fn hash(&self, password: &NewPassword) -> FlowResult<String> {
        let (reply, answer) = oneshot::channel();
        self.submit(Job::Hash { password: password.expose().to_string(), reply })?;
        answer
            .await
            .map_err(|_| FlowError::Internal("hashing worker stopped".into()))?
            .map_err(|e| FlowError::Internal(format!("hashing failed: {e}")))
    }

    /// Checks `password` against `stored`. With no stored hash (unknown user, or no password
    /// set yet) it still does the same work against a dummy hash, so timing does not tell them
    /// apart. Refused with `Busy` when the queue is full.
    pub async fn verify(&self, password: &str, stored: Option<String>) -> FlowResult<bool> {
        let known = stored.is_some();
        let (reply, answer) = oneshot::channel();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_string());
        self.submit(Job::Verify { password: password.to_string(), stored, reply })?;
        let ok = answer.await.map_err(|_| FlowError::Internal("hashing worker stopped".into()))?;
        Ok(ok && known)
    }
}

/// One worker: takes jobs until the pool is dropped, always hashing into the same memory.
fn worker(jobs: &Mutex<Receiver<Job>>) {
    // Allocated at the first job (an idle server does not hold it), then kept for good.
    let mut memory: Vec<Block> = Vec::new();
    loop {
        // The lock is held only while waiting for the next job, never while hashing.
        let job = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match job {
            Err(_) => return,
            Ok(Job::Hash { password, reply }) => {
                let _ = reply.send(hash_with(&mut memory, &password));
            }
            Ok(Job::Verify { password, stored, reply }) => {
                let _ = reply.send(verify_with(&mut memory, &password, &stored));
            }
        }
    }
}

/// Runs argon2 with `params` in the worker's memory, growing it only for a stored hash that
/// asks for more (bounded by [`MAX_BLOCKS`]).
fn argon2_into(
    memory: &mut Vec<Block>,
    params: Params,
    algorithm: Algorithm,
    version: Version,
    password: &[u8],
    salt: &[u8],
    out: &mut [u8],
) -> Result<(), String> {
    let blocks = params.block_count();
    if blocks > MAX_BLOCKS {
        return Err(format!("argon2 memory of {blocks} KiB is above the limit"));
    }
    if memory.len() < blocks {
        memory.resize(blocks, Block::default());
    }
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .map_err(|e| e.to_string())
}

fn hash_with(memory: &mut Vec<Block>, password: &str) -> Result<String, String> {
    let params = Params::default();
    let salt = SaltString::generate(&mut OsRng);
    let mut salt_bytes = [0u8; 64];
    let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2_into(
        memory,
        params.clone(),
        Algorithm::Argon2id,
        Version::V0x13,
        password.as_bytes(),
        raw_salt,
        &mut out,
    )?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| e.to_string())?),
    };
    Ok(phc.to_string())
}

fn verify_with(memory: &mut Vec<Block>, password: &str, stored: &str) -> bool {
    let verified = || -> Result<bool, String> {
        let parsed = PasswordHash::new(stored).map_err(|e| e.to_string())?;
        let algorithm = Algorithm::try_from(parsed.algorithm).map_err(|e| e.to_string())?;
        let version = parsed.version.map(Version::try_from).transpose().map_err(|e| e.to_string())?;
        let params = Params::try_from(&parsed).map_err(|e| e.to_string())?;
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return Ok(false);
        };
        let mut salt_bytes = [0u8; 64];
        let raw_salt = salt.decode_b64(&mut salt_bytes).map_err(|e| e.to_string())?;
        let mut out = vec![0u8; expected.len()];
        argon2_into(
            memory,
            params,
            algorithm,
            version.unwrap_or_default(),
            password.as_bytes(),
            raw_salt,
            &mut out,
        )?;
        // `Output`'s equality is constant-time.
        Ok(Output::new(&out).map_err(|e| e.to_string())? == expected)
    };
    let mut verified = verified;
    verified().unwrap_or_else(|e| {
        tracing::warn!(error = %e, "a stored password hash could not be checked");
        false
    })
}

/// A random password for generated staff logins: 20 characters from an unambiguous alphabet.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
}

#[cfg(test)]
mod tests {
    use argon2::PasswordVerifier;

    use super::*;

    fn pw(s: &str) -> NewPassword {
        NewPassword::parse(s, &[]).expect("strong enough")
    }

    #[tokio::test]
    async fn hashes_verify_here_and_with_the_reference_implementation() {
        let hasher = Hasher::new(2, 4);
        let phc = hasher.hash(&pw("correct horse battery")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(hasher.verify("correct horse battery", Some(phc.clone())).await.unwrap());
        assert!(!hasher.verify("correct horse batterz", Some(phc.clone())).await.unwrap());
        // The argon2 crate's own verifier agrees, so old and new hashes are interchangeable.
        let parsed = PasswordHash::new(&phc).unwrap();
        assert!(Argon2::default().verify_password(b"correct horse battery", &parsed).is_ok());
        use argon2::PasswordHasher;
        let reference = Argon2::default()
            .hash_password(b"another fine password", &SaltString::generate(&mut OsRng))
            .unwrap()
            .to_string();
        assert!(hasher.verify("another fine password", Some(reference)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_users_and_garbage_hashes_never_verify() {
        let hasher = Hasher::new(1, 4);
        assert!(!hasher.verify("anything at all", None).await.unwrap());
        assert!(!hasher.verify("anything at all", Some("not a hash".into())).await.unwrap());
        let huge = "$argon2id$v=19$m=4000000,t=2,p=1$cG9ydGljby1kdW1teS1zYWx0$GqZK3JYkPaJ+Jc0hnVz5WLMD6iCjGx9nkjHPDXaZc6s";
        assert!(!hasher.verify("anything at all", Some(huge.into())).await.unwrap(), "memory bound");
    }

    #[test]
    fn the_dummy_hash_has_the_default_cost() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        let default = Params::default();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (default.m_cost(), default.t_cost(), default.p_cost())
        );
        assert_eq!(parsed.hash.unwrap().len(), Params::DEFAULT_OUTPUT_LEN);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let hasher = Hasher::new(1, 1);
        let attempts = (0..8).map(|_| {
            let h = hasher.clone();
            tokio::spawn(async move { h.verify("some password here", None).await })
        });
        let results = futures_util::future::join_all(attempts).await;
        let busy = results.iter().filter(|r| matches!(r, Ok(Err(FlowError::Busy { .. })))).count();
        let done = results.iter().filter(|r| matches!(r, Ok(Ok(false)))).count();
        assert!(busy >= 1, "some were refused");
        assert_eq!(busy + done, 8);
    }
}
