//! Template structs. Each page gets the request context as `p` for the shared layout.

use askama::Template;

use super::WebCtx;
use crate::store::orgs::{MemberRow, Org, OrgSummary};

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub p: &'a WebCtx,
    pub title: String,
    pub message: String,
}

#[derive(Template)]
#[template(path = "home.html")]
pub struct Home<'a> {
    pub p: &'a WebCtx,
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct Login<'a> {
    pub p: &'a WebCtx,
    pub email: String,
    pub error: Option<String>,
    /// Where to continue once signed in (empty: the home page).
    pub next: String,
}

/// The message key of an organisation's second-factor rule.
pub fn second_factor_rule_key(rule: &str) -> &'static str {
    match rule {
        "admins" => "second-factor-rule-admins",
        "everyone" => "second-factor-rule-everyone",
        _ => "second-factor-rule-none",
    }
}

/// A TOTP being added, as the security page shows it.
pub struct TotpShown {
    /// The QR code (SVG drawn by the server from the URI).
    pub svg: String,
    pub uri: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "account_security.html")]
pub struct SecurityPage<'a> {
    pub p: &'a WebCtx,
    pub factors: crate::flows::second_factor::Status,
    pub enrolling: Option<TotpShown>,
    /// Recovery codes just made: shown this once.
    pub codes: Option<Vec<String>>,
    pub error: Option<String>,
    /// Staff must have a second factor (said at the top while they have none).
    pub required: bool,
}

impl SecurityPage<'_> {
    pub fn totp_on(&self) -> bool {
        self.factors.totp.as_ref().is_some_and(|t| t.confirmed_at.is_some())
    }
    pub fn totp_last_used(&self) -> Option<i64> {
        self.factors.totp.as_ref().and_then(|t| t.last_used_at)
    }
}

#[derive(Template)]
#[template(path = "reauth.html")]
pub struct Reauth<'a> {
    pub p: &'a WebCtx,
    /// `get` or `post`: how to go back to the action.
    pub method: &'static str,
    pub action: String,
    /// The form being sent, carried through.
    pub fields: Vec<(String, String)>,
    /// Ask for a code of the second factor (else the password).
    pub with_factor: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "reauth_continue.html")]
pub struct ReauthContinue<'a> {
    pub p: &'a WebCtx,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "second_factor.html")]
pub struct SecondFactor<'a> {
    pub p: &'a WebCtx,
    pub error: Option<String>,
    /// The account has passkeys: offer one.
    pub has_passkeys: bool,
}

/// A form field's submitted value and its error message, if any.
#[derive(Default)]
pub struct Field {
    pub value: String,
    pub error: Option<String>,
}

#[derive(Default)]
pub struct OrgForm {
    pub slug: Field,
    pub name: Field,
    pub kind: Field,
    pub company_name: Field,
    pub signup: Field,
    pub has_errors: bool,
}

#[derive(Template)]
#[template(path = "staff_orgs.html")]
pub struct StaffOrgs<'a> {
    pub p: &'a WebCtx,
    pub orgs: Vec<OrgSummary>,
    pub form: OrgForm,
    pub kinds: &'static [crate::domain::OrgKind],
}

#[derive(Template)]
#[template(path = "staff_org.html")]
pub struct StaffOrg<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub members: Vec<MemberRow>,
    pub invitations: Vec<crate::store::invitations::Invitation>,
    pub invite: InviteForm,
    pub roles: &'static [crate::domain::MembershipRole],
    pub statuses: &'static [crate::domain::MembershipStatus],
    pub catalogue: Vec<crate::store::records::CatalogueEntry>,
    pub filter: MemberFilterQuery,
    pub overview: crate::flows::overview::Overview,
    /// More members match than the page shows.
    pub more_members: bool,
}

impl StaffOrg<'_> {
    pub fn second_factor_key(&self) -> &'static str {
        second_factor_rule_key(&self.org.second_factor)
    }

    /// The joins-and-leaves chart, laid out for the SVG the server renders.
    pub fn chart(&self) -> MonthChart {
        MonthChart::of(&self.overview.months)
    }
}

/// A bar chart of joins and leaves per month: two bars per month, scaled to the largest value.
pub struct MonthChart {
    pub width: i64,
    pub height: i64,
    /// The y of the baseline.
    pub base: i64,
    pub bars: Vec<MonthBars>,
}

