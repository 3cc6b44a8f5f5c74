//! The provider's signing keys (SPEC §3.9): one active key per algorithm, generated on first
//! start; `portico oidc rotate-keys` adds a `next` key that the JWKS publishes before it signs
//! (relying parties cache the JWKS), the scheduler promotes it once it has been published long
//! enough and retires the old one, which stays published until every token it signed has
//! expired. Private keys are stored encrypted (AES-256-GCM, the key id as associated data) with a
//! key derived from the server's secret key (HKDF-SHA256).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use josekit::jwk::Jwk;
use josekit::jwk::KeyPair;
use josekit::jwk::alg::ed::EdCurve;
use josekit::jws::{ES256, EdDSA, JwsSigner, RS256};
use rand::RngCore;
use serde_json::{Value, json};

use crate::domain::oidc::IdTokenAlg;
use crate::flows::sealing::Sealer;
use crate::flows::{FlowError, FlowResult};
use crate::store::{Store, now, oidc as oidc_store};

/// How long a retired key stays in the JWKS: longer than any token it signed can live (ID
/// tokens live at most an hour, the setting's maximum).
pub const RETIRED_KEY_KEPT_SECS: i64 = 3600 + 300;

/// The JWKS's `Cache-Control: max-age`; a `next` key is published at least twice this long
/// before it signs, so every relying party has fetched it.
pub const JWKS_MAX_AGE_SECS: i64 = 300;

/// The key that encrypts signing keys at rest, derived from the secret key.
#[derive(Clone)]
pub struct KeyEncryption(Sealer);

impl KeyEncryption {
    pub fn derive(secret_key: &[u8]) -> KeyEncryption {
        KeyEncryption(Sealer::derive(secret_key, b"portico oidc signing keys"))
    }

    /// Bound to `kid`.
    fn seal(&self, kid: &str, plaintext: &[u8]) -> FlowResult<String> {
        self.0.seal(kid, plaintext)
    }

    fn open(&self, kid: &str, sealed: &str) -> FlowResult<Vec<u8>> {
        self.0.open(kid, sealed).map_err(|_| {
            FlowError::Internal(format!(
                "the signing key {kid} cannot be decrypted: was the secret key changed?"
            ))
        })
    }
}

/// A new key pair: its id, its private key (DER) and its public JWK.
fn generate(alg: IdTokenAlg) -> FlowResult<(String, Vec<u8>, Jwk)> {
    let failed =
        |e: josekit::JoseError| FlowError::Internal(format!("generating a {} key: {e}", alg.as_str()));
    let pair: Box<dyn KeyPair> = match alg {
        IdTokenAlg::Rs256 => Box::new(RS256.generate_key_pair(2048).map_err(failed)?),
        IdTokenAlg::Es256 => Box::new(ES256.generate_key_pair().map_err(failed)?),
        IdTokenAlg::EdDsa => Box::new(EdDSA.generate_key_pair(EdCurve::Ed25519).map_err(failed)?),
    };
    let mut id = [0u8; 12];
    rand::rng().fill_bytes(&mut id);
    let kid = format!("{}-{}", alg.as_str().to_ascii_lowercase(), URL_SAFE_NO_PAD.encode(id));
    let mut public = pair.to_jwk_public_key();
    public.set_key_id(&kid);
    public.set_algorithm(alg.as_str());
    public.set_key_use("sig");
    Ok((kid, pair.to_der_private_key(), public))
}

fn signer(alg: IdTokenAlg, kid: &str, der: &[u8]) -> FlowResult<Box<dyn JwsSigner>> {
    let failed = |e: josekit::JoseError| FlowError::Internal(format!("loading the signing key {kid}: {e}"));
    Ok(match alg {
        IdTokenAlg::Rs256 => Box::new(RS256.signer_from_der(der).map_err(failed)?),
        IdTokenAlg::Es256 => Box::new(ES256.signer_from_der(der).map_err(failed)?),
        IdTokenAlg::EdDsa => Box::new(EdDSA.signer_from_der(der).map_err(failed)?),
    })
}

