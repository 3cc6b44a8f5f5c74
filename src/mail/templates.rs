//! Every email has an HTML and a plain-text template under `templates/email/`, both checked at
//! compile time, sharing a layout, with text from the Fluent files in the recipient's locale.

use askama::Template;

use crate::i18n::{Locale, Tr};

/// An email ready for the outbox.
#[derive(Debug, Clone)]
pub struct RenderedEmail {
    pub template: &'static str,
    pub locale: Locale,
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// What every email layout needs.
pub struct Common {
    pub t: Tr,
    pub brand: String,
    pub subject: String,
}

/// An invitation into an organisation. Existing users are asked to sign in; new ones to set a
/// password.
pub struct Invitation {
    /// The organisation's display name (never empty).
    pub org_name: String,
    pub link: String,
    pub expires_in_hours: i64,
    pub existing_user: bool,
}

#[derive(Template)]
#[template(path = "email/invitation.html")]
struct InvitationHtml<'a> {
    c: &'a Common,
    e: &'a Invitation,
}

#[derive(Template)]
#[template(path = "email/invitation.txt")]
struct InvitationText<'a> {
    c: &'a Common,
    e: &'a Invitation,
}

impl Invitation {
    pub fn render(&self, locale: Locale, brand: &str) -> Result<RenderedEmail, askama::Error> {
        let t = locale.tr();
        let subject = t.t2("email-invitation-subject", ("org", self.org_name.as_str()), ("brand", brand));
        let c = Common { t, brand: brand.to_string(), subject };
        Ok(RenderedEmail {
            template: "invitation",
            locale,
            html: InvitationHtml { c: &c, e: self }.render()?,
            text: InvitationText { c: &c, e: self }.render()?,
            subject: c.subject,
        })
    }
}

/// The answer to a signup email step for a new address: a link to continue.
pub struct SignupVerify {
    pub org_name: String,
    pub link: String,
    pub expires_in_hours: i64,
}

#[derive(Template)]
#[template(path = "email/signup_verify.html")]
struct SignupVerifyHtml<'a> {
    c: &'a Common,
    e: &'a SignupVerify,
}

#[derive(Template)]
#[template(path = "email/signup_verify.txt")]
struct SignupVerifyText<'a> {
    c: &'a Common,
    e: &'a SignupVerify,
}

impl SignupVerify {
    pub fn render(&self, locale: Locale, brand: &str) -> Result<RenderedEmail, askama::Error> {
        let t = locale.tr();
        let c = Common {
            t,
            brand: brand.to_string(),
            subject: t.t2("email-signup-verify-subject", ("org", self.org_name.as_str()), ("brand", brand)),
        };
        Ok(RenderedEmail {
            template: "signup_verify",
            locale,
            html: SignupVerifyHtml { c: &c, e: self }.render()?,
            text: SignupVerifyText { c: &c, e: self }.render()?,
            subject: c.subject,
        })
    }
}

/// The answer to a signup email step for an address that has an account already.
pub struct SignupExists {
    pub org_name: String,
    pub sign_in_link: String,
    pub reset_link: String,
}

#[derive(Template)]
#[template(path = "email/signup_exists.html")]
struct SignupExistsHtml<'a> {
    c: &'a Common,
    e: &'a SignupExists,
}

#[derive(Template)]
#[template(path = "email/signup_exists.txt")]
struct SignupExistsText<'a> {
    c: &'a Common,
    e: &'a SignupExists,
}

impl SignupExists {
    pub fn render(&self, locale: Locale, brand: &str) -> Result<RenderedEmail, askama::Error> {
        let t = locale.tr();
        let c = Common {
            t,
            brand: brand.to_string(),
            subject: t.t1("email-signup-exists-subject", "brand", brand),
        };
        Ok(RenderedEmail {
            template: "signup_exists",
            locale,
            html: SignupExistsHtml { c: &c, e: self }.render()?,
            text: SignupExistsText { c: &c, e: self }.render()?,
            subject: c.subject,
        })
    }
}

/// What an account email is for: each has its own subject and text, and all but the notice
/// carry a link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccountMail {
    /// Choose a new password (asked for on `/password/forgot`).
    PasswordReset,
    /// An admin made a staff account: choose a password.
    StaffWelcome,
    /// Confirm a new address for the account (sent to the new address).
    EmailChange,
    /// The account's address is being changed (sent to the old address, no link).
    EmailChangeNotice,
    /// A second factor was removed from the account (`address` names which; no link).
    FactorRemovedNotice,
    /// A recovery code was used to sign in (no link).
    RecoveryCodeUsedNotice,
    /// Staff imported the person's membership: choose a password to claim the account.
    ClaimAccount,
}

impl AccountMail {
    fn keys(self) -> (&'static str, &'static str, &'static str, &'static str, &'static str) {
        // (template name, subject, intro, action, closing)
        match self {
            AccountMail::PasswordReset => (
                "password_reset",
                "email-reset-subject",
                "email-reset-intro",
                "email-reset-action",
                "email-reset-ignore",
            ),
            AccountMail::StaffWelcome => (
                "staff_welcome",
                "email-staff-subject",
                "email-staff-intro",
                "email-staff-action",
                "email-staff-ignore",
            ),
            AccountMail::EmailChange => (
                "email_change",
                "email-change-subject",
                "email-change-intro",
                "email-change-action",
                "email-change-ignore",
            ),
            AccountMail::EmailChangeNotice => (
                "email_change_notice",
                "email-notice-subject",
                "email-notice-intro",
                "email-notice-action",
                "email-notice-ignore",
            ),
            AccountMail::FactorRemovedNotice => (
                "factor_removed",
                "email-factor-removed-subject",
                "email-factor-removed-intro",
                "email-factor-removed-action",
                "email-factor-removed-ignore",
            ),
            AccountMail::RecoveryCodeUsedNotice => (
                "recovery_code_used",
                "email-recovery-used-subject",
                "email-recovery-used-intro",
                "email-recovery-used-action",
                "email-recovery-used-ignore",
            ),
            AccountMail::ClaimAccount => (
                "claim_account",
                "email-claim-subject",
                "email-claim-intro",
                "email-claim-action",
                "email-claim-ignore",
            ),
        }
    }
}