pub struct MonthBars {
    pub x: i64,
    pub joins: i64,
    pub leaves: i64,
    pub join_height: i64,
    pub leave_height: i64,
    /// `MM/YY`.
    pub label: String,
}

impl MonthChart {
    const SLOT: i64 = 44;
    const BAR: i64 = 16;
    const PLOT: i64 = 120;
    const TOP: i64 = 18;

    fn of(months: &[crate::flows::overview::MonthFigures]) -> MonthChart {
        let most = months.iter().map(|m| m.joins.max(m.leaves)).max().unwrap_or(0).max(1);
        let scale = |n: i64| if n == 0 { 0 } else { (n * Self::PLOT / most).max(2) };
        let bars = months
            .iter()
            .enumerate()
            .map(|(i, m)| MonthBars {
                x: 8 + i as i64 * Self::SLOT,
                joins: m.joins,
                leaves: m.leaves,
                join_height: scale(m.joins),
                leave_height: scale(m.leaves),
                label: format!("{}/{}", m.month.get(5..7).unwrap_or(""), m.month.get(2..4).unwrap_or("")),
            })
            .collect();
        MonthChart {
            width: 16 + months.len() as i64 * Self::SLOT,
            height: Self::TOP + Self::PLOT + 22,
            base: Self::TOP + Self::PLOT,
            bars,
        }
    }

    pub fn bar_width(&self) -> i64 {
        Self::BAR
    }
}

#[derive(Template)]
#[template(path = "staff_payments.html")]
pub struct StaffPayments<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub plans: Vec<crate::store::plans::Plan>,
    pub error: Option<String>,
    /// Stripe is configured on this instance.
    pub takes_payments: bool,
    pub intervals: &'static [&'static str],
}

#[derive(Template)]
#[template(path = "staff_devices.html")]
pub struct StaffDevices<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub devices: Vec<crate::flows::access::DeviceStatus>,
    pub revocations: Vec<crate::flows::access::RevocationView>,
    pub catalogue: Vec<String>,
    /// A device just registered: (name, token), shown once.
    pub new_token: Option<(String, String)>,
    pub error: Option<String>,
    pub now: i64,
}

#[derive(Template)]
#[template(path = "staff_webhooks.html")]
pub struct StaffWebhooks<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub endpoints: Vec<crate::store::webhooks::Endpoint>,
    pub event_types: &'static [&'static str],
    /// An endpoint just added or rotated: (URL, secret), shown once.
    pub new_secret: Option<(String, String)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "staff_webhook.html")]
pub struct StaffWebhook<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub endpoint: crate::store::webhooks::Endpoint,
    pub deliveries: Vec<crate::store::webhooks::DeliveryRow>,
    pub now_ms: i64,
}

#[derive(Template)]
#[template(path = "staff_oidc_client.html")]
pub struct StaffOidcClient<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub client: crate::store::oidc::Client,
    pub logouts: Vec<crate::store::oidc::LogoutRow>,
    pub now_ms: i64,
}

/// A runtime setting and its current value.
pub struct SettingRow {
    pub def: &'static crate::domain::SettingDef,
    pub value: i64,
}

#[derive(Template)]
#[template(path = "staff_settings.html")]
pub struct StaffSettings<'a> {
    pub p: &'a WebCtx,
    pub rows: Vec<SettingRow>,
    pub error: Option<String>,
}

/// An endpoint's row action: "toggle" is enable or disable, as it stands.
pub fn webhook_action(
    action: &'static str,
    key: &'static str,
    enabled: &bool,
) -> (&'static str, &'static str) {
    match (action, *enabled) {
        ("toggle", true) => ("disable", "webhooks-disable"),
        ("toggle", false) => ("enable", "webhooks-enable"),
        _ => (action, key),
    }
}

/// A number of seconds, however many references deep a template holds it.
pub trait Seconds {
    fn seconds(&self) -> i64;
}

impl Seconds for i64 {
    fn seconds(&self) -> i64 {
        *self
    }
}

impl<T: Seconds + ?Sized> Seconds for &T {
    fn seconds(&self) -> i64 {
        (**self).seconds()
    }
}

/// A duration in seconds as people read it: `42 s`, `3 min`, `5 h`, `2 d`.
pub fn span(secs: impl Seconds) -> String {
    let s = secs.seconds().max(0);
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86_400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86_400),
    }
}

