//! The authorization request (SPEC §3.9, RFC 6749 §4.1, OpenID Connect Core §3.1.2): which
//! answer a request gets, independent of HTTP. An unknown client or a redirect URI that is not
//! registered exactly gets an error page and no redirect; every later error goes back to the
//! client with `error`, `state` and `iss` (RFC 9207).

use super::provider::{self, Provider};
use super::rule::{self, Refusal};
use crate::domain::oidc;
use crate::flows::FlowResult;
use crate::store::oidc::{self as oidc_store, Authorization, Client};
use crate::store::orgs::Org;
use crate::store::{Store, now};

/// The parameters of an authorization request, each given at most once.
#[derive(Debug, Default, Clone)]
pub struct Params {
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub response_type: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    /// The first parameter given more than once (RFC 6749 §3.1: an error).
    pub repeated: Option<String>,
    /// Values over the size any of them may have.
    pub oversized: bool,
}

/// Longest value of any parameter.
pub const MAX_PARAM: usize = 2000;

impl Params {
    /// From `name=value` pairs (a query or a form), unknown ones ignored.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Params {
        let mut p = Params::default();
        for (name, value) in pairs {
            let slot = match name {
                "client_id" => &mut p.client_id,
                "redirect_uri" => &mut p.redirect_uri,
                "response_type" => &mut p.response_type,
                "scope" => &mut p.scope,
                "state" => &mut p.state,
                "nonce" => &mut p.nonce,
                "code_challenge" => &mut p.code_challenge,
                "code_challenge_method" => &mut p.code_challenge_method,
                "prompt" => &mut p.prompt,
                "max_age" => &mut p.max_age,
                _ => continue,
            };
            if value.len() > MAX_PARAM {
                p.oversized = true;
            }
            if slot.is_some() {
                p.repeated.get_or_insert_with(|| name.to_string());
            }
            *slot = Some(value.to_string());
        }
        p
    }

    /// The request again, as `name=value` pairs, without what would ask again for what was just
    /// done (`prompt=login` and `max_age` after a sign-in, `prompt=consent` after consent): where
    /// the sign-in and consent pages send the person on.
    pub fn pairs_after(&self, done: &str) -> Vec<(&'static str, String)> {
        let prompt = self
            .prompt
            .as_deref()
            .map(|p| p.split(' ').filter(|v| *v != done && !v.is_empty()).collect::<Vec<_>>().join(" "))
            .filter(|p| !p.is_empty());
        [
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("response_type", self.response_type.clone()),
            ("scope", self.scope.clone()),
            ("state", self.state.clone()),
            ("nonce", self.nonce.clone()),
            ("code_challenge", self.code_challenge.clone()),
            ("code_challenge_method", self.code_challenge_method.clone()),
            ("prompt", prompt),
            // A sign-in just made satisfies `max_age` (asking again once it took a second longer
            // than `max_age=0` would never end).
            ("max_age", self.max_age.clone().filter(|_| done != "login")),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }
}

/// The signed-in person, as the authorization needs them.
pub struct Signed<'a> {
    pub user_id: i64,
    pub session_token: &'a str,
    pub auth_time: i64,
    /// How the session was signed in (`pwd`, `pwd otp mfa`…), the ID token's `amr`.
    pub amr: &'a str,
}

/// What the person chose on the consent page, when the request comes from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Consent {
    Allow,
    Deny,
}

