//! Importing members from a CSV file (SPEC §3.11), first half: the whole file is checked
//! before anything is written, and the report names every refused row with its line, column
//! and reason, and says of every other row whether it would create a membership, update one or
//! leave it unchanged. The file is read as a stream (one row in memory at a time, besides what
//! it takes to find duplicates within the file) and refused past `import_max_bytes`.
//!
//! Writing the checked rows is not built yet: `portico import members` runs with `--dry-run`
//! only, and says so otherwise.

use std::collections::HashSet;
use std::io::Read;

use time::Date;

use super::{Ctx, FlowResult};
use crate::domain::import::{Header, ImportRow, Refusal};
use crate::store::{self, Store, orgs::Org, records};

/// A row longer than this (bytes) is refused without being read further into a membership.
pub const MAX_ROW_BYTES: usize = 64 * 1024;

/// What the check found.
#[derive(Debug, Default, Clone)]
pub struct Report {
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Rows refused (a file-level refusal counts as none: see `refusals`).
    pub refused: u64,
    /// Every refusal, in file order.
    pub refusals: Vec<Refusal>,
}

impl Report {
    /// `created N, updated N, unchanged N, refused N` (SPEC §6).
    pub fn summary(&self) -> String {
        format!(
            "created {}, updated {}, unchanged {}, refused {}",
            self.created, self.updated, self.unchanged, self.refused
        )
    }

    fn refuse_file(&mut self, line: u64, reason: &'static str) {
        self.refusals.push(Refusal { line, column: String::new(), reason });
    }
}

/// What a row would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Create,
    Update,
    Unchanged,
}

/// Reads at most `limit` bytes and notes whether there was more.
struct Capped<R> {
    inner: R,
    left: u64,
    over: bool,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            let mut probe = [0u8; 1];
            if self.inner.read(&mut probe)? > 0 {
                self.over = true;
            }
            return Ok(0);
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// What the rows of one file must not share.
#[derive(Default)]
struct Seen {
    emails: HashSet<String>,
    usernames: HashSet<String>,
    tags: HashSet<String>,
}

/// Checks a whole file for the organisation `slug`; writes nothing.
pub async fn check(
    store: &Store,
    ctx: &Ctx,
    slug: &str,
    input: impl Read,
    max_bytes: u64,
    today: Date,
) -> FlowResult<Report> {
    ctx.require_admin()?;
    let org = super::orgs::get(store, ctx, slug).await?;
    let catalogue = records::catalogue(store.pool(), org.id).await?;
    let plans = store::plans::list(store.pool(), org.id).await?;
    let mut report = Report::default();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(Capped {
        inner: input,
        left: max_bytes,
        over: false,
    });
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Header> = None;
    let mut seen = Seen::default();
    let mut rows = 0u64;
    loop {
        let line = reader.position().line();
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // A broken quote or an I/O error: nothing after it can be trusted.
                tracing::debug!(error = %e, "import file unreadable");
                report.refuse_file(line, "unreadable_csv");
                break;
            }
        }
        let line = record.position().map_or(line, csv::Position::line);
        if record.as_slice().len() > MAX_ROW_BYTES {
            report.refusals.push(Refusal { line, column: String::new(), reason: "row_too_long" });
            if header.is_some() {
                report.refused += 1;
            }
            continue;
        }
        let mut cells = Vec::with_capacity(record.len());
        let mut utf8 = true;
        for field in record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => cells.push(text.to_string()),
                Err(_) => utf8 = false,
            }
        }
        if !utf8 {
            report.refusals.push(Refusal { line, column: String::new(), reason: "invalid_utf8" });
            if header.is_some() {
                report.refused += 1;
            }
            continue;
        }
        let Some(h) = &header else {
            // The header: a byte-order mark before it is not part of the first name.
            if let Some(first) = cells.first_mut()
                && let Some(rest) = first.strip_prefix('\u{feff}')
            {
                *first = rest.to_string();
            }
            match Header::parse(&cells) {
                Ok(parsed) => header = Some(parsed),
                Err(refusals) => {
                    report.refusals.extend(refusals.into_iter().map(|r| Refusal { line, ..r }));
                    return Ok(report);
                }
            }
            continue;
        };
        // A line of nothing (a trailing blank line, say) is no row.
        if cells.iter().all(|c| c.trim().is_empty()) {
            continue;
        }
        rows += 1;
        match ImportRow::parse(h, &cells, line, today) {
            Err(refusals) => {
                report.refused += 1;
                report.refusals.extend(refusals);
            }
            Ok(row) => match judge(store, &org, &catalogue, &plans, &row, &mut seen, today).await? {
                Ok(Verdict::Create) => report.created += 1,
                Ok(Verdict::Update) => report.updated += 1,
                Ok(Verdict::Unchanged) => report.unchanged += 1,
                Err(refusals) => {
                    report.refused += 1;
                    report.refusals.extend(refusals);
                }
            },
        }
    }
    let over = reader.get_ref().over;
    if over {
        report.refuse_file(0, "file_too_large");
    } else if header.is_none() && report.refusals.is_empty() {
        report.refuse_file(1, "empty_file");
    } else if header.is_some() && rows == 0 && report.refusals.is_empty() {
        report.refuse_file(2, "no_rows");
    }
    Ok(report)
}

