//! Importing members from a CSV file (SPEC §3.11), first half: the whole file is checked
//! before anything is written, and the report names every refused row with its line, column
//! and reason, and says of every other row whether it would create a membership, update one or
//! leave it unchanged. The file is read as a stream (one row in memory at a time, besides what
//! it takes to find duplicates within the file) and refused past `import_max_bytes`.
//! Writing follows the check, row by row in batched transactions, each row judged again as it
//! is written: idempotent by email, and a re-run after a crash finishes the job.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Read};

use time::Date;

use serde_json::{Value, json};

use super::{Ctx, FlowError, FlowResult, lifecycle, payments};
use crate::config::Config;
use crate::domain::import::{Header, ImportRow, Refusal};
use crate::domain::settings::{IMPORT_CLAIM_EMAILS_PER_MINUTE, INVITE_LIMIT_PER_RECIPIENT};
use crate::domain::{MembershipRole, MembershipStatus};
use crate::i18n::Locale;
use crate::mail::templates::AccountMail;
use crate::store::memberships::{self, Membership};
use crate::store::{
    self, Store, StoreError, Tx, audit, now, now_ms, orgs::Org, outbox, rate_limits, records, users,
};
use crate::stripe::{Client, StripeError, Subscription};

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
    /// The file itself was refused (empty, unreadable, too large, a bad header): nothing in it
    /// is written, whatever the options.
    pub file_refused: bool,
    /// What each row would do, in file order, for the console's preview: the first
    /// `PREVIEW_ROWS` rows (refused ones as `None`).
    pub rows: Vec<RowVerdict>,
}

/// Rows of a file the preview lists one by one; the counts cover the rest.
pub const PREVIEW_ROWS: usize = 1000;

/// One row of the preview.
#[derive(Debug, Clone)]
pub struct RowVerdict {
    pub line: u64,
    pub email: String,
    /// `None`: refused (the refusals say why).
    pub verdict: Option<Verdict>,
}

impl Report {
    /// `created N, updated N, unchanged N, refused N` (SPEC §6).
    pub fn summary(&self) -> String {
        format!(
            "created {}, updated {}, unchanged {}, refused {}",
            self.created, self.updated, self.unchanged, self.refused
        )
    }

    fn note_row(&mut self, row: &ImportRow, verdict: Option<Verdict>) {
        if self.rows.len() < PREVIEW_ROWS {
            let email = row.email.as_ref().map(|e| e.as_str().to_string()).unwrap_or_default();
            self.rows.push(RowVerdict { line: row.line, email, verdict });
        }
    }