/// Adds a key of `alg` in `state` (`active` or `next`) unless one exists (the partial unique
/// indexes make this safe when several processes start at once). Whether one was added.
async fn add_key(
    store: &Store,
    encryption: &KeyEncryption,
    alg: IdTokenAlg,
    state: &str,
) -> FlowResult<bool> {
    // RSA generation takes a moment: off the async threads.
    let (kid, der, public) = tokio::task::spawn_blocking(move || generate(alg))
        .await
        .map_err(|e| FlowError::Internal(e.to_string()))??;
    let sealed = encryption.seal(&kid, &der)?;
    let mut tx = store.begin().await?;
    let new = oidc_store::NewKey {
        kid: &kid,
        alg: alg.as_str(),
        state,
        private_key: &sealed,
        public_jwk: &public.to_string(),
    };
    let added = oidc_store::insert_key(tx.conn(), &new, now()).await?;
    tx.commit().await?;
    Ok(added)
}

/// On start: an active key for every algorithm (the first start generates them), each one
/// decryptable with this secret key.
pub async fn ensure_active(store: &Store, encryption: &KeyEncryption) -> FlowResult<usize> {
    let mut added = 0;
    for alg in IdTokenAlg::ALL {
        match oidc_store::key_in_state(store.pool(), alg.as_str(), "active").await? {
            Some(key) => {
                encryption.open(&key.kid, &key.private_key)?;
            }
            None => {
                if add_key(store, encryption, alg, "active").await? {
                    added += 1;
                }
            }
        }
    }
    Ok(added)
}

/// The demo generates a new secret key on every start, so the keys an earlier start made cannot
/// be decrypted: it starts over with new ones (tokens of earlier runs stop verifying). Never
/// used by `serve`, where a changed secret key is an operator's error to be told about.
pub async fn reset_if_undecryptable(store: &Store, encryption: &KeyEncryption) -> FlowResult<bool> {
    let keys = oidc_store::published_keys(store.pool()).await?;
    if keys.iter().all(|k| encryption.open(&k.kid, &k.private_key).is_ok()) {
        return Ok(false);
    }
    sqlx::query("DELETE FROM oidc_keys")
        .execute(store.pool())
        .await
        .map_err(crate::store::StoreError::from)?;
    ensure_active(store, encryption).await?;
    Ok(true)
}

/// `portico oidc rotate-keys`: a `next` key for every algorithm, published now and signing once
/// `publish_secs` have passed (the scheduler promotes it). The kids added.
pub async fn rotate(store: &Store, encryption: &KeyEncryption) -> FlowResult<Vec<String>> {
    ensure_active(store, encryption).await?;
    let mut added = Vec::new();
    for alg in IdTokenAlg::ALL {
        if oidc_store::key_in_state(store.pool(), alg.as_str(), "next").await?.is_none() {
            add_key(store, encryption, alg, "next").await?;
        }
        if let Some(key) = oidc_store::key_in_state(store.pool(), alg.as_str(), "next").await? {
            added.push(key.kid);
        }
    }
    Ok(added)
}

/// What one round of key upkeep did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Upkeep {
    pub promoted: usize,
    pub removed: usize,
}

/// Promotes `next` keys published for at least `publish_secs` (the active one retires), and
/// removes retired keys whose tokens have all expired. Safe in several processes: each step is
/// conditional.
pub async fn upkeep(store: &Store, publish_secs: i64) -> FlowResult<Upkeep> {
    let at = now();
    let mut done = Upkeep::default();
    for alg in IdTokenAlg::ALL {
        let Some(next) = oidc_store::key_in_state(store.pool(), alg.as_str(), "next").await? else {
            continue;
        };
        if next.created_at + publish_secs > at {
            continue;
        }
        let mut tx = store.begin().await?;
        oidc_store::retire_active(tx.conn(), alg.as_str(), at).await?;
        if oidc_store::activate(tx.conn(), &next.kid, at).await? {
            done.promoted += 1;
        }
        tx.commit().await?;
    }
    done.removed =
        oidc_store::delete_retired_before(store.pool(), at - RETIRED_KEY_KEPT_SECS).await? as usize;
    Ok(done)
}

