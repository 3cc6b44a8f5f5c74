//! A real HTTP server that receives webhooks, records what arrived, and answers as the test
//! says at the moment: a status (optionally with `Retry-After`), a hang (no answer at all), or
//! a slow answer. Scripted answers are used first, one per request, then the standing answer.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

#[derive(Clone, Debug)]
pub enum Answer {
    Status(u16),
    StatusRetryAfter(u16, u64),
    /// Never answers (the sender's deadline must end it).
    Hang,
    /// Answers 200 after a while.
    Slow(Duration),
}

#[derive(Clone, Debug)]
pub struct Received {
    pub id: String,
    pub timestamp: String,
    pub signature: String,
    pub body: String,
    pub at: Instant,
    /// What this request was answered (or would have been).
    pub answered: String,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

#[derive(Default)]
struct Inner {
    received: Vec<Received>,
    script: VecDeque<Answer>,
    standing: Option<Answer>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let inner = Arc::new(Mutex::new(Inner { standing: Some(Answer::Status(200)), ..Inner::default() }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        let app = axum::Router::new().route("/hook", axum::routing::post(receive)).with_state(inner.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { url, inner }
    }

    /// The answer from now on (after any scripted ones).
    pub fn answer(&self, answer: Answer) {
        self.inner.lock().unwrap().standing = Some(answer);
    }

    /// Answers for the next requests, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.inner.lock().unwrap().script.extend(answers);
    }

    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    pub fn count(&self) -> usize {
        self.inner.lock().unwrap().received.len()
    }

    /// Waits until `n` requests arrived (all of them are returned), or the timeout.
    pub async fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        while self.count() < n && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.received()
    }
}

async fn receive(State(inner): State<Arc<Mutex<Inner>>>, headers: HeaderMap, body: Bytes) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let answer = {
        let mut inner = inner.lock().unwrap();
        let answer = inner.script.pop_front().or(inner.standing.clone()).unwrap_or(Answer::Status(200));
        inner.received.push(Received {
            id: header("webhook-id"),
            timestamp: header("webhook-timestamp"),
            signature: header("webhook-signature"),
            body: String::from_utf8_lossy(&body).into_owned(),
            at: Instant::now(),
            answered: format!("{answer:?}"),
        });
        answer
    };
    match answer {
        Answer::Status(code) => {
            (StatusCode::from_u16(code).expect("status"), "receiver says hi").into_response()
        }
        Answer::StatusRetryAfter(code, secs) => {
            (StatusCode::from_u16(code).expect("status"), [("retry-after", secs.to_string())], "later")
                .into_response()
        }
        Answer::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            StatusCode::OK.into_response()
        }
        Answer::Slow(wait) => {
            tokio::time::sleep(wait).await;
            StatusCode::OK.into_response()
        }
    }
}
