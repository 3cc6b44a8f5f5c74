//! A local stand-in for Stripe, speaking its wire format over real HTTP: form-encoded requests
//! with a bearer secret key, JSON objects, `{"error": {…}}` answers, signed webhook deliveries.
//! It covers what Portico uses — Checkout Sessions (with `Idempotency-Key` and trials),
//! subscriptions (retrieve, update metadata, cancel),
//! the events list, billing portal sessions — plus a checkout page and a portal page, both
//! marked TEST MODE, so `portico demo` and the browser tests can go through a payment. Tests
//! drive subscription changes through its methods and read what Portico sent it.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use url::Url;

use crate::domain::stripe_signature;

/// A running fake. Dropping it stops nothing: it lives as long as the runtime.
#[derive(Clone)]
pub struct FakeStripe {
    url: Url,
    state: Arc<Mutex<FakeState>>,
}

/// What Portico sent to create a checkout session.
#[derive(Debug, Clone)]
pub struct CheckoutRequest {
    pub params: Vec<(String, String)>,
    pub idempotency_key: Option<String>,
}

impl CheckoutRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

struct FakeState {
    secret_key: String,
    webhook_secret: String,
    webhook_url: Option<Url>,
    public: Url,
    counter: u64,
    last_created: i64,
    sessions: HashMap<String, Value>,
    by_idempotency_key: HashMap<String, String>,
    customers: HashMap<String, String>,
    subscriptions: HashMap<String, Value>,
    /// Oldest first.
    events: Vec<Value>,
    portals: HashMap<String, (String, String)>,
    checkout_requests: Vec<CheckoutRequest>,
}

impl FakeState {
    fn next_id(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_fake{:08}", self.counter)
    }

    /// The subscription `sub_id` of `customer` to `price`: active for 30 days, or trialing
    /// until `trial_end`.
    fn add_subscription(
        &mut self,
        sub_id: &str,
        customer: &str,
        price: &str,
        metadata: Value,
        trial_end: Option<i64>,
    ) {
        let now = crate::store::now();
        let (status, period_end) = match trial_end {
            Some(end) => ("trialing", end),
            None => ("active", now + 30 * 86_400),
        };
        let subscription = json!({
            "id": sub_id, "object": "subscription", "customer": customer, "status": status,
            "metadata": metadata, "created": now, "cancel_at_period_end": false, "trial_end": trial_end,
            "items": {"object": "list", "has_more": false, "data": [{
                "id": format!("si_{sub_id}"), "object": "subscription_item",
                "price": {"id": price, "object": "price"},
                "quantity": 1, "current_period_start": now, "current_period_end": period_end
            }]}
        });
        self.subscriptions.insert(sub_id.to_string(), subscription);
    }

    /// Records an event. Each is created at least a second after the previous one, so their
    /// order is visible in `created` as it is for Stripe's events far enough apart.
    fn emit(&mut self, kind: &str, object: Value) -> Value {
        let created = crate::store::now().max(self.last_created + 1);
        self.last_created = created;
        let id = self.next_id("evt");
        let event = json!({
            "id": id, "object": "event", "api_version": super::API_VERSION, "created": created,
            "livemode": false, "pending_webhooks": 1, "type": kind,
            "data": {"object": object}, "request": {"id": null, "idempotency_key": null}
        });
        self.events.push(event.clone());
        event
    }
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"error": {"type": "invalid_request_error", "message": message}}))).into_response()
}