#[derive(Template)]
#[template(path = "staff_ledger.html")]
pub struct StaffLedger<'a> {
    pub p: &'a WebCtx,
    pub events: Vec<crate::store::stripe_events::LedgerEvent>,
    pub query: crate::flows::payments::LedgerQuery,
}

#[derive(Template)]
#[template(path = "dev_mail_list.html")]
pub struct DevMailList<'a> {
    pub p: &'a WebCtx,
    pub mails: Vec<crate::store::outbox::DevMail>,
}

#[derive(Template)]
#[template(path = "dev_webhooks.html")]
pub struct DevWebhookList<'a> {
    pub p: &'a WebCtx,
    /// The receiver's URL, to give an endpoint.
    pub url: String,
    pub deliveries: Vec<crate::state::DevWebhook>,
}

#[derive(Template)]
#[template(path = "dev_mail_show.html")]
pub struct DevMailShow<'a> {
    pub p: &'a WebCtx,
    pub mail: crate::store::outbox::DevMail,
    pub links: Vec<String>,
}

#[derive(Template)]
#[template(path = "staff_outbox.html")]
pub struct StaffOutbox<'a> {
    pub p: &'a WebCtx,
    pub messages: Vec<crate::store::outbox::OutboxRow>,
}

/// Unix seconds for display (UTC, minutes).
/// The Fluent key naming a staff role.
pub fn staff_role_key(role: crate::domain::StaffRole) -> &'static str {
    match role {
        crate::domain::StaffRole::Admin => "staff-role-admin",
        crate::domain::StaffRole::Support => "staff-role-support",
    }
}

pub fn when(secs: &i64) -> String {
    crate::domain::rfc3339(*secs).replace('T', " ").trim_end_matches('Z').chars().take(16).collect()
}

#[derive(Template)]
#[template(path = "invite_accept.html")]
pub struct InviteAccept<'a> {
    pub p: &'a WebCtx,
    pub token: String,
    pub org_name: String,
    pub email: String,
    /// "You are invited as {role}, with {email}."
    pub intro: String,
    pub existing_user: bool,
    pub signed_in_as_invitee: bool,
    pub signed_in_as_other: bool,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "link_invalid.html")]
pub struct LinkInvalid<'a> {
    pub p: &'a WebCtx,
    pub title_key: &'static str,
    pub body_key: &'static str,
    /// Where to go next (href, label key), if anywhere.
    pub action: Option<(String, &'static str)>,
}

/// What every dashboard page shows: the person's memberships and the current one's record.
pub struct DashView {
    pub memberships: Vec<crate::store::memberships::UserMembership>,
    pub record: Option<crate::flows::members::Record>,
    /// The current organisation's slug, for links that keep it.
    pub org_q: String,
    pub payment: crate::flows::payments::PaymentView,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
pub struct Dashboard<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
}

#[derive(Template)]
#[template(path = "dashboard_profile.html")]
pub struct DashProfile<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
    pub input: crate::flows::members::ProfileInput,
    pub errors: Vec<(&'static str, String)>,
}

impl DashProfile<'_> {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Template)]
#[template(path = "dashboard_keys.html")]
pub struct DashKeys<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
    pub tag: String,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard_authorisations.html")]
pub struct DashAuthorisations<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
}

#[derive(Template)]
#[template(path = "dashboard_storage.html")]
pub struct DashStorage<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
}

#[derive(Template)]
#[template(path = "dashboard_locked.html")]
pub struct DashLocked<'a> {
    pub p: &'a WebCtx,
    pub d: DashView,
}

/// The invitation form of an organisation page.
#[derive(Default)]
pub struct InviteForm {
    pub email: Field,
    pub role: Field,
    pub locale: Field,
    /// A pending invitation for the address, offered for resending.
    pub pending_id: Option<i64>,
    pub has_errors: bool,
}

#[derive(Template)]
#[template(path = "join_email.html")]
pub struct JoinEmail<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub slug: String,
    pub email: Field,
}

#[derive(Template)]
#[template(path = "join_check_email.html")]
pub struct JoinCheckEmail<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
}

#[derive(Template)]
#[template(path = "join_payment.html")]
pub struct JoinPayment<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub slug: String,
    pub plans: Vec<crate::store::plans::Plan>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "join_payment_done.html")]
