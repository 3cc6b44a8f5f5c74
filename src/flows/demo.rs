//! The demo's sample data (`portico demo`, SPEC §3.12): the demo organisation as a living space
//! — members in every status, keys, authorisations with an expiry and a prerequisite, a door
//! device, a webhook endpoint on the dev receiver, an OpenID Connect client — made through the
//! same flows as real changes, so the audit log holds their history. It is made once (the
//! demo's database keeps it across restarts); every person is at `demo.example` and carries a
//! note saying they are sample data.
//!
//! Two steps need the running server and the demo's fake Stripe, and happen after it starts
//! ([`after_start`]): two members pay through the fake's checkout (its webhook events reach the
//! server as Stripe's would), and the door device fetches its access list once.

use super::members::{CatalogueRules, Change};
use super::{Ctx, FlowError, FlowResult};
use crate::config::Config;
use crate::domain::Email;
use crate::store::{self, Store, now};

pub const ORG: &str = "demo";
const DOMAIN: &str = "demo.example";
const NOTE: &str = "Sample data made by `portico demo`: not a real person.";

/// Who the demo has, and where each one stands.
#[derive(Clone, Copy)]
enum Stands {
    /// Pays through the fake Stripe after start, waiver signed: active by itself.
    Paying,
    /// Activated by staff (paid at the desk), with a key and authorisations.
    Active,
    /// Pays through the fake Stripe after start, no waiver yet: pending, waiting for it.
    WaitingForWaiver,
    /// Has not paid.
    WaitingForPayment,
    Suspended,
    Banned,
}

const PEOPLE: [(&str, &str, &str, Stands); 7] = [
    ("ada", "Ada", "Lovelace", Stands::Paying),
    ("grace", "Grace", "Hopper", Stands::Active),
    ("margaret", "Margaret", "Hamilton", Stands::Active),
    ("katherine", "Katherine", "Johnson", Stands::WaitingForWaiver),
    ("hedy", "Hedy", "Lamarr", Stands::WaitingForPayment),
    ("alan", "Alan", "Turing", Stands::Suspended),
    ("mallory", "Mallory", "Sample", Stands::Banned),
];

fn address(local: &str) -> String {
    format!("{local}@{DOMAIN}")
}

/// What the first seeding made that is shown once.
#[derive(Debug, Default)]
pub struct Seeded {
    /// The door device's token (only its hash is stored).
    pub device_token: String,
    pub oidc_client_id: String,
    pub oidc_client_secret: Option<String>,
}

async fn membership_of(
    store: &Store,
    local: &str,
) -> FlowResult<Option<(i64, store::memberships::Membership)>> {
    let Ok(email) = Email::parse(&address(local)) else { return Ok(None) };
    let Some(user) = store::users::find_by_email(store.pool(), &email).await? else { return Ok(None) };
    let Some(org) = store::orgs::find_by_slug(store.pool(), ORG).await? else { return Ok(None) };
    let membership = store::memberships::find_of_user(store.pool(), org.id, user.id).await?;
    Ok(membership.map(|m| (user.id, m)))
}

/// Seeds the demo organisation unless it was seeded before (`None` then). `base_url` is where
/// the dev webhook receiver and the sample OpenID Connect client's redirect are.
pub async fn seed(store: &Store, config: &Config) -> FlowResult<Option<Seeded>> {
    if membership_of(store, PEOPLE[0].0).await?.is_some() {
        return Ok(None);
    }
    let ctx = Ctx::cli();
    let waiver = super::orgs::OrgPatch { requires_waiver: Some(true), ..Default::default() };
    super::orgs::update(store, &ctx, ORG, &waiver).await?;
    // Created first, so every change below is an event it receives.
    let receiver = config
        .base_url
        .join(super::webhooks::DEV_RECEIVER_PATH)
        .map_err(|e| FlowError::Internal(e.to_string()))?;
    let endpoint = super::webhooks::EndpointInput { url: receiver.to_string(), ..Default::default() };
    let mut webhook_config = config.webhooks.clone();
    webhook_config.allow_private = true;
    super::webhooks::create(store, &webhook_config, &ctx, ORG, &endpoint).await?;

    let rules = |valid_days: Option<i64>, requires: &[&str]| CatalogueRules {
        valid_days,
        requires: requires.iter().map(|r| r.to_string()).collect(),
    };
    super::members::add_to_catalogue(store, &ctx, ORG, "induction", Some(&rules(None, &[]))).await?;
    super::members::add_to_catalogue(
        store,
        &ctx,
        ORG,
        "laser-cutter",
        Some(&rules(Some(365), &["induction"])),
    )
    .await?;
    super::members::add_to_catalogue(store, &ctx, ORG, "woodshop", Some(&rules(Some(180), &["induction"])))
        .await?;

    for (i, (local, first, last, stands)) in PEOPLE.iter().enumerate() {
        let id = join(store, local, first, last).await?;
        super::members::add_note(store, &ctx, ORG, id, NOTE).await?;
        if !matches!(stands, Stands::WaitingForWaiver | Stands::WaitingForPayment) {
            super::members::record_gate(store, &ctx, ORG, id, "waiver").await?;
        }
        let change = |status: &'static str, reason: &'static str, until: Option<&'static str>| Change {
            status: Some(status),
            role: None,
            reason: Some(reason),
            until,
        };
        match stands {
            Stands::Active | Stands::Suspended | Stands::Banned => {
                super::members::change(
                    store,
                    &ctx,
                    ORG,
                    id,
                    &change("active", "Demo: paid at the desk", None),
                )
                .await?;
                equip(store, &ctx, id, 1000 + i as i64).await?;
            }
            _ => {}
        }
        match stands {
            Stands::Suspended => {
                let until = time::OffsetDateTime::now_utc() + time::Duration::days(30);
                let until = until.date().to_string();
                let c = Change { until: Some(&until), ..change("suspended", "Demo: dues overdue", None) };
                super::members::change(store, &ctx, ORG, id, &c).await?;
            }
            Stands::Banned => {
                let c = change("banned", "Demo: ignored the safety rules", None);
                super::members::change(store, &ctx, ORG, id, &c).await?;
            }
            _ => {}
        }
    }

    let device = super::access::create_device(store, &ctx, ORG, "Front door (demo)", None).await?;
    let client = super::oidc::clients::ClientInput {
        name: "Demo wiki (sample client)".into(),
        redirect_uris: vec!["http://localhost:9000/oauth2/callback".into()],
        ..Default::default()
    };
    let (client, secret) = super::oidc::clients::create(store, &webhook_config, &ctx, ORG, &client).await?;
    Ok(Some(Seeded {
        device_token: device.token,
        oidc_client_id: client.client_id,
        oidc_client_secret: secret.map(|s| s.expose().to_string()),
    }))
}