/// The answer to an authorization request.
pub enum Outcome {
    /// An error page, no redirect (the client or the redirect URI cannot be trusted); the
    /// Fluent key of its message.
    ErrorPage(&'static str),
    /// Back to the client: a code, or an error.
    Redirect(String),
    /// Sign in first (again, for `prompt=login` or `max_age`), then come back.
    SignIn,
    /// Ask the person (a client that is not first-party, without remembered consent).
    Consent { client: Box<Client>, scopes: Vec<&'static str> },
    /// The membership rule says no: a page telling the person why.
    Refused(Refusal),
}

/// The client's redirect URI with `params` added to its query.
fn back_to(redirect_uri: &str, params: &[(&str, &str)]) -> String {
    let mut url = match url::Url::parse(redirect_uri) {
        Ok(url) => url,
        Err(_) => return redirect_uri.to_string(),
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in params {
            query.append_pair(k, v);
        }
    }
    url.to_string()
}

/// Decides the answer.
pub async fn decide(
    p: &Provider<'_>,
    org: &Org,
    params: &Params,
    signed: Option<&Signed<'_>>,
    consent: Option<Consent>,
) -> FlowResult<Outcome> {
    // Whom to answer: without a known client and its exact redirect URI, nobody.
    let Some(client_id) = params.client_id.as_deref() else {
        return Ok(Outcome::ErrorPage("oidc-error-no-client"));
    };
    let Some(client) = provider::client_of(p.store, org, client_id).await? else {
        return Ok(Outcome::ErrorPage("oidc-error-unknown-client"));
    };
    let Some(redirect_uri) =
        params.redirect_uri.as_deref().filter(|r| client.redirect_uris.iter().any(|u| u == r))
    else {
        return Ok(Outcome::ErrorPage("oidc-error-redirect-uri"));
    };
    let state = params.state.as_deref();
    let error = |code: &str, description: &str| {
        let mut out = vec![("error", code), ("error_description", description)];
        if let Some(state) = state {
            out.push(("state", state));
        }
        out.push(("iss", p.issuer.as_str()));
        Ok(Outcome::Redirect(back_to(redirect_uri, &out)))
    };
    if let Some(name) = &params.repeated {
        return error("invalid_request", &format!("{name} is given more than once"));
    }
    if params.oversized {
        return error("invalid_request", "a parameter is too long");
    }
    if !client.enabled {
        return error("unauthorized_client", "this client is disabled");
    }
    if params.response_type.as_deref() != Some("code") {
        return error("unsupported_response_type", "only response_type=code is supported");
    }
    let Some(scopes) = params.scope.as_deref().and_then(oidc::parse_scopes) else {
        return error("invalid_scope", "scope must include openid");
    };
    match (params.code_challenge.as_deref(), params.code_challenge_method.as_deref()) {
        (_, Some(method)) if method != "S256" => {
            return error("invalid_request", "code_challenge_method must be S256 (plain is not accepted)");
        }
        (Some(challenge), _) if !oidc::valid_challenge(challenge) => {
            return error("invalid_request", "code_challenge is not an S256 challenge");
        }
        (Some(_), None) => return error("invalid_request", "code_challenge_method=S256 is required"),
        (None, _) if client.pkce_required => {
            return error("invalid_request", "PKCE (code_challenge, S256) is required");
        }
        _ => {}
    }
    let prompts: Vec<&str> =
        params.prompt.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty()).collect();
    if prompts.iter().any(|p| !["none", "login", "consent", "select_account"].contains(p))
        || (prompts.contains(&"none") && prompts.len() > 1)
    {
        return error("invalid_request", "prompt has an unknown value, or none with another");
    }
    let max_age = match params.max_age.as_deref() {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(secs) if secs >= 0 => Some(secs),
            _ => return error("invalid_request", "max_age must be a whole number of seconds"),
        },
    };
    let none = prompts.contains(&"none");

    // Who is asking: a sign-in that is recent enough, unless it must be done again.
    let fresh = signed
        .filter(|s| !prompts.contains(&"login") && max_age.is_none_or(|age| now() - s.auth_time <= age));
    let Some(signed) = fresh else {
        return if none { error("login_required", "the user is not signed in") } else { Ok(Outcome::SignIn) };
    };

    // Membership decides, every time (a live session included).
    let membership = match rule::check_now(p.store, &client, signed.user_id).await? {
        Ok(m) => m,
        Err(refusal) => {
            return if none {
                error("access_denied", "the user may not sign in to this client")
            } else {
                Ok(Outcome::Refused(refusal))
            };
        }
    };

    let scope = scopes.join(" ");
    if !client.first_party {
        match consent {
            Some(Consent::Deny) => return error("access_denied", "the user did not allow it"),
            Some(Consent::Allow) => {
                let mut tx = p.store.begin().await?;
                oidc_store::record_consent(tx.conn(), signed.user_id, client.id, &scope, now()).await?;
                tx.commit().await?;
            }
            None => {
                let given = oidc_store::consent(p.store.pool(), signed.user_id, client.id).await?;
                let covered = given.is_some_and(|g| scopes.iter().all(|s| g.split(' ').any(|x| x == *s)));
                if !covered || prompts.contains(&"consent") {
                    return if none {
                        error("consent_required", "the user has not allowed this client")
                    } else {
                        Ok(Outcome::Consent { client: Box::new(client), scopes })
                    };
                }
            }
        }
    }

    let authorization = Authorization {
        client_pk: client.id,
        user_id: signed.user_id,
        membership_id: membership.id,
        scope,
        sid: provider::session_id(signed.session_token),
        auth_time: signed.auth_time,
        amr: signed.amr.to_string(),
        nonce: params.nonce.clone(),
    };
    let code =
        provider::issue_code(p.store, &authorization, redirect_uri, params.code_challenge.as_deref()).await?;
    let mut out = vec![("code", code.as_str())];
    if let Some(state) = state {
        out.push(("state", state));
    }
    out.push(("iss", p.issuer.as_str()));
    Ok(Outcome::Redirect(back_to(redirect_uri, &out)))
}

/// The clients a person has allowed ("connected applications" in `/account`).
pub async fn connected(store: &Store, user_id: i64) -> FlowResult<Vec<(Client, String)>> {
    Ok(oidc_store::consents_of(store.pool(), user_id).await?)
}