    fn refuse_file(&mut self, line: u64, reason: &'static str) {
        self.file_refused = true;
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

/// How an import runs (the command's flags, the console's options).
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Write the good rows even when some are refused.
    pub skip_invalid: bool,
    /// Send each imported person without a password a "claim your account" email.
    pub invite: bool,
    /// Add authorisations the catalogue lacks instead of refusing the rows that name them.
    pub create_authorisations: bool,
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

/// What the file is: a CSV file, or the JSON Lines of an organisation export (its first
/// character, after a byte-order mark and blanks, is `{`), whose member lines are read.
enum Source<R> {
    Csv(csv::Reader<BufReader<Capped<R>>>),
    Jsonl(BufReader<Capped<R>>),
}

/// The rows of one file, one at a time: each refusal of the file or of a row it cannot read
/// goes straight into the report; what it yields passed the rules of `domain::import`.
struct Rows<R> {
    source: Source<R>,
    record: csv::ByteRecord,
    header: Option<Header>,
    /// Lines of a JSON Lines file read so far.
    jsonl_line: u64,
    /// Data rows seen (read or not).
    rows: u64,
    today: Date,
    done: bool,
}

impl<R: Read> Rows<R> {
    fn new(input: R, max_bytes: u64, today: Date) -> Rows<R> {
        let mut buffered =
            BufReader::with_capacity(64 * 1024, Capped { inner: input, left: max_bytes, over: false });
        let head = buffered.fill_buf().map(<[u8]>::to_vec).unwrap_or_default();
        let head = head.strip_prefix(b"\xEF\xBB\xBF".as_slice()).unwrap_or(&head);
        let jsonl = head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        let source = if jsonl {
            Source::Jsonl(buffered)
        } else {
            Source::Csv(csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(buffered))
        };
        Rows {
            source,
            record: csv::ByteRecord::new(),
            header: None,
            jsonl_line: 0,
            rows: 0,
            today,
            done: false,
        }
    }

    fn capped(&self) -> &Capped<R> {
        match &self.source {
            Source::Csv(reader) => reader.get_ref().get_ref(),
            Source::Jsonl(reader) => reader.get_ref(),
        }
    }

    fn is_jsonl(&self) -> bool {
        matches!(self.source, Source::Jsonl(_))
    }

    /// A row refused before it could be read; a refusal before the header is the file's.
    fn refuse_unread(&mut self, report: &mut Report, line: u64, reason: &'static str) {
        report.refusals.push(Refusal { line, column: String::new(), reason });
        if self.header.is_none() && !self.is_jsonl() {
            report.file_refused = true;
        } else {
            self.rows += 1;
            report.refused += 1;
        }
    }

    /// The next row that passed the domain's rules; `None` at the end (or where the file can
    /// no longer be read).
    fn next(&mut self, report: &mut Report) -> Option<ImportRow> {
        if self.is_jsonl() {
            return self.next_jsonl(report);
        }
        while !self.done {
            let Source::Csv(reader) = &mut self.source else { return None };
            let line = reader.position().line();
            match reader.read_byte_record(&mut self.record) {
                Ok(false) => self.done = true,
                Ok(true) => {
                    let line = self.record.position().map_or(line, csv::Position::line);
                    if let Some(row) = self.read(report, line) {
                        return Some(row);
                    }
                }
                Err(e) => {
                    // A broken quote or an I/O error: nothing after it can be trusted.
                    tracing::debug!(error = %e, "import file unreadable");
                    report.refuse_file(line, "unreadable_csv");
                    self.done = true;
                }
            }
        }
        None
    }

    fn read(&mut self, report: &mut Report, line: u64) -> Option<ImportRow> {
        if self.record.as_slice().len() > MAX_ROW_BYTES {
            self.refuse_unread(report, line, "row_too_long");
            return None;
        }
        let mut cells = Vec::with_capacity(self.record.len());
        for field in self.record.iter() {
            match std::str::from_utf8(field) {
                Ok(text) => cells.push(text.to_string()),
                Err(_) => {
                    self.refuse_unread(report, line, "invalid_utf8");
                    return None;
                }
            }
        }
        let Some(h) = &self.header else {
            // The header: a byte-order mark before it is not part of the first name.
            if let Some(first) = cells.first_mut()
                && let Some(rest) = first.strip_prefix('\u{feff}')
            {
                *first = rest.to_string();
            }
            match Header::parse(&cells) {
                Ok(parsed) => self.header = Some(parsed),
                Err(refusals) => {
                    report.file_refused = true;
                    report.refusals.extend(refusals.into_iter().map(|r| Refusal { line, ..r }));
                    self.done = true;
                }
            }
            return None;
        };
        // A line of nothing (a trailing blank line, say) is no row.
        if cells.iter().all(|c| c.trim().is_empty()) {
            return None;
        }
        self.rows += 1;
        match ImportRow::parse(h, &cells, line, self.today) {
            Ok(row) => Some(row),
            Err(refusals) => {
                report.refused += 1;
                report.refusals.extend(refusals);
                None
            }
        }
    }

    /// The next member line of an organisation export, read by the same rules as a CSV row.
    fn next_jsonl(&mut self, report: &mut Report) -> Option<ImportRow> {
        let mut bytes = Vec::new();
        while !self.done {
            let Source::Jsonl(reader) = &mut self.source else { return None };
            bytes.clear();
            match reader.read_until(b'\n', &mut bytes) {
                Ok(0) => self.done = true,
                Ok(_) => {
                    self.jsonl_line += 1;
                    let line = self.jsonl_line;
                    if bytes.len() > MAX_ROW_BYTES {
                        self.refuse_unread(report, line, "row_too_long");
                        continue;
                    }
                    let Ok(text) = std::str::from_utf8(&bytes) else {
                        self.refuse_unread(report, line, "invalid_utf8");
                        continue;
                    };
                    let text = text.trim_start_matches('\u{feff}').trim();
                    if text.is_empty() {
                        continue;
                    }
                    match crate::domain::import::cells_of_export_line(text) {
                        Ok(None) => continue,
                        Err(reason) => self.refuse_unread(report, line, reason),
                        Ok(Some((names, cells))) => {
                            self.rows += 1;
                            let parsed = Header::parse(&names)
                                .and_then(|header| ImportRow::parse(&header, &cells, line, self.today));
                            match parsed {
                                Ok(row) => return Some(row),
                                Err(refusals) => {
                                    report.refused += 1;
                                    report
                                        .refusals
                                        .extend(refusals.into_iter().map(|r| Refusal { line, ..r }));
                                }
                            }
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "import file unreadable");
                    report.refuse_file(self.jsonl_line + 1, "unreadable_csv");
                    self.done = true;
                }
            }
        }
        None
    }

    /// The refusals of the file as a whole, once it has been read.
    fn finish(self, report: &mut Report) {
        let jsonl = self.is_jsonl();
        if self.capped().over {
            report.refuse_file(0, "file_too_large");
        } else if self.header.is_none() && !jsonl && report.refusals.is_empty() {
            report.refuse_file(1, "empty_file");
        } else if (self.header.is_some() || jsonl) && self.rows == 0 && report.refusals.is_empty() {
            report.refuse_file(2, "no_rows");
        }
    }
}

/// What the rows of one file must not share.
#[derive(Default)]
struct Seen {
    emails: HashSet<String>,
    usernames: HashSet<String>,
    tags: HashSet<String>,
    subscriptions: HashSet<String>,
}

/// What the import knows of the organisation before it reads a row.
struct Target {
    org: Org,
    catalogue: Vec<records::CatalogueEntry>,
    plans: Vec<store::plans::Plan>,
    /// Stripe, when the instance takes payments: rows naming a subscription need it.
    stripe: Option<Client>,
    /// Hashed addresses of banned members who were erased: they may not come back.
    tombstones: HashSet<String>,
}

impl Target {
    async fn load(store: &Store, stripe: Option<&Client>, ctx: &Ctx, slug: &str) -> FlowResult<Target> {
        ctx.require_admin()?;
        let org = super::orgs::get(store, ctx, slug).await?;
        let catalogue = records::catalogue_entries(store.pool(), org.id).await?;
        let plans = store::plans::list(store.pool(), org.id).await?;
        let tombstones = store::erasure::tombstones_of(store.pool(), org.id).await?.into_iter().collect();
        Ok(Target { org, catalogue, plans, stripe: stripe.cloned(), tombstones })
    }

    fn plan(&self, given: &str) -> Option<&store::plans::Plan> {
        self.plans.iter().find(|x| x.name.eq_ignore_ascii_case(given) || x.price_id == given)
    }
}

/// The membership terms a row gives; where it names a subscription, Stripe's customer, status
/// and renewal win over the file's, and its price names the plan when the row does not.
struct Terms<'a> {
    plan: Option<&'a store::plans::Plan>,
    member_since: Option<i64>,
    renews_at: Option<i64>,
    customer: Option<&'a str>,
    subscription: Option<&'a str>,
    status: Option<&'a str>,
}

impl<'a> Terms<'a> {
    fn of(target: &'a Target, row: &'a ImportRow, sub: Option<&'a Subscription>) -> Terms<'a> {
        let midnight = |d: Date| d.midnight().assume_utc().unix_timestamp();
        Terms {
            plan: match &row.plan {
                Some(given) => target.plan(given),
                None => sub.and_then(Subscription::price_id).and_then(|price| target.plan(price)),
            },
            member_since: row.member_since.map(midnight),
            renews_at: sub.and_then(Subscription::period_end).or(row.paid_through.map(midnight)),
            customer: sub.map(|s| s.customer.as_str()).or(row.stripe_customer.as_deref()),
            subscription: row.stripe_subscription.as_deref(),
            status: sub.map(|s| s.status.as_str()),
        }
    }

    /// The terms that differ from the membership's, by column name (dates by day).
    fn changed(&self, m: &Membership) -> Vec<&'static str> {
        let day = |t: i64| t.div_euclid(86_400);
        let differs =
            |given: Option<i64>, stored: Option<i64>| given.is_some_and(|g| stored.map(day) != Some(day(g)));
        let payment = &m.payment;
        [
            ("plan", self.plan.is_some_and(|p| m.plan.as_deref() != Some(p.name.as_str()))),
            ("member_since", differs(self.member_since, m.member_since)),
            ("paid_through", differs(self.renews_at, m.renews_at)),
            ("stripe_customer", self.customer.is_some_and(|c| payment.customer.as_deref() != Some(c))),
            (
                "stripe_subscription",
                self.subscription.is_some_and(|s| payment.subscription.as_deref() != Some(s)),
            ),
            (
                "subscription_status",
                self.status.is_some_and(|s| payment.subscription_status.as_deref() != Some(s)),
            ),
        ]
        .into_iter()
        .filter_map(|(field, differs)| differs.then_some(field))
        .collect()
    }
}

/// What a row would do, and the subscription it names as Stripe has it.
struct Judged {
    verdict: Verdict,
    subscription: Option<Subscription>,
}

/// Checks a whole file for the organisation `slug`; writes nothing (Stripe is only read).
#[allow(clippy::too_many_arguments)]
pub async fn check(
    store: &Store,
    stripe: Option<&Client>,
    ctx: &Ctx,
    slug: &str,
    input: impl Read,
    max_bytes: u64,
    today: Date,
    options: &Options,
) -> FlowResult<Report> {
    let target = Target::load(store, stripe, ctx, slug).await?;
    let mut report = Report::default();
    let mut rows = Rows::new(input, max_bytes, today);
    let mut seen = Seen::default();
    while let Some(row) = rows.next(&mut report) {
        let judged = judge(store, &target, options, &row, &mut seen, today).await?.map(|j| j.verdict);
        report.note_row(&row, judged.as_ref().ok().copied());
        match judged {
            Ok(Verdict::Create) => report.created += 1,
            Ok(Verdict::Update) => report.updated += 1,
            Ok(Verdict::Unchanged) => report.unchanged += 1,
            Err(refusals) => {
                report.refused += 1;
                report.refusals.extend(refusals);
            }
        }
    }
    rows.finish(&mut report);
    Ok(report)
}

/// Rows written in one transaction: a crash loses at most one batch, which a re-run writes.
pub const BATCH_ROWS: usize = 100;

/// What writing did.
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// Rows created, updated, left unchanged, and refused (skipped), as written.
    pub report: Report,
    /// "Claim your account" emails queued.
    pub invited: u64,
    /// People who would have had one but their address is over its hourly allowance.
    pub invite_limited: u64,
    /// Stripe subscriptions whose metadata now names their membership.
    pub subscriptions_bound: u64,
}

/// Writes a file that [`check`] found good (or, with `skip_invalid`, its good rows): every row
/// is judged again as it is written, so a run after a crash finds the rows written before it
/// unchanged and writes the rest. `BATCH_ROWS` rows to a transaction; after each commit, the
/// batch's Stripe subscriptions get the membership reference in their metadata.
#[allow(clippy::too_many_arguments)]
pub async fn write(
    store: &Store,
    config: &Config,
    stripe: Option<&Client>,
    ctx: &Ctx,
    slug: &str,
    input: impl Read,
    today: Date,
    options: &Options,
) -> FlowResult<Written> {
    let target = Target::load(store, stripe, ctx, slug).await?;
    let mut writer = Writer::new(store, config, ctx, target, *options).await?;
    let mut rows = Rows::new(input, config.import_max_bytes, today);
    let mut seen = Seen::default();
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    while let Some(row) = rows.next(&mut writer.done.report) {
        match judge(store, &writer.target, options, &row, &mut seen, today).await? {
            Err(refusals) => {
                writer.done.report.refused += 1;
                writer.done.report.refusals.extend(refusals);
            }
            Ok(judged) => batch.push((row, judged)),
        }
        if batch.len() == BATCH_ROWS {
            writer.write_batch(std::mem::take(&mut batch)).await?;
        }
    }
    rows.finish(&mut writer.done.report);
    writer.write_batch(batch).await?;
    // One record of the run, besides those of each membership it changed.
    let r = &writer.done.report;
    let details = json!({
        "created": r.created, "updated": r.updated, "unchanged": r.unchanged, "refused": r.refused,
        "claim_emails": writer.done.invited, "subscriptions_bound": writer.done.subscriptions_bound,
        "options": { "skip_invalid": options.skip_invalid, "invite": options.invite,
                     "create_authorisations": options.create_authorisations },
    });
    let mut tx = store.begin().await?;
    let event = audit::NewEvent {
        actor: &ctx.actor,
        origin: &ctx.origin,
        action: "org.imported",
        target: Some(writer.target.org.slug.as_str()),
        org_id: Some(writer.target.org.id),
        details,
    };
    audit::record(tx.conn(), event).await?;
    tx.commit().await?;
    Ok(writer.done)
}

/// Pacing and allowances of the claim emails, and what has been written so far.
struct Writer<'a> {
    store: &'a Store,
    config: &'a Config,
    ctx: &'a Ctx,
    target: Target,
    options: Options,
    /// When the next claim email may go out (ms), and the gap between two.
    next_claim_ms: i64,
    claim_gap_ms: i64,
    recipient_limit: i64,
    done: Written,
}

