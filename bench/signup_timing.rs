//! Signup enumeration benchmark: times the signup email step for addresses that have an account
//! and addresses that do not, interleaved, and reports both distributions and their difference.
//! The two must be indistinguishable: the request only records the attempt either way.
//!
//!     cargo bench --bench signup_timing                      # SQLite, 200 of each
//!     BENCH_REQUESTS=500 BENCH_DATABASE=postgres cargo bench --bench signup_timing

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::time::Instant;

use portico::domain::Email;
use portico::flows::{self, Ctx};

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.9), v.iter().sum::<f64>() / v.len() as f64)
}

#[tokio::main]
async fn main() {
    let n: usize = std::env::var("BENCH_REQUESTS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    if std::env::var("BENCH_DATABASE").as_deref() == Ok("postgres") {
        // SAFETY: set before any other thread reads the environment.
        unsafe { std::env::set_var("PORTICO_TEST_BACKEND", "postgres") };
    }
    let app = common::spawn().await;
    let ctx = Ctx::cli();
    let input = flows::orgs::OrgInput {
        slug: "bench".into(),
        name: "Bench".into(),
        kind: "nonprofit".into(),
        company_name: None,
        signup: Some("open".into()),
    };
    flows::orgs::create(&app.store, &ctx, &input).await.expect("org");
    flows::settings::set(&app.store, &ctx, "security.signup_requests_per_ip_per_15min", "100000")
        .await
        .expect("setting");
    let mut tx = app.store.begin().await.expect("tx");
    for i in 0..n {
        let email = Email::parse(&format!("known{i}@example.org")).expect("email");
        portico::store::users::insert(tx.conn(), &email, None, None, 0).await.expect("user");
    }
    tx.commit().await.expect("commit");

    let client = reqwest::Client::builder().cookie_store(true).build().expect("client");
    let page = client.get(app.url("/o/bench/join")).send().await.expect("page").text().await.expect("body");
    let token = common::csrf_token(&page);
    let (mut known, mut unknown) = (Vec::with_capacity(n), Vec::with_capacity(n));
    for i in 0..n {
        for (email, times) in
            [(format!("known{i}@example.org"), &mut known), (format!("new{i}@example.org"), &mut unknown)]
        {
            let start = Instant::now();
            let r = client
                .post(app.url("/o/bench/join"))
                .form(&[("csrf_token", token.as_str()), ("email", email.as_str())])
                .send()
                .await
                .expect("post");
            assert_eq!(r.status(), 200);
            r.bytes().await.expect("body");
            times.push(start.elapsed().as_secs_f64() * 1000.0);
        }
    }
    let (km, k90, kmean) = stats(known);
    let (um, u90, umean) = stats(unknown);
    println!(
        "signup_timing backend={:?} requests={n}x2: known median {km:.2} ms p90 {k90:.2} mean {kmean:.2}; \
         unknown median {um:.2} ms p90 {u90:.2} mean {umean:.2}; median difference {:.2} ms",
        common::backend(),
        (km - um).abs()
    );
}
