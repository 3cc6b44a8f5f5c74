//! Stripe's API as Portico uses it: the few calls it makes, with a deadline on each, and the
//! shapes of the objects it reads (API version 2025-03-31: a subscription's period end is on
//! its items, an invoice's subscription under `parent.subscription_details`). `fake` is a local
//! server speaking the same wire format, for tests and the demo.

pub mod fake;

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::config::StripeConfig;

/// The API version whose object shapes this module reads.
pub const API_VERSION: &str = "2025-03-31.basil";

/// Deadline of one call to Stripe, connect included.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Stripe is unreachable: {0}")]
    Unreachable(String),
    #[error("Stripe answered {status}: {message}")]
    Api { status: u16, message: String },
    #[error("Stripe's answer could not be read: {0}")]
    Decode(String),
}

/// A client for Stripe's API; exists only when a secret key is configured.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    key: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    #[serde(default)]
    pub client_reference_id: Option<String>,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub payment_status: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub price: Price,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    pub items: List<SubscriptionItem>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionDetails {
    #[serde(default)]
    pub subscription: Option<String>,
    #[serde(default)]
    pub metadata: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceParent {
    #[serde(default)]
    pub subscription_details: Option<SubscriptionDetails>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Period {
    pub end: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct InvoiceLine {
    #[serde(default)]
    pub period: Option<Period>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub customer: Option<String>,
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    #[serde(default)]
    pub lines: Option<List<InvoiceLine>>,
}

impl Invoice {
    pub fn subscription_details(&self) -> Option<&SubscriptionDetails> {
        self.parent.as_ref()?.subscription_details.as_ref()
    }
    /// The end of the period this invoice pays for.
    pub fn period_end(&self) -> Option<i64> {
        self.lines.as_ref()?.data.iter().filter_map(|l| l.period.as_ref().map(|p| p.end)).max()
    }
}

impl Subscription {
    pub fn period_end(&self) -> Option<i64> {
        self.items.data.iter().filter_map(|i| i.current_period_end).max()
    }
    pub fn price_id(&self) -> Option<&str> {
        self.items.data.first().map(|i| i.price.id.as_str())
    }
}

/// An event as Stripe sends and lists it; `data.object` is read by type.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub created: i64,
    #[serde(default)]
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: serde_json::Value,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub url: String,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: Option<String>,
}

impl Client {
    /// `None` without a secret key: the instance takes no payments.
    pub fn new(config: &StripeConfig) -> Option<Client> {
        let key = config.secret_key.as_ref()?.0.clone();
        let http = reqwest::Client::builder()
            .timeout(CALL_TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .ok()?;
        Some(Client { http, base: config.api_base.clone(), key })
    }

    fn url(&self, path: &str) -> Result<Url, StripeError> {
        self.base.join(path).map_err(|e| StripeError::Unreachable(e.to_string()))
    }

    async fn send<T: serde::de::DeserializeOwned>(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<T, StripeError> {
        let response =
            request.bearer_auth(&self.key).header("Stripe-Version", API_VERSION).send().await.map_err(
                |e| if e.is_timeout() { StripeError::Timeout(CALL_TIMEOUT) } else { unreachable_error(e) },
            )?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| {
            if e.is_timeout() { StripeError::Timeout(CALL_TIMEOUT) } else { unreachable_error(e) }
        })?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorBody>(&body)
                .ok()
                .and_then(|b| b.error.message)
                .unwrap_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned());
            return Err(StripeError::Api { status: status.as_u16(), message });
        }
        serde_json::from_slice(&body).map_err(|e| StripeError::Decode(e.to_string()))
    }

    /// `POST /v1/checkout/sessions` with form parameters; the idempotency key makes a repeated
    /// submit return the same session.
    pub async fn create_checkout_session(
        &self,
        params: &[(String, String)],
        idempotency_key: &str,
    ) -> Result<CheckoutSession, StripeError> {
        let request = self
            .http
            .post(self.url("v1/checkout/sessions")?)
            .header("Idempotency-Key", idempotency_key)
            .form(params);
        self.send(request).await
    }

    fn subscription_url(&self, id: &str) -> Result<Url, StripeError> {
        let mut url = self.url("v1/subscriptions/")?;
        url.path_segments_mut().map_err(|_| StripeError::Unreachable("bad base URL".into()))?.pop().push(id);
        Ok(url)
    }

    pub async fn retrieve_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        self.send(self.http.get(self.subscription_url(id)?)).await
    }

    /// `POST /v1/subscriptions/{id}` with form parameters (`metadata[membership]`,
    /// `cancel_at_period_end`, …).
    pub async fn update_subscription(
        &self,
        id: &str,
        params: &[(&str, &str)],
    ) -> Result<Subscription, StripeError> {
        self.send(self.http.post(self.subscription_url(id)?).form(params)).await
    }

    /// `DELETE /v1/subscriptions/{id}`: cancels at once.
    pub async fn cancel_subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        self.send(self.http.delete(self.subscription_url(id)?)).await
    }

    /// One page of `GET /v1/events` (newest first), created at or after `since`, older than
    /// `starting_after` when given. Events are kept raw: the ledger stores them as they came.
    pub async fn list_events(
        &self,
        since: i64,
        starting_after: Option<&str>,
    ) -> Result<List<serde_json::Value>, StripeError> {
        let mut url = self.url("v1/events")?;
        url.query_pairs_mut().append_pair("created[gte]", &since.to_string()).append_pair("limit", "100");
        if let Some(after) = starting_after {
            url.query_pairs_mut().append_pair("starting_after", after);
        }
        self.send(self.http.get(url)).await
    }

    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<PortalSession, StripeError> {
        let params = [("customer", customer), ("return_url", return_url)];
        self.send(self.http.post(self.url("v1/billing_portal/sessions")?).form(&params)).await
    }
}

fn unreachable_error(e: reqwest::Error) -> StripeError {
    // Without the URL: it may carry query parameters not worth logging.
    StripeError::Unreachable(e.without_url().to_string())
}