impl FakeStripe {
    /// Starts on an ephemeral port of `ip`. `webhook_url`, when set, receives every event,
    /// signed with `webhook_secret` as Stripe signs.
    pub async fn start(
        ip: IpAddr,
        secret_key: &str,
        webhook_secret: &str,
        webhook_url: Option<Url>,
    ) -> std::io::Result<FakeStripe> {
        let listener = tokio::net::TcpListener::bind(SocketAddr::new(ip, 0)).await?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() { "127.0.0.1".to_string() } else { addr.ip().to_string() };
        let url =
            Url::parse(&format!("http://{}/", SocketAddr::new(host.parse().unwrap_or(ip), addr.port())))
                .map_err(std::io::Error::other)?;
        let state = Arc::new(Mutex::new(FakeState {
            secret_key: secret_key.to_string(),
            webhook_secret: webhook_secret.to_string(),
            webhook_url,
            public: url.clone(),
            counter: 0,
            last_created: 0,
            sessions: HashMap::new(),
            by_idempotency_key: HashMap::new(),
            customers: HashMap::new(),
            subscriptions: HashMap::new(),
            events: Vec::new(),
            portals: HashMap::new(),
            checkout_requests: Vec::new(),
        }));
        let fake = FakeStripe { url, state };
        let router = Router::new()
            .route("/v1/checkout/sessions", post(create_session))
            .route("/v1/checkout/sessions/{id}", get(retrieve_session))
            .route(
                "/v1/subscriptions/{id}",
                get(retrieve_subscription).post(update_subscription).delete(cancel_subscription),
            )
            .route("/v1/events", get(list_events))
            .route("/v1/billing_portal/sessions", post(create_portal))
            .route("/checkout/{id}", get(checkout_page))
            .route("/checkout/{id}/pay", post(checkout_pay))
            .route("/portal/{id}", get(portal_page))
            .route("/portal/{id}/cancel", post(portal_cancel))
            .with_state(fake.clone());
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, router).await {
                tracing::error!(error = %e, "fake Stripe stopped");
            }
        });
        Ok(fake)
    }

    /// The API base to configure Portico with (`stripe_api_base`).
    pub fn url(&self) -> &Url {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, FakeState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where events are delivered; `None` stops deliveries (events are still listed).
    pub fn set_webhook_url(&self, url: Option<Url>) {
        self.lock().webhook_url = url;
    }

    pub fn checkout_requests(&self) -> Vec<CheckoutRequest> {
        self.lock().checkout_requests.clone()
    }

    /// Every event so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.lock().events.clone()
    }

    pub fn subscription(&self, id: &str) -> Option<Value> {
        self.lock().subscriptions.get(id).cloned()
    }

    /// A customer and an active subscription made outside Portico (in the system a space
    /// moves from), with no events sent. Returns `(customer, subscription)`.
    pub fn add_existing_subscription(&self, email: &str, price: &str) -> (String, String) {
        let (customer, sub) = {
            let mut s = self.lock();
            (s.next_id("cus"), s.next_id("sub"))
        };
        self.insert_existing_subscription(&customer, &sub, email, price);
        (customer, sub)
    }

    /// The same with the ids given (those of a file, say).
    pub fn insert_existing_subscription(&self, customer: &str, sub: &str, email: &str, price: &str) {
        let mut s = self.lock();
        s.customers.insert(customer.to_string(), email.to_string());
        s.add_subscription(sub, customer, price, json!({}), None);
    }

    /// What the customer's "Pay" button does: a customer (unless the session names one), an
    /// active subscription carrying the session's metadata, and the three events Stripe sends
    /// (`customer.subscription.created`, `invoice.paid`, `checkout.session.completed`),
    /// delivered in that order. Returns the events.
    pub async fn pay(&self, session_id: &str) -> Result<Vec<Value>, String> {
        let events = {
            let mut s = self.lock();
            let session = s.sessions.get(session_id).cloned().ok_or("no such checkout session")?;
            if session["status"] != "open" {
                return Err("this checkout session is not open".into());
            }
            let customer = match session["customer"].as_str() {
                Some(c) => c.to_string(),
                None => {
                    let id = s.next_id("cus");
                    let email = session["customer_email"].as_str().unwrap_or_default().to_string();
                    s.customers.insert(id.clone(), email);
                    id
                }
            };
            let price = session["_price"].as_str().unwrap_or_default().to_string();
            let metadata = session["_subscription_metadata"].clone();
            // A trial end (a member paid through a date) starts the first charge then.
            let trial_end = session["_trial_end"].as_i64();
            let sub_id = s.next_id("sub");
            s.add_subscription(&sub_id, &customer, &price, metadata, trial_end);
            let subscription = s.subscriptions.get(&sub_id).cloned().unwrap_or_default();
            // A trial takes no payment at checkout.
            let payment_status = if trial_end.is_some() { "no_payment_required" } else { "paid" };
            let invoice = invoice_of(&mut s, &subscription, "paid");
            let mut completed = session.clone();
            if let Some(obj) = completed.as_object_mut() {
                obj.retain(|k, _| !k.starts_with('_'));
                obj.insert("status".into(), "complete".into());
                obj.insert("payment_status".into(), payment_status.into());
                obj.insert("customer".into(), customer.clone().into());
                obj.insert("subscription".into(), sub_id.clone().into());
            }
            if let Some(stored) = s.sessions.get_mut(session_id) {
                stored["status"] = "complete".into();
                stored["payment_status"] = payment_status.into();
                stored["customer"] = customer.into();
                stored["subscription"] = sub_id.into();
            }
            vec![
                s.emit("customer.subscription.created", subscription),
                s.emit("invoice.paid", invoice),
                s.emit("checkout.session.completed", completed),
            ]
        };
        for event in &events {
            self.deliver(event).await;
        }
        Ok(events)
    }

    /// Changes a subscription's status as Stripe would on its own (a failed renewal, a
    /// cancellation, a payment after a failure) and emits the events it would: the invoice
    /// event first (`invoice.payment_failed` for `past_due`, `invoice.paid` for `active`), then
    /// `customer.subscription.updated` (or `.deleted` for `canceled`). Returns the events.
    pub async fn set_status(&self, subscription: &str, status: &str) -> Result<Vec<Value>, String> {
        let events = {
            let mut s = self.lock();
            let sub = s.subscriptions.get_mut(subscription).ok_or("no such subscription")?;
            let previous = sub["status"].clone();
            sub["status"] = status.into();
            if status == "active"
                && let Some(item) = sub["items"]["data"].get_mut(0)
            {
                let end = item["current_period_end"].as_i64().unwrap_or_default() + 30 * 86_400;
                item["current_period_end"] = end.into();
            }
            let sub = sub.clone();
            let mut events = Vec::new();
            match status {
                "past_due" => {
                    let invoice = invoice_of(&mut s, &sub, "open");
                    events.push(s.emit("invoice.payment_failed", invoice));
                }
                "active" => {
                    let invoice = invoice_of(&mut s, &sub, "paid");
                    events.push(s.emit("invoice.paid", invoice));
                }
                _ => {}
            }
            let kind = if status == "canceled" {
                "customer.subscription.deleted"
            } else {
                "customer.subscription.updated"
            };
            let mut event = s.emit(kind, sub);
            event["data"]["previous_attributes"] = json!({ "status": previous });
            if let Some(last) = s.events.last_mut() {
                *last = event.clone();
            }
            events.push(event);
            events
        };
        for event in &events {
            self.deliver(event).await;
        }
        Ok(events)
    }

    /// Sends one event in the background, as Stripe does after answering an API call.
    fn deliver_later(&self, event: Value) {
        let fake = self.clone();
        tokio::spawn(async move { fake.deliver(&event).await });
    }

    /// Sends one event to the webhook URL, signed; the answer's status (None: not delivered).
    pub async fn deliver(&self, event: &Value) -> Option<u16> {
        let (url, secret) = {
            let s = self.lock();
            (s.webhook_url.clone()?, s.webhook_secret.clone())
        };
        let body = event.to_string();
        let signature = stripe_signature::sign(&secret, body.as_bytes(), crate::store::now());
        let client = reqwest::Client::builder().timeout(Duration::from_secs(15)).build().ok()?;
        let answer = client
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await;
        match answer {
            Ok(r) => Some(r.status().as_u16()),
            Err(e) => {
                tracing::warn!(error = %e, "fake Stripe: webhook delivery failed");
                None
            }
        }
    }
}