pub struct JoinPaymentDone<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub slug: String,
    pub active: bool,
    pub paid: bool,
}

#[derive(Template)]
#[template(path = "join_payment_cancelled.html")]
pub struct JoinPaymentCancelled<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub slug: String,
}

#[derive(Template)]
#[template(path = "join_account.html")]
pub struct JoinAccount<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub slug: String,
}

#[derive(Template)]
#[template(path = "join_verify.html")]
pub struct JoinVerify<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub email: String,
    pub action: String,
}

#[derive(Template)]
#[template(path = "join_details.html")]
pub struct JoinDetails<'a> {
    pub p: &'a WebCtx,
    pub org_name: String,
    pub email: String,
    pub action: String,
    pub min_age: i64,
    pub input: crate::domain::member::DetailsInput,
    /// (field, message) for every bad field.
    pub errors: Vec<(&'static str, String)>,
}

impl JoinDetails<'_> {
    pub fn error(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
}

#[derive(Template)]
#[template(path = "join_exists.html")]
pub struct JoinExists<'a> {
    pub p: &'a WebCtx,
}

/// What a member should do next, by status.
/// The Fluent key of a Stripe subscription status.
pub fn subscription_key(status: &str) -> &'static str {
    match status {
        "active" => "subscription-active",
        "trialing" => "subscription-trialing",
        "past_due" => "subscription-past-due",
        "canceled" => "subscription-canceled",
        "unpaid" => "subscription-unpaid",
        _ => "subscription-other",
    }
}

/// The Fluent key of what a paid pending membership waits for.
pub fn waiting_key(what: &&str) -> &'static str {
    match *what {
        "waiver" => "waiting-waiver",
        "id_check" => "waiting-id-check",
        _ => "waiting-staff",
    }
}

pub fn next_step_key(status: &crate::domain::MembershipStatus) -> &'static str {
    use crate::domain::MembershipStatus::*;
    match status {
        Pending => "next-pending",
        Active => "next-active",
        Suspended => "next-suspended",
        Banned => "next-banned",
    }
}

#[derive(Template)]
#[template(path = "staff_member.html")]
pub struct StaffMember<'a> {
    pub p: &'a WebCtx,
    pub r: crate::flows::members::Record,
    /// The statuses this member may be moved to.
    pub transitions: Vec<crate::domain::MembershipStatus>,
    /// Paid but pending: what the membership waits for.
    pub waiting: Vec<&'static str>,
    /// Activation gates the organisation requires that are not recorded yet.
    pub gates: Vec<&'static str>,
    pub error: Option<String>,
    /// Everything audited about the membership, newest first.
    pub audit_rows: Vec<AuditRow>,
    pub audit_show_org: bool,
}

/// An audit event as a table row: people by address, details as "name: value" pairs.
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub actor: String,
    /// The acting user's address now, when it differs from the one the event was written with.
    pub actor_now: Option<String>,
    pub action: String,
    pub org: Option<String>,
    pub target: Option<String>,
    pub details: Vec<(String, String)>,
    pub client_ip: Option<String>,
}

impl AuditRow {
    pub fn from_event(e: crate::store::audit::Event) -> AuditRow {
        AuditRow::new(e, None, None)
    }

    pub fn from_entry(entry: crate::store::audit::LogEntry) -> AuditRow {
        AuditRow::new(entry.event, entry.actor_email, entry.org_slug)
    }

    fn new(e: crate::store::audit::Event, actor_email: Option<String>, org: Option<String>) -> AuditRow {
        let show = |v: &serde_json::Value| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let details = match &e.details {
            serde_json::Value::Object(map) => {
                map.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), show(v))).collect()
            }
            serde_json::Value::Null => Vec::new(),
            other => vec![(String::new(), show(other))],
        };
        AuditRow {
            id: e.id,
            at: e.at,
            actor_now: actor_email.filter(|now| now != &e.actor),
            actor: e.actor,
            action: e.action,
            org,
            target: e.target,
            details,
            client_ip: e.client_ip,
        }
    }
}

#[derive(Template)]
#[template(path = "account.html")]
pub struct AccountPage<'a> {
    pub p: &'a WebCtx,
    pub overview: crate::flows::account::Overview,
    /// The person's pending request to be erased.
    pub erasure: Option<crate::flows::erasure::Pending>,
    /// The section a refused form came from, and why.
    pub error: Option<(&'static str, String)>,
}