/// The rules that need the database or the rest of the file, then what the row would do.
async fn judge(
    store: &Store,
    org: &Org,
    catalogue: &[String],
    plans: &[store::plans::Plan],
    row: &ImportRow,
    seen: &mut Seen,
    today: Date,
) -> FlowResult<Result<Verdict, Vec<Refusal>>> {
    let pool = store.pool();
    let line = row.line;
    let mut refusals = Vec::new();
    let mut refuse = |column: &str, reason: &'static str| {
        refusals.push(Refusal { line, column: column.to_string(), reason });
    };
    let Some(email) = &row.email else {
        refuse("email", "required");
        return Ok(Err(refusals));
    };
    if !seen.emails.insert(email.as_str().to_string()) {
        refuse("email", "duplicate_in_file");
    }
    let user = store::users::find_by_email(pool, email).await?;
    let membership = match &user {
        Some(u) => store::memberships::find_of_user(pool, org.id, u.id).await?,
        None => None,
    };
    if let Some(username) = &row.username {
        if !seen.usernames.insert(username.as_str().to_string()) {
            refuse("username", "duplicate_in_file");
        }
        let own = user.as_ref().and_then(|u| u.username.as_deref()) == Some(username.as_str());
        if !own && store::users::username_taken(pool, username).await? {
            refuse("username", "username_taken");
        }
    }
    let live_tags: Vec<String> = match &membership {
        Some(m) => records::credentials(pool, m.id).await?.into_iter().map(|c| c.tag).collect(),
        None => Vec::new(),
    };
    for tag in &row.tags {
        if !seen.tags.insert(tag.clone()) {
            refuse("tags", "duplicate_in_file");
        } else if !live_tags.contains(tag) && records::tag_in_use(pool, org.id, tag).await? {
            refuse("tags", "tag_taken");
        }
    }
    for held in &row.authorisations {
        if !catalogue.iter().any(|c| c == held.name.as_str()) {
            refuse("authorisations", "unknown_authorisation");
        }
    }
    let plan = match &row.plan {
        None => None,
        Some(p) => match plans.iter().find(|x| x.name.eq_ignore_ascii_case(p) || &x.price_id == p) {
            Some(found) => Some(found.name.clone()),
            None => {
                refuse("plan", "unknown_plan");
                None
            }
        },
    };
    if let Some(birthday) = row.birthday
        && i64::from(crate::domain::member::age_on(birthday, today)) < org.min_age
    {
        refuse("birthday", "too_young");
    }
    if let Some(sub) = &row.stripe_subscription {
        let bound = store::memberships::by_subscription(pool, sub).await?;
        if bound.is_some_and(|id| membership.as_ref().is_none_or(|m| m.id != id)) {
            refuse("stripe_subscription", "subscription_bound_elsewhere");
        }
    }
    let Some(m) = membership else {
        return Ok(if refusals.is_empty() { Ok(Verdict::Create) } else { Err(refusals) });
    };
    if let Some(to) = row.status
        && to != m.status
        && !m.status.can_become(to)
    {
        refuse("status", "status_transition");
    }
    if !refusals.is_empty() {
        return Ok(Err(refusals));
    }
    // Unchanged when every value the row gives is what is stored already.
    let profile = records::profile(pool, m.id).await?.unwrap_or_default();
    let held: Vec<String> = records::authorisations(pool, m.id).await?.into_iter().map(|a| a.name).collect();
    let notes: Vec<String> = records::notes(pool, m.id).await?.into_iter().map(|n| n.text).collect();
    let custom: serde_json::Value = serde_json::from_str(&profile.custom_fields).unwrap_or_default();
    let day = |secs: Option<i64>| {
        secs.and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()).map(|t| t.date())
    };
    let same = |given: &Option<String>, stored: &str| given.as_ref().is_none_or(|g| g == stored);
    let unchanged = same(&row.first_name, &profile.first_name)
        && same(&row.last_name, &profile.last_name)
        && row.preferred_name.as_ref().is_none_or(|g| profile.preferred_name.as_deref() == Some(g.as_str()))
        && row.phone.as_ref().is_none_or(|g| profile.phone.as_deref() == Some(g.as_str()))
        && row.birthday.is_none_or(|b| profile.birthday.as_deref() == Some(b.to_string().as_str()))
        && row.username.as_ref().is_none_or(|u| m.username.as_deref() == Some(u.as_str()))
        && row.status.is_none_or(|s| s == m.status)
        && row.role.is_none_or(|r| r == m.role)
        && plan.as_ref().is_none_or(|p| m.plan.as_deref() == Some(p.as_str()))
        && row.member_since.is_none_or(|d| day(m.member_since) == Some(d))
        && row.tags.iter().all(|t| live_tags.contains(t))
        && row.authorisations.iter().all(|a| held.iter().any(|h| h == a.name.as_str()))
        && row.note.as_ref().is_none_or(|n| notes.contains(n))
        && row.custom.iter().all(|(k, v)| custom.get(k).and_then(|x| x.as_str()) == Some(v.as_str()))
        && row.stripe_customer.as_ref().is_none_or(|c| m.payment.customer.as_deref() == Some(c.as_str()))
        && row
            .stripe_subscription
            .as_ref()
            .is_none_or(|s| m.payment.subscription.as_deref() == Some(s.as_str()))
        && row.paid_through.is_none_or(|d| day(m.renews_at) == Some(d));
    Ok(Ok(if unchanged { Verdict::Unchanged } else { Verdict::Update }))
}