/// A person joining the demo organisation (pending), with their name on the record.
async fn join(store: &Store, local: &str, first: &str, last: &str) -> FlowResult<i64> {
    let email = Email::parse(&address(local)).map_err(|_| FlowError::Internal("demo address".into()))?;
    let mut tx = store.begin().await?;
    let user = store::users::insert(tx.conn(), &email, None, None, now()).await?;
    tx.commit().await?;
    let origin = store::audit::Origin::default();
    let id = super::signup::join_with_account(store, &origin, ORG, user, email.as_str()).await?;
    let profile = store::records::Profile {
        first_name: first.into(),
        last_name: last.into(),
        custom_fields: "{}".into(),
        ..Default::default()
    };
    let mut tx = store.begin().await?;
    store::records::update_profile(tx.conn(), id, &profile, now()).await?;
    tx.commit().await?;
    Ok(id)
}

/// A key (`00047110NN`) and the induction, and the laser cutter it is the prerequisite of
/// (valid for a year).
async fn equip(store: &Store, ctx: &Ctx, id: i64, n: i64) -> FlowResult<()> {
    super::members::add_credential(store, ctx, ORG, id, &format!("000471{n:04}")).await?;
    super::members::set_authorisation(store, ctx, ORG, id, "induction", true).await?;
    super::members::set_authorisation(store, ctx, ORG, id, "laser-cutter", true).await?;
    Ok(())
}

/// With the server answering at `base`: the paying members pay through the fake Stripe's
/// checkout (unless they did on an earlier start), the first is equipped once active, and the
/// door device (when its token is known, on the first start) fetches its access list.
pub async fn after_start(
    store: &Store,
    config: &Config,
    stripe: &crate::stripe::Client,
    fake: &crate::stripe::fake::FakeStripe,
    device_token: Option<&str>,
) -> FlowResult<()> {
    let ctx = Ctx::cli();
    let plan = store::plans::list(
        store.pool(),
        store::orgs::find_by_slug(store.pool(), ORG).await?.map_or(0, |o| o.id),
    )
    .await?
    .into_iter()
    .find(|p| p.active)
    .ok_or(FlowError::NotFound)?;
    for (local, _, _, stands) in PEOPLE {
        if !matches!(stands, Stands::Paying | Stands::WaitingForWaiver) {
            continue;
        }
        let Some((user_id, membership)) = membership_of(store, local).await? else { continue };
        if membership.payment.paid_at.is_some() {
            continue;
        }
        let url =
            super::payments::start_checkout(store, config, Some(stripe), &ctx, user_id, ORG, plan.id).await?;
        let session = url.trim_end_matches('/').rsplit('/').next().unwrap_or_default().to_string();
        fake.pay(&session).await.map_err(FlowError::Upstream)?;
        if matches!(stands, Stands::Paying) {
            // Its events are processed by the server as they arrive; then it is active.
            for _ in 0..50 {
                let active = membership_of(store, local)
                    .await?
                    .is_some_and(|(_, m)| m.status == crate::domain::MembershipStatus::Active);
                if active {
                    equip(store, &ctx, membership.id, 1000).await?;
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    if let Some(token) = device_token {
        let url = config
            .base_url
            .join(&format!("api/v1/orgs/{ORG}/access-list"))
            .map_err(|e| FlowError::Internal(e.to_string()))?;
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| FlowError::Internal(e.to_string()))?;
        let answer = client.get(url).bearer_auth(token).send().await;
        if !answer.is_ok_and(|r| r.status().is_success()) {
            tracing::warn!("the demo door device could not fetch its access list");
        }
    }
    Ok(())
}