fn invoice_of(s: &mut FakeState, subscription: &Value, status: &str) -> Value {
    let id = s.next_id("in");
    let end = subscription["items"]["data"][0]["current_period_end"].as_i64().unwrap_or_default();
    json!({
        "id": id, "object": "invoice", "customer": subscription["customer"].clone(), "status": status,
        "parent": {"type": "subscription_details", "subscription_details": {
            "subscription": subscription["id"].clone(), "metadata": subscription["metadata"].clone()
        }},
        "lines": {"object": "list", "has_more": false, "data": [{
            "id": format!("il_{id}"), "object": "line_item", "period": {"start": end - 30 * 86_400, "end": end}
        }]}
    })
}

/// The 401 Stripe answers without the right secret key; `None` when authorised.
fn refused(fake: &FakeStripe, headers: &HeaderMap) -> Option<Response> {
    let expected = format!("Bearer {}", fake.lock().secret_key);
    match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(given) if given == expected => None,
        _ => Some(stripe_error(StatusCode::UNAUTHORIZED, "Invalid API Key provided")),
    }
}

async fn create_session(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let idempotency_key = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut s = fake.lock();
    s.checkout_requests
        .push(CheckoutRequest { params: params.clone(), idempotency_key: idempotency_key.clone() });
    if let Some(existing) = idempotency_key.as_ref().and_then(|k| s.by_idempotency_key.get(k)) {
        let session = s.sessions.get(existing).cloned().unwrap_or_default();
        return Json(public_session(&session)).into_response();
    }
    let price = param("line_items[0][price]").filter(|p| p.starts_with("price_"));
    let (Some("subscription"), Some(price), Some("1"), Some(success_url), Some(cancel_url)) = (
        param("mode").as_deref(),
        price,
        param("line_items[0][quantity]").as_deref(),
        param("success_url"),
        param("cancel_url"),
    ) else {
        return stripe_error(
            StatusCode::BAD_REQUEST,
            "mode, line_items[0][price|quantity], success_url and cancel_url are required",
        );
    };
    let customer = param("customer");
    let customer_email = param("customer_email");
    match (&customer, &customer_email) {
        (Some(c), None) if s.customers.contains_key(c) => {}
        (Some(c), None) => return stripe_error(StatusCode::BAD_REQUEST, &format!("No such customer: '{c}'")),
        (None, Some(_)) => {}
        _ => return stripe_error(StatusCode::BAD_REQUEST, "Pass exactly one of customer and customer_email"),
    }
    let mut subscription_metadata = serde_json::Map::new();
    for (k, v) in &params {
        if let Some(key) = k.strip_prefix("subscription_data[metadata][").and_then(|k| k.strip_suffix(']')) {
            subscription_metadata.insert(key.to_string(), v.clone().into());
        }
    }
    let id = s.next_id("cs_test");
    let url = s.public.join(&format!("checkout/{id}")).map(String::from).unwrap_or_default();
    let session = json!({
        "id": id, "object": "checkout.session", "mode": "subscription", "status": "open",
        "payment_status": "unpaid", "url": url, "client_reference_id": param("client_reference_id"),
        "customer": customer, "customer_email": customer_email, "success_url": success_url,
        "cancel_url": cancel_url, "subscription": null, "livemode": false,
        "_price": price, "_subscription_metadata": subscription_metadata,
        "_trial_end": param("subscription_data[trial_end]").and_then(|t| t.parse::<i64>().ok()),
    });
    s.sessions.insert(id.clone(), session.clone());
    if let Some(key) = idempotency_key {
        s.by_idempotency_key.insert(key, id);
    }
    Json(public_session(&session)).into_response()
}