impl<'a> Writer<'a> {
    async fn new(
        store: &'a Store,
        config: &'a Config,
        ctx: &'a Ctx,
        target: Target,
        options: Options,
    ) -> FlowResult<Writer<'a>> {
        let per_minute = super::settings::get(store, &IMPORT_CLAIM_EMAILS_PER_MINUTE).await?.max(1);
        let recipient_limit = super::settings::get(store, &INVITE_LIMIT_PER_RECIPIENT).await?;
        Ok(Writer {
            store,
            config,
            ctx,
            target,
            options,
            next_claim_ms: 0,
            claim_gap_ms: 60_000 / per_minute,
            recipient_limit,
            done: Written::default(),
        })
    }

    async fn write_batch(&mut self, batch: Vec<(ImportRow, Judged)>) -> FlowResult<()> {
        if batch.iter().all(|(_, j)| j.verdict == Verdict::Unchanged) && !self.options.invite {
            self.done.report.unchanged += batch.len() as u64;
            return self.bind_subscriptions(&batch).await;
        }
        let mut tx = self.store.begin().await?;
        // Claim emails continue after those already queued (by this run or an earlier one).
        let queued = outbox::last_queued_ms(tx.conn(), CLAIM_TEMPLATE).await?;
        self.next_claim_ms =
            self.next_claim_ms.max(queued.map_or(0, |q| q + self.claim_gap_ms)).max(now_ms());
        let mut counted = Report::default();
        for (row, judged) in &batch {
            if judged.verdict != Verdict::Unchanged {
                self.apply(&mut tx, row, judged.subscription.as_ref()).await?;
            }
            match judged.verdict {
                Verdict::Create => counted.created += 1,
                Verdict::Update => counted.updated += 1,
                Verdict::Unchanged => counted.unchanged += 1,
            }
            if self.options.invite {
                self.claim(&mut tx, row).await?;
            }
        }
        tx.commit().await?;
        let r = &mut self.done.report;
        r.created += counted.created;
        r.updated += counted.updated;
        r.unchanged += counted.unchanged;
        self.bind_subscriptions(&batch).await
    }

    /// Sets each subscription's `metadata[membership]` to its membership's reference, so that
    /// Stripe's later events bind; a re-run after a crash between the commit and this finds
    /// the rows unchanged and the metadata still missing, and sets it.
    async fn bind_subscriptions(&mut self, batch: &[(ImportRow, Judged)]) -> FlowResult<()> {
        let Some(client) = &self.target.stripe else { return Ok(()) };
        for sub in batch.iter().filter_map(|(_, j)| j.subscription.as_ref()) {
            let pool = self.store.pool();
            let Some(id) = memberships::by_subscription(pool, &sub.id).await? else { continue };
            let Some(reference) = memberships::find(pool, id).await?.and_then(|m| m.payment.reference) else {
                continue;
            };
            if sub.metadata.get("membership") != Some(&reference) {
                client.update_subscription(&sub.id, &[("metadata[membership]", &reference)]).await?;
                self.done.subscriptions_bound += 1;
            }
        }
        Ok(())
    }

    /// Audits a change of the membership with cause `import` and emits its event.
    async fn record(&self, tx: &mut Tx, m: &Membership, action: &str, mut details: Value) -> FlowResult<()> {
        details["cause"] = "import".into();
        let about = lifecycle::About { org_id: self.target.org.id, membership_id: m.id, email: &m.email };
        lifecycle::record(tx, &self.ctx.actor, &self.ctx.origin, about, action, details).await
    }

    /// Writes one row: the account and membership when missing, then each value the row gives
    /// that differs from what is stored, each change audited and sent out as staff's would be.
    async fn apply(&mut self, tx: &mut Tx, row: &ImportRow, sub: Option<&Subscription>) -> FlowResult<()> {
        let email =
            row.email.as_ref().ok_or_else(|| FlowError::Internal("an import row without email".into()))?;
        let org_id = self.target.org.id;
        let now = now();
        let user = users::find_by_email(tx.conn(), email).await?;
        let user_id = match &user {
            Some(u) => u.id,
            None => users::insert(tx.conn(), email, None, None, now).await?,
        };
        let mut fields: Vec<&'static str> = Vec::new();
        if let Some(username) = &row.username
            && user.as_ref().and_then(|u| u.username.as_deref()) != Some(username.as_str())
        {
            users::set_username(tx.conn(), user_id, username).await?;
            fields.push("username");
        }
        let m = match memberships::find_of_user(tx.conn(), org_id, user_id).await? {
            Some(m) => {
                self.change_status_and_role(tx, &m, row).await?;
                m
            }
            None => {
                // A subscription that no longer pays makes a suspended membership that a new
                // payment reactivates, as when it ends under Portico.
                let ended = sub.is_some_and(|s| payments::subscription_ended(&s.status));
                let status = row.status.unwrap_or(if ended {
                    MembershipStatus::Suspended
                } else {
                    MembershipStatus::Active
                });
                let role = row.role.unwrap_or(MembershipRole::Member);
                let id = memberships::insert(tx.conn(), org_id, user_id, role, status, now).await?;
                if ended && status == MembershipStatus::Suspended {
                    memberships::set_suspended_for_payment(tx.conn(), id, true).await?;
                }
                let m = memberships::find(tx.conn(), id).await?.ok_or(FlowError::NotFound)?;
                let details = json!({ "line": row.line, "status": status, "role": role });
                self.record(tx, &m, "member.imported", details).await?;
                if status == MembershipStatus::Active {
                    lifecycle::list_changed(tx, org_id, false, "import", Some(id), "imported").await?;
                }
                m
            }
        };
        fields.extend(self.set_record(tx, &m, row, sub, now).await?);
        if sub.is_some() {
            memberships::ensure_payment_ref(tx.conn(), m.id, &payments::new_payment_ref()).await?;
        }
        if !fields.is_empty() {
            self.record(tx, &m, "member.record_updated", json!({ "fields": fields })).await?;
        }
        self.add_keys(tx, &m, row, now).await?;
        self.grant(tx, &m, row, now).await?;
        if let Some(note) = &row.note
            && !records::notes(tx.conn(), m.id).await?.iter().any(|n| &n.text == note)
        {
            records::add_note(tx.conn(), m.id, note, &self.ctx.actor.label, now).await?;
            self.record(tx, &m, "member.note_added", json!({})).await?;
        }
        Ok(())
    }

    async fn change_status_and_role(&self, tx: &mut Tx, m: &Membership, row: &ImportRow) -> FlowResult<()> {
        if let Some(to) = row.status.filter(|to| *to != m.status) {
            // Conditional on the status judged: a change since then makes the row fail.
            if !m.status.can_become(to)
                || !memberships::set_status(tx.conn(), m.id, m.status, to, now()).await?
            {
                return Err(FlowError::Conflict { code: "status_changed" });
            }
            let details = json!({ "from": m.status, "to": to, "reason": "import" });
            self.record(tx, m, "member.status_changed", details).await?;
            lifecycle::status_changed(tx, self.target.org.id, m.id, m.status, to, "import").await?;
        }
        if let Some(role) = row.role.filter(|r| *r != m.role) {
            memberships::set_role(tx.conn(), m.id, role).await?;
            self.record(tx, m, "member.role_changed", json!({ "from": m.role, "to": role })).await?;
        }
        Ok(())
    }

    /// The profile, custom fields and terms the row gives; returns the fields that changed.
    async fn set_record(
        &self,
        tx: &mut Tx,
        m: &Membership,
        row: &ImportRow,
        sub: Option<&Subscription>,
        now: i64,
    ) -> FlowResult<Vec<&'static str>> {
        let mut changed = Vec::new();
        let stored = records::profile(tx.conn(), m.id).await?;
        let had_record = stored.is_some();
        let mut p =
            stored.unwrap_or_else(|| records::Profile { custom_fields: "{}".into(), ..Default::default() });
        let mut set = |field: &'static str, slot: &mut Option<String>, given: &Option<String>| {
            if given.is_some() && slot != given {
                slot.clone_from(given);
                changed.push(field);
            }
        };
        set("preferred_name", &mut p.preferred_name, &row.preferred_name);
        set("phone", &mut p.phone, &row.phone);
        set("birthday", &mut p.birthday, &row.birthday.map(|b| b.to_string()));
        for (field, slot, given) in [
            ("first_name", &mut p.first_name, &row.first_name),
            ("last_name", &mut p.last_name, &row.last_name),
        ] {
            if let Some(given) = given.as_ref().filter(|g| *g != slot) {
                slot.clone_from(given);
                changed.push(field);
            }
        }
        let mut custom: serde_json::Map<String, Value> =
            serde_json::from_str(&p.custom_fields).unwrap_or_default();
        for (key, value) in &row.custom {
            if custom.get(key).and_then(Value::as_str) != Some(value.as_str()) {
                custom.insert(key.clone(), value.clone().into());
                if !changed.contains(&"custom_fields") {
                    changed.push("custom_fields");
                }
            }
        }
        p.custom_fields = Value::Object(custom).to_string();
        if !had_record {
            records::insert(tx.conn(), m.id, &p, now).await?;
        } else if !changed.is_empty() {
            records::set_imported_profile(tx.conn(), m.id, &p, now).await?;
        }
        let terms = Terms::of(&self.target, row, sub);
        let term_fields = terms.changed(m);
        if !term_fields.is_empty() {
            let has = |field: &str| term_fields.contains(&field);
            let imported = memberships::ImportedTerms {
                plan: terms.plan.filter(|_| has("plan")).map(|p| (p.id, p.name.as_str())),
                member_since: terms.member_since.filter(|_| has("member_since")),
                renews_at: terms.renews_at.filter(|_| has("paid_through")),
                customer: terms.customer.filter(|_| has("stripe_customer")),
                subscription: terms.subscription.filter(|_| has("stripe_subscription")),
            };
            memberships::set_imported_terms(tx.conn(), m.id, &imported).await?;
            if let Some(status) = terms.status.filter(|_| has("subscription_status")) {
                // As an event of now would: a paying status records the payment.
                let observed = memberships::Observed { status: Some(status), at: now, ..Default::default() };
                memberships::apply_observed(tx.conn(), m.id, &observed, now).await?;
            }
            changed.extend(term_fields);
        }
        Ok(changed)
    }

    /// Keys the row gives that the member lacks: each a change of the door lists.
    async fn add_keys(&self, tx: &mut Tx, m: &Membership, row: &ImportRow, now: i64) -> FlowResult<()> {
        let live: Vec<String> =
            records::credentials(tx.conn(), m.id).await?.into_iter().map(|c| c.tag).collect();
        for tag in row.tags.iter().filter(|t| !live.contains(t)) {
            match records::add_credential(
                tx.conn(),
                m.id,
                self.target.org.id,
                tag,
                &self.ctx.actor.label,
                now,
            )
            .await
            {
                Ok(_) => {}
                Err(StoreError::Conflict(_)) => return Err(FlowError::Conflict { code: "credential_taken" }),
                Err(e) => return Err(e.into()),
            }
            self.record(tx, m, "member.credential_added", json!({ "tag": tag })).await?;
            let detail = format!("key {tag} added");
            lifecycle::list_changed(tx, self.target.org.id, false, "import", Some(m.id), &detail).await?;
        }
        Ok(())
    }

    /// Authorisations the row gives that the member lacks, granted on the day the file says
    /// (the expiry counted from it). Prerequisites are not asked: the file records what was
    /// granted before Portico. A name the catalogue lacks is added when the options say so.
    async fn grant(&mut self, tx: &mut Tx, m: &Membership, row: &ImportRow, now: i64) -> FlowResult<()> {
        let held = records::authorisations(tx.conn(), m.id).await?;
        for a in row.authorisations.iter().filter(|a| !held.iter().any(|h| h.name == a.name.as_str())) {
            let name = a.name.as_str();
            let rules = match self.target.catalogue.iter().find(|c| c.name == name) {
                Some(entry) => entry.clone(),
                None => {
                    records::add_to_catalogue(tx.conn(), self.target.org.id, name).await?;
                    audit::record(
                        tx.conn(),
                        audit::NewEvent {
                            actor: &self.ctx.actor,
                            origin: &self.ctx.origin,
                            action: "org.authorisation_added",
                            target: Some(name),
                            org_id: Some(self.target.org.id),
                            details: json!({ "cause": "import" }),
                        },
                    )
                    .await?;
                    let entry = records::CatalogueEntry {
                        name: name.to_string(),
                        valid_days: None,
                        requires: vec![],
                    };
                    self.target.catalogue.push(entry.clone());
                    entry
                }
            };
            let granted = a.granted.map_or(now, |d| d.midnight().assume_utc().unix_timestamp());
            let expires = rules.valid_days.map(|days| granted + days * 86_400);
            records::grant(tx.conn(), m.id, name, &self.ctx.actor.label, granted, expires).await?;
            self.record(tx, m, "member.authorisation_granted", json!({ "name": name })).await?;
            let detail = format!("authorisation {name} granted");
            lifecycle::list_changed(tx, self.target.org.id, false, "import", Some(m.id), &detail).await?;
        }
        Ok(())
    }

    /// Queues a "claim your account" email for a person with no password who never had one,
    /// at the paced rate and within their hourly allowance.
    async fn claim(&mut self, tx: &mut Tx, row: &ImportRow) -> FlowResult<()> {
        let Some(email) = &row.email else { return Ok(()) };
        let Some(user) = users::find_by_email(tx.conn(), email).await? else { return Ok(()) };
        if user.password_hash.is_some()
            || user.disabled_at.is_some()
            || outbox::ever_sent(tx.conn(), email.as_str(), CLAIM_TEMPLATE).await?
        {
            return Ok(());
        }
        let bucket = format!("invite:recipient:{email}");
        let (hits, window) = rate_limits::hit(tx.conn(), &bucket, 3600, now()).await?;
        if hits > self.recipient_limit {
            self.done.invite_limited += 1;
            return Ok(());
        }
        let locale = user.locale.as_deref().and_then(Locale::parse).unwrap_or(self.config.default_locale);
        let spec = super::mail::AccountLinkSpec {
            purpose: store::tokens::Purpose::PasswordReset,
            subject: ("user", user.id),
            to: email,
            path: "password/reset/",
            hours: self.config.invitation_hours,
            kind: AccountMail::ClaimAccount,
            address: None,
        };
        let send_at = self.next_claim_ms;
        super::mail::queue_account_link_at(tx, self.config, spec, locale, Some((&bucket, window)), send_at)
            .await?;
        self.next_claim_ms += self.claim_gap_ms;
        self.done.invited += 1;
        Ok(())
    }
}