impl AccountPage<'_> {
    pub fn error_in(&self, section: &str) -> Option<&str> {
        self.error.as_ref().filter(|(s, _)| *s == section).map(|(_, m)| m.as_str())
    }
}

#[derive(Template)]
#[template(path = "account_email_confirm.html")]
pub struct EmailChangeConfirm<'a> {
    pub p: &'a WebCtx,
    pub token: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "staff_people.html")]
pub struct StaffPeople<'a> {
    pub p: &'a WebCtx,
    pub accounts: Vec<crate::flows::staff::StaffAccount>,
    /// A password just generated: (address, password), shown this once.
    pub new_password: Option<(String, String)>,
    pub error: Option<String>,
}

#[derive(Template)]
#[template(path = "staff_audit.html")]
pub struct StaffAudit<'a> {
    pub p: &'a WebCtx,
    pub query: crate::flows::audit::LogQuery,
    /// Every organisation's slug, offered as the organisation filter's choices.
    pub orgs: Vec<String>,
    pub audit_rows: Vec<AuditRow>,
    pub audit_show_org: bool,
    /// The next (older) page with the same filters.
    pub next_url: Option<String>,
    pub csv_url: String,
    /// A message per refused filter field.
    pub errors: Vec<(&'static str, String)>,
}

impl StaffAudit<'_> {
    pub fn error_for(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| *f == field).map(|(_, m)| m.as_str())
    }
    pub fn value<'v>(&self, v: &'v Option<String>) -> &'v str {
        v.as_deref().unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "password_forgot.html")]
pub struct ForgotPassword<'a> {
    pub p: &'a WebCtx,
    pub email: Field,
}

#[derive(Template)]
#[template(path = "password_sent.html")]
pub struct ResetSent<'a> {
    pub p: &'a WebCtx,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
pub struct ResetPassword<'a> {
    pub p: &'a WebCtx,
    pub token: String,
    pub error: Option<String>,
}

/// The member list filter of an organisation page (`?status=…&q=…`).
#[derive(serde::Deserialize, Default, Clone)]
pub struct MemberFilterQuery {
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub q: String,
}

#[derive(Template)]
#[template(path = "oidc_consent.html")]
pub struct OidcConsent<'a> {
    pub p: &'a WebCtx,
    /// The authorization endpoint the answer is posted to.
    pub action: String,
    /// "{client} wants you to sign in with your {organisation} account."
    pub intro: String,
    /// Fluent keys describing what the application will see.
    pub scopes: Vec<String>,
    /// The authorization request, carried in hidden fields.
    pub fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "oidc_logout.html")]
pub struct OidcLogout<'a> {
    pub p: &'a WebCtx,
    pub action: String,
    pub fields: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "staff_oidc.html")]
pub struct StaffOidc<'a> {
    pub p: &'a WebCtx,
    pub org: Org,
    pub clients: Vec<crate::store::oidc::Client>,
    /// What applications are configured with.
    pub issuer: String,
    /// A secret just made: (client id, secret).
    pub new_secret: Option<(String, String)>,
    pub error: Option<String>,
}

/// Where the console's import is.
pub enum ImportStep {
    Upload,
    /// The check's report, and the file (base64) for the commit form.
    Preview {
        file: String,
        committable: bool,
        report: Box<crate::flows::import::Report>,
        options: crate::flows::import::Options,
    },
    Written(Box<crate::flows::import::Written>),
}

#[derive(Template)]
#[template(path = "staff_import.html")]
pub struct StaffImport<'a> {
    pub p: &'a WebCtx,
    pub slug: String,
    pub step: ImportStep,
    pub error: Option<String>,
}

impl StaffImport<'_> {
    /// The words of a verdict in the preview.
    pub fn verdict_key(verdict: &Option<crate::flows::import::Verdict>) -> &'static str {
        use crate::flows::import::Verdict;
        match verdict {
            Some(Verdict::Create) => "import-verdict-create",
            Some(Verdict::Update) => "import-verdict-update",
            Some(Verdict::Unchanged) => "import-verdict-unchanged",
            None => "import-verdict-refused",
        }
    }

    pub fn reason(code: &str) -> &'static str {
        crate::flows::import::reason_text(code)
    }
}