/// A session as the API shows it (without the fake's own bookkeeping fields).
fn public_session(session: &Value) -> Value {
    let mut out = session.clone();
    if let Some(obj) = out.as_object_mut() {
        obj.retain(|k, _| !k.starts_with('_'));
    }
    out
}

async fn retrieve_session(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    match fake.lock().sessions.get(&id) {
        Some(session) => Json(public_session(session)).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, &format!("No such checkout.session: '{id}'")),
    }
}

async fn retrieve_subscription(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    match fake.lock().subscriptions.get(&id) {
        Some(sub) => Json(sub.clone()).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, &format!("No such subscription: '{id}'")),
    }
}

/// `POST /v1/subscriptions/{id}`: `metadata[KEY]` (an empty value removes the key) and
/// `cancel_at_period_end`; emits `customer.subscription.updated`, delivered in the background
/// as Stripe's would be.
async fn update_subscription(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
    RawForm(body): RawForm,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let (sub, event) = {
        let mut s = fake.lock();
        let Some(sub) = s.subscriptions.get_mut(&id) else {
            return stripe_error(StatusCode::NOT_FOUND, &format!("No such subscription: '{id}'"));
        };
        let previous = sub.clone();
        for (k, v) in &params {
            if let Some(key) = k.strip_prefix("metadata[").and_then(|k| k.strip_suffix(']')) {
                if !sub["metadata"].is_object() {
                    sub["metadata"] = json!({});
                }
                match (v.is_empty(), sub["metadata"].as_object_mut()) {
                    (true, Some(m)) => drop(m.remove(key)),
                    (false, Some(m)) => drop(m.insert(key.to_string(), v.clone().into())),
                    _ => {}
                }
            } else if k == "cancel_at_period_end" {
                sub["cancel_at_period_end"] = (v == "true").into();
            } else {
                return stripe_error(StatusCode::BAD_REQUEST, &format!("Received unknown parameter: {k}"));
            }
        }
        let sub = sub.clone();
        let mut event = s.emit("customer.subscription.updated", sub.clone());
        event["data"]["previous_attributes"] = json!({ "metadata": previous["metadata"], "cancel_at_period_end": previous["cancel_at_period_end"] });
        if let Some(last) = s.events.last_mut() {
            *last = event.clone();
        }
        (sub, event)
    };
    fake.deliver_later(event);
    Json(sub).into_response()
}