/// The outbox template of the claim emails.
const CLAIM_TEMPLATE: &str = "claim_account";

/// The rules that need the database or the rest of the file, then what the row would do.
async fn judge(
    store: &Store,
    target: &Target,
    options: &Options,
    row: &ImportRow,
    seen: &mut Seen,
    today: Date,
) -> FlowResult<Result<Judged, Vec<Refusal>>> {
    let pool = store.pool();
    let org = &target.org;
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
    if !target.tombstones.is_empty()
        && target.tombstones.contains(&crate::domain::erasure::tombstone_hash(email.as_str()))
    {
        refuse("email", "erased_banned");
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
        if !options.create_authorisations && !target.catalogue.iter().any(|c| c.name == held.name.as_str()) {
            refuse("authorisations", "unknown_authorisation");
        }
    }
    if row.plan.as_ref().is_some_and(|p| target.plan(p).is_none()) {
        refuse("plan", "unknown_plan");
    }
    if let Some(birthday) = row.birthday
        && i64::from(crate::domain::member::age_on(birthday, today)) < org.min_age
    {
        refuse("birthday", "too_young");
    }
    let mut subscription = None;
    if let Some(sub) = &row.stripe_subscription {
        if !seen.subscriptions.insert(sub.clone()) {
            refuse("stripe_subscription", "duplicate_in_file");
        }
        let ours = |id: i64| membership.as_ref().is_some_and(|m| m.id == id);
        let bound = store::memberships::by_subscription(pool, sub).await?;
        if bound.is_some_and(|id| !ours(id)) {
            refuse("stripe_subscription", "subscription_bound_elsewhere");
        }
        match &target.stripe {
            None => refuse("stripe_subscription", "stripe_not_configured"),
            Some(client) => match client.retrieve_subscription(sub).await {
                Ok(found) => {
                    // Metadata naming another membership of this instance: bound elsewhere.
                    if let Some(reference) = found.metadata.get("membership")
                        && let Some(owner) =
                            store::memberships::by_payment(pool, Some(reference), None).await?
                        && !ours(owner)
                        && bound.is_none()
                    {
                        refuse("stripe_subscription", "subscription_bound_elsewhere");
                    }
                    if row.stripe_customer.as_ref().is_some_and(|c| *c != found.customer) {
                        refuse("stripe_customer", "customer_mismatch");
                    }
                    subscription = Some(found);
                }
                Err(StripeError::Api { status: 404, .. }) => {
                    refuse("stripe_subscription", "unknown_subscription");
                }
                Err(e) => return Err(e.into()),
            },
        }
    }
    let Some(m) = membership else {
        let judged = Judged { verdict: Verdict::Create, subscription };
        return Ok(if refusals.is_empty() { Ok(judged) } else { Err(refusals) });
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
    let same = |given: &Option<String>, stored: &str| given.as_ref().is_none_or(|g| g == stored);
    let unchanged = same(&row.first_name, &profile.first_name)
        && same(&row.last_name, &profile.last_name)
        && row.preferred_name.as_ref().is_none_or(|g| profile.preferred_name.as_deref() == Some(g.as_str()))
        && row.phone.as_ref().is_none_or(|g| profile.phone.as_deref() == Some(g.as_str()))
        && row.birthday.is_none_or(|b| profile.birthday.as_deref() == Some(b.to_string().as_str()))
        && row.username.as_ref().is_none_or(|u| m.username.as_deref() == Some(u.as_str()))
        && row.status.is_none_or(|s| s == m.status)
        && row.role.is_none_or(|r| r == m.role)
        && Terms::of(target, row, subscription.as_ref()).changed(&m).is_empty()
        && row.tags.iter().all(|t| live_tags.contains(t))
        && row.authorisations.iter().all(|a| held.iter().any(|h| h == a.name.as_str()))
        && row.note.as_ref().is_none_or(|n| notes.contains(n))
        && row.custom.iter().all(|(k, v)| custom.get(k).and_then(|x| x.as_str()) == Some(v.as_str()));
    let verdict = if unchanged { Verdict::Unchanged } else { Verdict::Update };
    Ok(Ok(Judged { verdict, subscription }))
}

/// A refusal as words, for the report (English: the command line's language).
pub fn reason_text(reason: &str) -> &'static str {
    match reason {
        "invalid_email" => "not an email address",
        "erased_banned" => "a banned member who was erased had this address: they cannot join again",
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
        "unknown_subscription" => "Stripe has no such subscription",
        "customer_mismatch" => "not the customer of the row's subscription",
        "stripe_not_configured" => "this instance takes no payments (no Stripe secret key)",
        "wrong_number_of_cells" => "not as many cells as the header has columns",
        "row_too_long" => "the row is longer than 64 KiB",
        "invalid_utf8" => "not UTF-8 text",
        "invalid_json" => "not a JSON object with a type (a line of an organisation export)",
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
