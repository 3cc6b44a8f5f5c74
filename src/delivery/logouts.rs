//! OpenID Connect Back-Channel Logout 1.0 deliveries (SPEC §3.9): each queued logout is signed
//! at delivery with the client's algorithm (a JWT of `typ` `logout+jwt` with `iss`, `aud`,
//! `iat`, `exp`, `jti`, `sub`, `sid` and the back-channel logout event; never a `nonce`) and
//! POSTed as `logout_token` to the client's back-channel logout URI. Claimed with a lease like
//! webhook deliveries, with their deadline, destination rules and retry schedule; a redirect or
//! any answer but 2xx is a failure.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, json};
use tokio::task::JoinSet;

use super::{STORE_DEADLINE, claim_token, jittered, record_until_written};
use crate::config::{Config, WebhookConfig};
use crate::domain::destination;
use crate::domain::oidc::IdTokenAlg;
use crate::flows::oidc::keys::{KeyCache, KeyEncryption};
use crate::flows::oidc::provider;
use crate::store::oidc::{self as oidc_store, ClaimedLogout};
use crate::store::{Store, StoreError, now, now_ms};

/// Deliveries claimed at once, per process.
const BATCH: i64 = 16;
/// How long a logout token is valid (the receiver checks it on arrival).
const TOKEN_SECS: i64 = 120;

pub struct Worker {
    store: Store,
    config: WebhookConfig,
    base_url: url::Url,
    keys: KeyCache,
    encryption: KeyEncryption,
    client: reqwest::Client,
}

impl Worker {
    pub fn new(
        store: Store,
        config: &Config,
        keys: KeyCache,
        encryption: KeyEncryption,
    ) -> Result<Worker, String> {
        let webhooks = config.webhooks.clone();
        let mut builder = reqwest::Client::builder()
            .timeout(Duration::from_secs(webhooks.timeout_secs))
            .connect_timeout(Duration::from_secs(webhooks.timeout_secs.min(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("Portico-Logout/", env!("CARGO_PKG_VERSION")));
        if !webhooks.allow_private {
            builder = builder.dns_resolver(Arc::new(super::webhooks::PublicOnly));
        }
        let client = builder.build().map_err(|e| e.to_string())?;
        Ok(Worker { store, config: webhooks, base_url: config.base_url.clone(), keys, encryption, client })
    }

    /// Runs until the task is dropped: claims what is due every poll interval.
    pub async fn run(self: Arc<Self>) {
        loop {
            let claimed = match tokio::time::timeout(STORE_DEADLINE, self.claim()).await {
                Ok(Ok(claimed)) => claimed,
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "claiming logout deliveries failed");
                    Vec::new()
                }
                Err(_) => {
                    tracing::warn!("claiming logout deliveries timed out");
                    Vec::new()
                }
            };
            let busy = !claimed.is_empty();
            let mut in_flight = JoinSet::new();
            for c in claimed {
                let worker = self.clone();
                in_flight.spawn(async move { worker.deliver(c).await });
            }
            while in_flight.join_next().await.is_some() {}
            if !busy {
                tokio::time::sleep(Duration::from_millis(self.config.poll_ms)).await;
            }
        }
    }

    async fn claim(&self) -> Result<Vec<ClaimedLogout>, StoreError> {
        let now = now_ms();
        let lease = (self.config.timeout_secs as i64 + 30) * 1000;
        let mut tx = self.store.begin().await?;
        let claimed = oidc_store::claim_logouts(tx.conn(), now, now + lease, &claim_token(), BATCH).await?;
        tx.commit().await?;
        Ok(claimed)
    }

    async fn deliver(&self, c: ClaimedLogout) {
        let (state, next, status, error) = match self.attempt(&c).await {
            Ok(status) => ("delivered", None, Some(status), None),
            Err((status, error)) => {
                let retries_used = (c.attempts - 1).max(0) as usize;
                match self.config.retry_schedule_ms.get(retries_used) {
                    Some(wait) => ("failed", Some(now_ms() + jittered(*wait as i64)), status, Some(error)),
                    None => (
                        "dead",
                        None,
                        status,
                        Some(format!("gave up after {} attempts: {error}", c.attempts)),
                    ),
                }
            }
        };
        tracing::info!(id = c.id, state, ?status, "back-channel logout attempt");
        record_until_written("logout", c.id, || async {
            let mut tx = self.store.begin().await?;
            let held =
                oidc_store::record_logout(tx.conn(), &c, state, next, status, error.as_deref(), now_ms())
                    .await?;
            tx.commit().await?;
            Ok(held)
        })
        .await;
    }

    /// One POST of a freshly signed logout token: the status on a 2xx, else why not.
    async fn attempt(&self, c: &ClaimedLogout) -> Result<i64, (Option<i64>, String)> {
        if let Err(e) = destination::parse_url(&c.url, self.config.allow_http, self.config.allow_private) {
            return Err((None, format!("refused destination: {e}")));
        }
        let token = self.token(c).await.map_err(|e| (None, e))?;
        let sent = self
            .client
            .post(&c.url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cache-control", "no-store")
            .body(format!("logout_token={token}"))
            .send()
            .await;
        match sent {
            Ok(r) if r.status().is_success() => Ok(i64::from(r.status().as_u16())),
            Ok(r) => Err((Some(i64::from(r.status().as_u16())), format!("answered {}", r.status()))),
            Err(e) if e.is_timeout() => Err((None, "timed out: no answer within the deadline".into())),
            Err(e) => Err((None, e.to_string())),
        }
    }

    async fn token(&self, c: &ClaimedLogout) -> Result<String, String> {
        let alg = IdTokenAlg::parse(&c.alg).unwrap_or(IdTokenAlg::Rs256);
        let key = self.keys.active(&self.store, &self.encryption, alg).await.map_err(|e| e.to_string())?;
        let at = now();
        let mut claims = Map::new();
        claims.insert("iss".into(), json!(provider::issuer(&self.base_url, &c.org_slug)));
        claims.insert("aud".into(), json!(c.client_id));
        claims.insert("iat".into(), json!(at));
        claims.insert("exp".into(), json!(at + TOKEN_SECS));
        claims.insert("jti".into(), json!(uuid::Uuid::new_v4().simple().to_string()));
        if let Some(sub) = &c.sub {
            claims.insert("sub".into(), json!(sub));
        }
        claims.insert("sid".into(), json!(c.sid));
        claims.insert("events".into(), json!({ "http://schemas.openid.net/event/backchannel-logout": {} }));
        key.sign("logout+jwt", claims).map_err(|e| e.to_string())
    }
}

/// Starts the worker as a background task.
pub fn spawn(
    store: Store,
    config: &Config,
    keys: KeyCache,
    encryption: KeyEncryption,
) -> Result<tokio::task::JoinHandle<()>, String> {
    let worker = Arc::new(Worker::new(store, config, keys, encryption)?);
    Ok(tokio::spawn(worker.run()))
}