/// The JWKS: every published key (next, active, retired).
pub async fn jwks(store: &Store) -> FlowResult<Value> {
    let keys = oidc_store::published_keys(store.pool()).await?;
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| serde_json::from_str(&k.public_jwk).map_err(|e| FlowError::Internal(e.to_string())))
        .collect::<FlowResult<_>>()?;
    Ok(json!({ "keys": keys }))
}

/// A key ready to sign.
pub struct SigningKey {
    pub kid: String,
    pub alg: IdTokenAlg,
    signer: Box<dyn JwsSigner>,
}

impl SigningKey {
    /// A signed JWT of `claims` (`typ` as given: `JWT`, or `logout+jwt`).
    pub fn sign(&self, typ: &str, claims: serde_json::Map<String, Value>) -> FlowResult<String> {
        let mut header = josekit::jws::JwsHeader::new();
        header.set_token_type(typ);
        header.set_key_id(&self.kid);
        let payload = josekit::jwt::JwtPayload::from_map(claims)
            .map_err(|e| FlowError::Internal(format!("token claims: {e}")))?;
        josekit::jwt::encode_with_signer(&payload, &header, &*self.signer)
            .map_err(|e| FlowError::Internal(format!("signing a token: {e}")))
    }
}

/// This process's decrypted signing keys, by kid (a key changes only by rotation, which makes a
/// new kid).
#[derive(Clone, Default)]
pub struct KeyCache(Arc<RwLock<HashMap<String, Arc<SigningKey>>>>);

impl KeyCache {
    /// The active key of `alg`, decrypted once per process.
    pub async fn active(
        &self,
        store: &Store,
        encryption: &KeyEncryption,
        alg: IdTokenAlg,
    ) -> FlowResult<Arc<SigningKey>> {
        let row = oidc_store::key_in_state(store.pool(), alg.as_str(), "active")
            .await?
            .ok_or_else(|| FlowError::Internal(format!("no active {} signing key", alg.as_str())))?;
        if let Some(key) = self.0.read().ok().and_then(|m| m.get(&row.kid).cloned()) {
            return Ok(key);
        }
        let der = encryption.open(&row.kid, &row.private_key)?;
        let key = Arc::new(SigningKey { signer: signer(alg, &row.kid, &der)?, kid: row.kid.clone(), alg });
        if let Ok(mut map) = self.0.write() {
            map.insert(row.kid, key.clone());
        }
        Ok(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_keys_are_sealed_to_their_kid_and_the_secret_key() {
        let encryption = KeyEncryption::derive(b"a secret key of at least thirty-two bytes");
        let sealed = encryption.seal("rs256-abc", b"private").unwrap();
        assert_eq!(encryption.open("rs256-abc", &sealed).unwrap(), b"private");
        assert!(encryption.open("rs256-other", &sealed).is_err(), "bound to its kid");
        let other = KeyEncryption::derive(b"another secret key of thirty-two bytes!!");
        assert!(other.open("rs256-abc", &sealed).is_err(), "bound to the secret key");
    }

    #[test]
    fn every_algorithm_generates_a_key_that_signs_and_verifies_through_its_jwk() {
        for alg in IdTokenAlg::ALL {
            let (kid, der, public) = generate(alg).unwrap();
            assert_eq!(public.key_id(), Some(kid.as_str()));
            assert!(public.parameter("d").is_none(), "no private part in the JWK");
            let key = SigningKey { signer: signer(alg, &kid, &der).unwrap(), kid: kid.clone(), alg };
            let mut claims = serde_json::Map::new();
            claims.insert("sub".into(), json!("x"));
            let token = key.sign("JWT", claims).unwrap();
            let verifier: Box<dyn josekit::jws::JwsVerifier> = match alg {
                IdTokenAlg::Rs256 => Box::new(RS256.verifier_from_jwk(&public).unwrap()),
                IdTokenAlg::Es256 => Box::new(ES256.verifier_from_jwk(&public).unwrap()),
                IdTokenAlg::EdDsa => Box::new(EdDSA.verifier_from_jwk(&public).unwrap()),
            };
            let (payload, header) = josekit::jwt::decode_with_verifier(&token, &*verifier).unwrap();
            assert_eq!(payload.subject(), Some("x"));
            assert_eq!(header.claim("kid"), Some(&json!(kid)));
        }
    }
}