/// A refusal as words, for the report (English: the command line's language).
pub fn reason_text(reason: &str) -> &'static str {
    match reason {
        "invalid_email" => "not an email address",
        "required" => "required",
        "duplicate_in_file" => "appears on an earlier line of the file",
        "username_taken" => "this username belongs to someone else",
        "invalid_username" => "usernames are 1 to 16 of a-z, 0-9, _ and -",
        "tag_taken" => "this key is another member's",
        "invalid_tag" => "a key is exactly 10 digits",
        "duplicate_tag" => "the same key twice",
        "unknown_plan" => "no plan of this organisation has this name or price id",
        "unknown_authorisation" => "not in the organisation's catalogue",
        "invalid_authorisation" => "not an authorisation name",
        "duplicate_authorisation" => "the same authorisation twice",
        "invalid_date" => "not a date (YYYY-MM-DD)",
        "date_in_future" => "a date in the future",
        "too_young" => "younger than the organisation's minimum age",
        "invalid_status" => "not a status (pending, active, suspended, banned)",
        "status_transition" => "the membership cannot change to this status",
        "invalid_role" => "not a role (member, admin, owner)",
        "invalid_phone" => "not a phone number",
        "formula" => "looks like a spreadsheet formula",
        "invalid_stripe_id" => "not a Stripe id of this kind",
        "subscription_bound_elsewhere" => "this subscription belongs to another membership",
        "wrong_number_of_cells" => "not as many cells as the header has columns",
        "row_too_long" => "the row is longer than 64 KiB",
        "invalid_utf8" => "not UTF-8 text",
        "unreadable_csv" => "not readable as CSV from here on (an unclosed quote?)",
        "unknown_column" => "not a column an import takes",
        "duplicate_column" => "the same column twice",
        "invalid_custom_key" => "not a custom field name",
        "missing_email_column" => "the header has no email column",
        "empty_file" => "the file is empty",
        "no_rows" => "the file has a header and no rows",
        "file_too_large" => "the file is larger than import_max_bytes",
        "too_long" | "control_character" | "invisible_character" => {
            "not allowed as text (too long or a hidden character)"
        }
        _ => "refused",
    }
}