/// `DELETE /v1/subscriptions/{id}`: cancels at once; emits `customer.subscription.deleted`.
async fn cancel_subscription(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    let (sub, event) = {
        let mut s = fake.lock();
        let now = crate::store::now();
        let Some(sub) = s.subscriptions.get_mut(&id) else {
            return stripe_error(StatusCode::NOT_FOUND, &format!("No such subscription: '{id}'"));
        };
        if sub["status"] == "canceled" {
            return stripe_error(StatusCode::BAD_REQUEST, "This subscription has already been canceled");
        }
        sub["status"] = "canceled".into();
        sub["canceled_at"] = now.into();
        let sub = sub.clone();
        let event = s.emit("customer.subscription.deleted", sub.clone());
        (sub, event)
    };
    fake.deliver_later(event);
    Json(sub).into_response()
}

/// `GET /v1/events`: newest first, `created[gte]`, `limit` (≤ 100), `starting_after`.
async fn list_events(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    let since: i64 = q.get("created[gte]").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = q.get("limit").and_then(|v| v.parse().ok()).unwrap_or(10).clamp(1, 100);
    let s = fake.lock();
    let newest_first: Vec<&Value> =
        s.events.iter().rev().filter(|e| e["created"].as_i64().unwrap_or_default() >= since).collect();
    let start = match q.get("starting_after") {
        Some(after) => match newest_first.iter().position(|e| e["id"] == after.as_str()) {
            Some(i) => i + 1,
            None => return stripe_error(StatusCode::BAD_REQUEST, "starting_after names no event"),
        },
        None => 0,
    };
    let page: Vec<Value> = newest_first.iter().skip(start).take(limit).map(|e| (*e).clone()).collect();
    let has_more = newest_first.len() > start + page.len();
    Json(json!({"object": "list", "url": "/v1/events", "data": page, "has_more": has_more})).into_response()
}