/// An account email: a link (to choose a password, to confirm an address) or a notice.
pub struct AccountLink {
    pub kind: AccountMail,
    /// Absent for a notice.
    pub link: Option<String>,
    pub expires_in_hours: i64,
    /// The new address, for the email change emails.
    pub address: Option<String>,
}

#[derive(Template)]
#[template(path = "email/account_link.html")]
struct AccountLinkHtml<'a> {
    c: &'a Common,
    e: &'a AccountLink,
    intro: String,
    action: String,
    closing: String,
}

#[derive(Template)]
#[template(path = "email/account_link.txt")]
struct AccountLinkText<'a> {
    c: &'a Common,
    e: &'a AccountLink,
    intro: String,
    action: String,
    closing: String,
}

impl AccountLink {
    pub fn render(&self, locale: Locale, brand: &str) -> Result<RenderedEmail, askama::Error> {
        let t = locale.tr();
        let (template, subject, intro, action, closing) = self.kind.keys();
        let address = self.address.clone().unwrap_or_default();
        let with = |key: &str| t.t2(key, ("brand", brand.to_string()), ("address", address.clone()));
        let c = Common { t, brand: brand.to_string(), subject: with(subject) };
        let (intro, action, closing) = (with(intro), with(action), with(closing));
        let html = AccountLinkHtml {
            c: &c,
            e: self,
            intro: intro.clone(),
            action: action.clone(),
            closing: closing.clone(),
        };
        let text = AccountLinkText { c: &c, e: self, intro, action, closing };
        Ok(RenderedEmail {
            template,
            locale,
            html: html.render()?,
            text: text.render()?,
            subject: c.subject.clone(),
        })
    }
}

/// A test message operators send to check their SMTP settings (`portico mail test`).
pub struct TestMessage;

#[derive(Template)]
#[template(path = "email/test_message.html")]
struct TestHtml<'a> {
    c: &'a Common,
}

#[derive(Template)]
#[template(path = "email/test_message.txt")]
struct TestText<'a> {
    c: &'a Common,
}

impl TestMessage {
    pub fn render(&self, locale: Locale, brand: &str) -> Result<RenderedEmail, askama::Error> {
        let t = locale.tr();
        let c = Common { t, brand: brand.to_string(), subject: t.t1("email-test-subject", "brand", brand) };
        Ok(RenderedEmail {
            template: "test_message",
            locale,
            html: TestHtml { c: &c }.render()?,
            text: TestText { c: &c }.render()?,
            subject: c.subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invitation(hours: i64, existing_user: bool) -> Invitation {
        Invitation {
            org_name: "Acme <b>Ltd</b> & \"Co\"".into(),
            link: "https://portico.example/invite/abc?x=1&y=2".into(),
            expires_in_hours: hours,
            existing_user,
        }
    }

    #[test]
    fn invitation_in_english_with_plural_forms() {
        let one = invitation(1, false).render(Locale::En, "Portico").unwrap();
        assert_eq!(one.subject, "You have been invited to Acme <b>Ltd</b> & \"Co\" on Portico");
        assert!(one.text.contains("This link expires in 1 hour."), "{}", one.text);
        assert!(one.html.contains("This link expires in 1 hour."));
        assert!(one.text.contains("Set your password: https://portico.example/invite/abc?x=1&y=2"));
        let many = invitation(48, true).render(Locale::En, "Portico").unwrap();
        assert!(many.text.contains("This link expires in 48 hours."), "{}", many.text);
        assert!(many.text.contains("Sign in to accept: "));
        assert!(!many.text.contains("Set your password"));
    }

    #[test]
    fn invitation_in_romanian_with_plural_forms() {
        let one = invitation(1, false).render(Locale::Ro, "Portico").unwrap();
        assert!(one.subject.starts_with("Ați fost invitat în Acme"), "{}", one.subject);
        assert!(one.text.contains("Acest link expiră în 1 oră."), "{}", one.text);
        assert!(invitation(2, false).render(Locale::Ro, "P").unwrap().text.contains("în 2 ore."));
        assert!(invitation(48, false).render(Locale::Ro, "P").unwrap().text.contains("în 48 de ore."));
        assert!(one.html.contains("lang=\"ro\""));
    }

    #[test]
    fn html_is_escaped_and_text_is_not() {
        let e = invitation(24, false).render(Locale::En, "Brand & <Co>").unwrap();
        assert!(!e.html.contains("<b>Ltd</b>"), "organisation name must be escaped in HTML");
        assert!(e.html.contains("Acme &#60;b&#62;Ltd&#60;/b&#62;"), "{}", e.html);
        assert!(e.html.contains("href=\"https://portico.example/invite/abc?x=1&#38;y=2\""), "{}", e.html);
        assert!(e.html.contains("Brand &#38; &#60;Co&#62;"));
        assert!(e.text.contains("Acme <b>Ltd</b>"), "plain text is not HTML-escaped");
        assert!(!e.text.contains("&#"), "{}", e.text);
        // No Unicode isolation marks in either part.
        for part in [&e.text, &e.html, &e.subject] {
            assert!(!part.contains('\u{2068}') && !part.contains('\u{2069}'));
        }
    }
}