async fn create_portal(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    RawForm(body): RawForm,
) -> Response {
    if let Some(r) = refused(&fake, &headers) {
        return r;
    }
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut s = fake.lock();
    let (Some(customer), Some(return_url)) = (params.get("customer"), params.get("return_url")) else {
        return stripe_error(StatusCode::BAD_REQUEST, "customer and return_url are required");
    };
    if !s.customers.contains_key(customer) {
        return stripe_error(StatusCode::BAD_REQUEST, &format!("No such customer: '{customer}'"));
    }
    let id = s.next_id("bps");
    let url = s.public.join(&format!("portal/{id}")).map(String::from).unwrap_or_default();
    s.portals.insert(id.clone(), (customer.clone(), return_url.clone()));
    Json(json!({"id": id, "object": "billing_portal.session", "customer": customer, "return_url": return_url, "url": url}))
        .into_response()
}

#[derive(Template)]
#[template(path = "fake_stripe_checkout.html")]
struct CheckoutPage {
    id: String,
    email: String,
    price: String,
    cancel_url: String,
    open: bool,
}

#[derive(Template)]
#[template(path = "fake_stripe_portal.html")]
struct PortalPage {
    id: String,
    subscriptions: Vec<(String, String)>,
    return_url: String,
}

fn html(page: &impl Template) -> Response {
    match page.render() {
        Ok(body) => Html(body).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn checkout_page(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let page = {
        let s = fake.lock();
        let Some(session) = s.sessions.get(&id) else {
            return (StatusCode::NOT_FOUND, "no such session").into_response();
        };
        let email = match session["customer"].as_str() {
            Some(c) => s.customers.get(c).cloned().unwrap_or_default(),
            None => session["customer_email"].as_str().unwrap_or_default().to_string(),
        };
        CheckoutPage {
            id: id.clone(),
            email,
            price: session["_price"].as_str().unwrap_or_default().to_string(),
            cancel_url: session["cancel_url"].as_str().unwrap_or_default().to_string(),
            open: session["status"] == "open",
        }
    };
    html(&page)
}

async fn checkout_pay(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    if let Err(e) = fake.pay(&id).await {
        return (StatusCode::BAD_REQUEST, e).into_response();
    }
    let success = fake.lock().sessions.get(&id).and_then(|s| s["success_url"].as_str().map(str::to_string));
    match success {
        Some(url) => Redirect::to(&url.replace("{CHECKOUT_SESSION_ID}", &id)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn portal_page(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let page = {
        let s = fake.lock();
        let Some((customer, return_url)) = s.portals.get(&id).cloned() else {
            return (StatusCode::NOT_FOUND, "no such portal session").into_response();
        };
        let mut subscriptions: Vec<(String, String)> = s
            .subscriptions
            .values()
            .filter(|sub| sub["customer"] == customer.as_str())
            .map(|sub| {
                (
                    sub["id"].as_str().unwrap_or_default().into(),
                    sub["status"].as_str().unwrap_or_default().into(),
                )
            })
            .collect();
        subscriptions.sort();
        PortalPage { id, subscriptions, return_url }
    };
    html(&page)
}

async fn portal_cancel(State(fake): State<FakeStripe>, Path(id): Path<String>) -> Response {
    let target = {
        let s = fake.lock();
        s.portals.get(&id).cloned().map(|(customer, return_url)| {
            let subs: Vec<String> = s
                .subscriptions
                .values()
                .filter(|sub| sub["customer"] == customer.as_str() && sub["status"] != "canceled")
                .filter_map(|sub| sub["id"].as_str().map(str::to_string))
                .collect();
            (subs, return_url)
        })
    };
    let Some((subs, return_url)) = target else { return StatusCode::NOT_FOUND.into_response() };
    for sub in subs {
        let _ = fake.set_status(&sub, "canceled").await;
    }
    Redirect::to(&return_url).into_response()
}
