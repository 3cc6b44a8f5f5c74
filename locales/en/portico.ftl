## Layout and navigation
nav-skip = Skip to content
nav-label = Main
nav-orgs = Organisations
nav-sign-in = Sign in
nav-sign-out = Sign out

## Home
home-title = Welcome
home-intro = Portico is where members join, pay and manage their membership.
home-signed-in-as = You are signed in as { $email }.

## Sign-in
login-title = Sign in
login-submit = Sign in
login-failed = Wrong email or password.
flash-signed-out = You have been signed out.

## Organisations
orgs-title = Organisations
orgs-empty = There are no organisations yet.
orgs-back = All organisations
org-display-name = Organisation
org-members = Members
org-no-members = This organisation has no members yet.
org-create-title = Create an organisation
org-create-submit = Create organisation
flash-org-created = The organisation was created.
form-has-errors = Please correct the fields marked below.

## Fields
field-email = Email
field-password = Password
field-username = Username
field-role = Role
field-status = Status
field-slug = Slug
field-slug-help = 2 to 63 lower-case letters, digits or dashes; used in links.
field-name = Name
field-kind = Kind
field-company-name = Company name (optional)
field-signup = Public signup

## Field errors (keyed by error code)
field-invalid-email = Enter a valid email address.
field-invalid-slug = Use 2 to 63 lower-case letters, digits or dashes, not starting or ending with a dash.
field-slug-taken = This slug is already taken.
field-invalid-name = Enter a name of at most 200 characters.
field-invalid-company-name = Enter a company name of at most 200 characters, or leave it empty.
field-invalid-kind = Choose individual, company or non-profit.
field-invalid-signup = Choose closed or open.
field-weak-password = Use at least 12 characters that are not easy to guess.
field-invalid-setting-value = This value is out of range for the setting.

## Values
individual = Individual
company = Company
nonprofit = Non-profit
closed = Closed
open = Open
owner = Owner
admin = Administrator
member = Member
pending = Pending
active = Active
suspended = Suspended
banned = Banned

## Errors
title-error = Something went wrong
title-unavailable = Temporarily unavailable
title-bad-request = Bad request
title-forbidden = Not allowed
title-not-found = Page not found
title-conflict = Already exists
title-rate-limited = Too many attempts
error-invalid-input = Some of the input is not valid.
error-conflict = This already exists.
error-not-found = There is nothing here.
error-forbidden = You are not allowed to do this.
error-rate-limited = Too many attempts. Please wait a while and try again.
error-internal = Something went wrong on our side. Please try again.
error-busy = The server is busy. Please try again in a moment.
error-database-unavailable = The service is temporarily unavailable: its database cannot be reached. Please try again in a few seconds.
error-csrf = This form has expired. Go back, reload the page and try again.
error-cross-site = This form was sent from another site, so it was refused. Open the page here and submit it again.
error-method-not-allowed = This page does not accept that kind of request.
error-not-a-form = This address only accepts form submissions.
error-too-large = The submitted data is too large.
error-go-home = Go to the start page

## Durations
duration-hours = { $count ->
    [one] { $count } hour
   *[other] { $count } hours
}

## Emails
email-footer = You received this email because of an action on { $brand }. If you did not expect it, you can ignore it.
email-link-fallback = If the button does not work, copy this address into your browser:
email-invitation-subject = You have been invited to { $org } on { $brand }
email-invitation-new-intro = You have been invited to join { $org }. Set your password to create your account and accept.
email-invitation-existing-intro = You have been invited to join { $org }. Sign in with your existing account to accept.
email-invitation-new-action = Set your password
email-invitation-existing-action = Sign in to accept
email-invitation-expiry = This link expires in { $hours ->
    [one] { $hours } hour
   *[other] { $hours } hours
}.
email-test-subject = Test email from { $brand }
email-test-body = This is a test message. If you can read it, email delivery works.

## Dev mail viewer and outbox
devmail-title = Dev mailbox
devmail-intro = No SMTP server is configured, so emails are delivered here instead of being sent.
devmail-empty = No email has been delivered yet.
devmail-back = All messages
devmail-when = When
devmail-to = To
devmail-subject = Subject
devmail-links = Links
devmail-html = HTML part
devmail-text = Text part
devmail-headers = Headers
outbox-title = Outgoing email
outbox-empty = No email has been queued yet.
outbox-state = Delivery
outbox-attempts = Attempts
outbox-last-error = Last error
nav-outbox = Email
queued = Queued
sending = Sending
sent = Sent
failed = Failed (will retry)
dead = Failed (gave up)

member-last-email = Last email
field-invalid-status = Choose pending, active, suspended or banned.
field-invalid-query = Search for at most 100 characters.

## Invitations
invitations-title = Invitations
invitations-empty = No invitations yet.
invitation-state = State
invitation-expires = Expires
invitation-sends = Emails
invitation-actions = Actions
invitation-resend = Resend
invitation-revoke = Revoke
invitation-resend-pending = Resend the pending invitation
invite-form-title = Invite someone
invite-submit = Send invitation
field-locale = Language of the email
locale-default = Their own, or the default
accepted = Accepted
revoked = Revoked
expired = Expired
flash-invitation-sent = The invitation was sent.
flash-invitation-resent = The invitation was sent again with a new link.
flash-invitation-revoked = The invitation was revoked; its link no longer works.
flash-invitation-accepted = Welcome! You have joined the organisation.
error-invitation-pending = A pending invitation already exists for this address. You can resend it.
error-already-member = This address already belongs to a member of this organisation.
error-invitation-not-pending = This invitation is no longer pending.
field-invalid-role = Choose owner, administrator or member.
field-invalid-locale = Choose English or Romanian.
field-invalid-state = Choose pending, accepted, revoked or expired.
field-password-mismatch = The two passwords do not match.
field-new-password = Choose a password
field-new-password-help = At least 12 characters.
field-password-confirm = Type the password again
invite-title = Join { $org }
invite-intro = You are invited as { $role }, with the address { $email }.
invite-new-explain = Choose a password to create your account and join.
invite-existing-explain = You already have an account. Sign in to join.
invite-signed-in-as-other = You are signed in with another account. Sign out, then open this link again.
invite-join = Join { $org }
invite-sign-in-and-join = Sign in and join
invite-set-password-and-join = Create account and join
invite-invalid-title = This invitation link cannot be used
invite-invalid-body = The link may be old, already used or withdrawn. Ask the organisation that invited you to send a new invitation.
verify-invalid-title = This verification link cannot be used
verify-invalid-body = The link may be old or already used. Ask for a new one: enter your email address on the signup page again.
verify-invalid-action = Start again
reset-invalid-title = This password reset link cannot be used
reset-invalid-body = The link may be old or already used. Ask for a new one.
reset-invalid-action = Ask for a new link

## Dashboard
dashboard-title = Your memberships
dashboard-no-memberships = You are not a member of any organisation yet.
dashboard-member-since = Member since
email-signup-verify-subject = Confirm your email to join { $org } on { $brand }
email-signup-verify-intro = Someone, hopefully you, asked to join { $org } with this address. Continue to fill in your details.
email-signup-verify-action = Continue signing up
email-signup-exists-subject = You already have an account on { $brand }
email-signup-exists-intro = Someone, hopefully you, asked to join { $org } with this address, but you already have an account. Sign in to join with it.
email-signup-exists-reset = Forgot your password? Reset it here:

## Signup
join-title = Join { $org }
join-email-intro = Enter your email address. We will send you a link to continue.
join-email-submit = Send me a link
join-have-account = Already have an account?
join-check-title = Check your email
join-check-body = If this address can join { $org }, an email with the next step is on its way. It may take a minute; check your spam folder too.
join-account-intro = You are signed in as { $email }. Join with this account; you do not need a new one.
join-account-submit = Join with this account
join-verify-intro = Your address { $email } is confirmed. Continue to fill in your details.
join-verify-continue = Continue
join-details-intro = Signing up as { $email }.
join-details-submit = Create my membership
join-exists-title = You already have an account
join-exists-body = An account with this email address exists. Sign in to join with it.
flash-signed-up = Welcome! Your membership is pending until the organisation activates it.
flash-joined = You have asked to join. Your membership is pending until the organisation activates it.
flash-already-member = You are already a member of this organisation.
field-first-name = First name
field-last-name = Last name
field-preferred-name = Preferred name
field-pronouns = Pronouns
field-birthday = Birthday
field-phone = Phone
field-optional = optional
field-username-help = 1 to 16 lower-case letters, digits, _ or -. It becomes your account name.
field-accept-terms = I accept the terms of membership.
field-accept-waiver = I accept the liability waiver.
field-required = This field is required.
field-too-long = This is too long.
field-control-character = Remove the control character (such as a line break or a NUL) from this field.
field-invisible-character = Remove the invisible character (a direction override or a zero-width space) from this field.
field-invalid-phone = Enter a phone number with 6 to 20 digits.
field-invalid-birthday = Enter a real date in the past, as YYYY-MM-DD.
field-too-young = You are younger than this organisation's minimum age.
field-invalid-username = Use 1 to 16 lower-case letters, digits, _ or -.
field-username-taken = This username is taken. Choose another.
field-must-accept = You need to accept this to join.

error-transition-not-allowed = This status change is not allowed.
error-credential-taken = This key is already in use in this organisation.
field-invalid-tag = A key number has exactly 10 digits.
field-not-in-catalogue = Choose an authorisation from the organisation's list.
field-nothing-to-change = Choose a new status or role.

## Member dashboard
dash-overview = Overview
dash-profile = Profile
dash-keys = Keys
dash-authorisations = Authorisations
dash-storage = Storage
dash-switch = Organisation:
dash-plan = Plan
dash-no-plan = No plan
dash-name = Name
dash-all-memberships = All your memberships
dash-save = Save
field-emergency-contact = Emergency contact
field-chat-handle = Chat handle
flash-profile-saved = Your profile was saved.
flash-key-added = The key was added.
flash-key-removed = The key was removed.
keys-none = You have no keys yet.
keys-tag = Key number (10 digits)
keys-add = Add key
keys-remove = Remove
keys-only-active = Keys can be changed only while your membership is active.
auth-none = You have no authorisations yet.
auth-name = Authorisation
auth-granted-by = Granted by
auth-granted-at = Granted on
storage-assigned = Your storage:
storage-none = You have no storage assigned.
locked-title = Your membership is locked
locked-body = Your membership of { $org } has been ended by the organisation. Contact them if you think this is a mistake.
next-pending = Your membership is waiting to be activated by the organisation.
next-active = Your membership is active. Add your keys to open the doors.
next-suspended = Your membership is suspended. Contact the organisation to reactivate it.
next-banned = Your membership has been ended.
member-agreements = Agreements
member-change-status = Change status
member-reason = Reason (recorded in the audit log)
member-notes = Staff notes
member-add-note = Add note
member-grant = Grant
member-filter = Filter
member-search = Search email or username
member-any-status = Any status
member-export = Export members as CSV
catalogue-title = Authorisation catalogue
catalogue-add = Add to catalogue
flash-member-updated = The member was updated.
flash-catalogue-updated = The catalogue was updated.
member-storage = Storage assignment (empty for none)
field-invalid-custom-fields = Custom fields are an object of at most 50 simple values, 4 KiB in all.
field-invalid-signature = The Stripe-Signature header is missing, malformed, too old, or does not match the body.
field-invalid-event = The body is not a Stripe event.
field-invalid-price-id = A Stripe price id looks like price_1AbC… (letters and digits after price_).
field-invalid-interval = Choose day, week, month or year.
field-invalid-activation = Choose automatic or manual activation.
field-invalid-grace-days = Choose between 0 and 60 days of grace.
field-empty-patch = Name at least one setting to change.

## Password reset
login-forgot = Forgot your password?
forgot-title = Reset your password
forgot-intro = Enter your email address. If it belongs to an account, we will send you a link to choose a new password.
forgot-sent = If this address belongs to an account, an email with a link to choose a new password is on its way.
reset-title = Choose a new password
reset-submit = Save the new password
flash-password-reset = Your password was changed. Other sessions were signed out.
email-reset-subject = Reset your password on { $brand }
email-reset-intro = Someone, hopefully you, asked to reset the password of your account.
email-reset-action = Choose a new password
email-reset-ignore = If you did not ask for this, ignore this email; your password stays as it is.

## Payments
error-payment-provider = The payment provider did not answer. Nothing was charged; please try again in a moment.
field-unknown-plan = Choose one of the plans listed.
field-invalid-filter = Use letters, digits, dots and underscores only.
field-invalid-agreement = Only a waiver or an ID check can be recorded here.
flash-no-billing = There is no billing account for this membership yet.
payment-title = Pay for your membership of { $org }
payment-intro = Choose a plan. You will pay on Stripe's secure page and come back here.
payment-choose-plan = Plan
payment-submit = Continue to payment
payment-later = Not now: go to my dashboard
payment-done-title = Thank you
payment-done-active = Your payment went through and your membership of { $org } is active.
payment-done-paid = Your payment went through. Your membership of { $org } becomes active once the remaining steps are done; your dashboard lists them.
payment-done-confirming = We are waiting for the payment provider to confirm your payment. This usually takes a few seconds; your dashboard shows the result.
payment-to-dashboard = Go to my dashboard
payment-cancelled-title = Payment cancelled
payment-cancelled-body = Nothing was charged. Your membership of { $org } stays pending until you pay.
payment-try-again = Choose a plan again
dash-renews = Renews on
dash-payment = Payment
dash-paid-waiting = Your payment is received. Before your membership becomes active, it waits for:
dash-pay-now = Pay now
dash-billing = Manage billing
subscription-active = Paid
subscription-trialing = Trial
subscription-past-due = Past due
subscription-canceled = Cancelled
subscription-unpaid = Unpaid
subscription-other = Incomplete
waiting-waiver = a signed waiver
waiting-id-check = an ID check by staff
waiting-staff = activation by staff
member-past-due-since = past due since
member-paid-at = First payment
member-paid-waiting = Paid, waiting for:
member-record-waiver = Record signed waiver
member-record-id-check = Record ID check
nav-payments = Payments
save = Save
flash-saved = Saved.
flash-reprocessed = The event was processed again; its row shows the outcome.
org-payments-link = Payments: plans and activation policy
org-payments-title = Payments
org-payments-off = This instance has no Stripe key configured, so members see no payment step. Plans and the policy can still be prepared.
org-policy = Activation policy
field-activation = Activation
activation-automatic = Automatic on first payment (once the requirements below are met)
activation-manual = Manual, by staff
field-requires-waiver = Require a signed waiver before activation
field-requires-id-check = Require an ID check by staff before activation
field-grace-days = Days a past-due membership keeps access (0 to 60)
org-plans = Plans
org-no-plans = No plans yet: members of this organisation have no payment step.
org-add-plan = Add a plan
field-price-id = Stripe price id
field-display-price = Price shown to members
field-interval = Billing interval
plan-active = Active
plan-inactive = Inactive
plan-deactivate = Deactivate
ledger-title = Stripe events
ledger-type = Type
ledger-membership = Membership
ledger-outcome = Outcome
ledger-event = Event
ledger-created = Created
ledger-error = Error
ledger-actions = Actions
ledger-test = (test)
ledger-empty = No events match.
ledger-reprocess = Process again

## Door access and authorisations
error-missing-prerequisites = This authorisation needs others first. Missing:
field-invalid-until = Give a date (YYYY-MM-DD or RFC 3339), and only for a suspension.
field-invalid-valid-days = Enter a whole number of days from 1 to 3650, or leave it blank.
field-invalid-prerequisites = Prerequisites must be other authorisations (at most 20).
field-invalid-wait = Wait at most 60 seconds.
auth-expires = Expires
auth-expired = Expired on
auth-expires-on = Expires on
auth-no-expiry = No expiry
member-suspend-until = Suspended until (optional)
member-suspend-until-help = Only for a suspension: on this date the membership becomes active again by itself.
member-until = until
flash-device-revoked = The device's token is revoked; its next request is refused.
org-devices-link = Door devices and revocations
devices-title = Door devices
devices-token-once = The token of { $name }. Copy it now into the device's configuration: it is not shown again.
devices-none = No devices yet.
devices-requires = Required authorisation
devices-requires-none = None (every active member with a key)
devices-last-contact = Last contact
devices-address = Address
devices-version = Version held
devices-list = List
devices-never = never
devices-revoked = Revoked
devices-current = Current
devices-stale = Stale for
devices-add = Register a device
revocations-title = Revocations
revocations-intro = Each change that took someone's access away, and when each device first held a list without it.
revocations-none = No access has been removed yet.
revocations-when = When
revocations-what = What
revocations-cause = By
revocations-devices = Devices
revocations-picked-up = picked up after
revocations-not-yet = not yet
catalogue-valid-days = Valid for (days, blank: no expiry)
catalogue-requires = Requires (comma-separated)
error-self-prerequisite = An authorisation cannot require itself.

# Webhooks (SPEC §3.7)
org-webhooks-link = Webhooks
webhooks-title = Webhooks
webhooks-secret-once = The signing secret of { $url }. Copy it now into the receiver's configuration: it is not shown again.
webhooks-none = No webhook endpoints yet.
webhooks-url = URL
webhooks-events = Events
webhooks-enabled = Enabled
webhooks-disabled = Disabled
webhooks-send-test = Send a test event
webhooks-rotate = Rotate the secret
webhooks-enable = Enable
webhooks-disable = Disable
webhooks-delete = Delete
webhooks-add = Add an endpoint
webhooks-deliveries = Deliveries
webhooks-replay-since = Send again every dead delivery since
webhooks-replay = Send again
webhooks-replay-one = Send again
webhooks-no-deliveries = Nothing sent to this endpoint yet.
webhooks-event = Event
webhooks-attempts = Attempts
webhooks-last-status = Last status
webhooks-answer = Error and answer
webhooks-next = Next attempt in
flash-webhook-deleted = The endpoint is deleted; what it had not been sent is dropped.
flash-webhook-test-queued = A test event is on its way.
flash-webhook-replayed = Queued to be sent again.
flash-webhook-not-finished = That delivery is still being attempted.

# Runtime settings page
nav-settings = Settings
settings-title = Settings
settings-intro = These apply to every server at once, within a second, without a restart. Each change is audited.
settings-key = Setting
settings-meaning = Meaning
settings-value = Value
settings-default = Default
settings-range = Allowed
settings-out-of-range = { $key }: a whole number in { $range } is allowed.
flash-setting-saved = The setting is saved; every server uses it within a second.

# A member's history (staff)
member-history = History
member-history-none = Nothing recorded yet.
history-when = When
history-who = Who
history-what = What
history-details = Details
history-from = From

# Audit log (staff)
nav-audit = Audit log
audit-title = Audit log
audit-intro = Everything staff, members and the system changed, newest first. Filters combine; the export takes the whole filtered log and is itself recorded.
audit-filter = Filter
audit-clear = Clear filters
audit-csv = Export CSV
audit-org = Organisation
audit-actor = Who
audit-actor-help = Addresses, user ids or system actors (cli, stripe, schedule), separated by commas.
audit-action = Action starts with
audit-action-help = For example member. or member.status_changed
audit-target = About
audit-from = From
audit-to = Until (inclusive)
audit-none = No events match.
audit-older = Older events
audit-about = About
audit-now = now
member-history-in-log = This history in the audit log
field-invalid-time = Enter a date (YYYY-MM-DD) or a time (RFC 3339).
field-invalid-actor = Enter at most 2000 characters of addresses, ids or names, separated by commas.
field-invalid-action = Use letters, digits, dots and underscores, at most 100.
field-invalid-target = Enter at most 254 characters.
field-invalid-cursor = This page link is not valid; start from the newest events.
field-invalid-limit = Ask for 1 to 200 events per page.
field-unknown-org = There is no organisation with this slug.

# Account emails: a staff account, an address change
email-staff-subject = Your staff account on { $brand }
email-staff-intro = An administrator made you a staff account on { $brand }. Choose a password to sign in.
email-staff-action = Choose your password
email-staff-ignore = If you did not expect this, ignore this email.
email-change-subject = Confirm your new email address on { $brand }
email-change-intro = Someone, hopefully you, asked to use { $address } to sign in to { $brand }. The change is made when you open this link.
email-change-action = Use this address
email-change-ignore = If you did not ask for this, ignore this email; nothing changes.
email-notice-subject = Your email address on { $brand } is being changed
email-notice-intro = Someone signed in to your { $brand } account asked to change its email address to { $address }. It changes when that address confirms it.
email-notice-action = If this was you, there is nothing to do.
email-notice-ignore = If it was not you, sign in and change your password now, and end the sessions you do not recognise on your account page.

# Staff accounts (admins)
nav-staff = Staff
people-title = Staff accounts
people-state = Account
people-tokens = API tokens
people-since = since
people-enabled = Enabled
people-disabled = Disabled
people-enable = Enable
people-disable = Disable
people-token-created = created
people-token-used = last used
people-token-unused = never used
people-token-revoked = revoked
people-token-revoke = Revoke
people-new = New staff account
people-first-password = First password
people-first-link = Email a link to choose it
people-first-shown = Show a password now, once
people-create = Create the account
people-password-once = The password of { $email }, shown this once: give it to them safely. They can change it on their account page.
staff-role-admin = Admin
staff-role-support = Support
flash-staff-link-sent = The account is created; a link to choose a password is on its way to the address.
flash-staff-role-changed = The role is changed.
flash-staff-disabled = The account is disabled: its sessions and API tokens have ended.
flash-staff-enabled = The account is enabled again; it signs in anew (its old API tokens stay revoked).
flash-token-revoked = The API token is revoked.
field-invalid-staff-role = Choose admin or support.
error-last-admin = This is the last enabled admin: make someone else admin first.
error-own-account = You cannot disable your own account.
error-email-taken = This address already has an account. To make an existing user staff, use the command line.

# Account self-service
account-title = Your account
account-password = Password
account-current-password = Current password
account-new-password = New password
account-new-password-again = New password again
account-password-help = At least 12 characters, not your address or username. Changing it signs you out everywhere else.
account-password-save = Change the password
account-email = Email address
account-email-help = We send a link to the new address; the change is made when you open it. Your current address is told.
account-new-email = New email address
account-email-send = Send the link
account-language = Language
account-sessions = Where you are signed in
account-session-started = Signed in
account-session-seen = Last seen
account-session-from = From
account-session-this = this browser
account-session-end = End this session
account-sign-out-everywhere = Sign out everywhere
account-email-confirm-title = Confirm your new email address
account-email-confirm-body = Use { $address } to sign in from now on?
account-email-confirm-action = Use this address
email-change-invalid-title = This link cannot be used
email-change-invalid-body = The address change link is not valid any more. Ask for a new one on your account page.
email-change-invalid-action = Your account
flash-password-changed = Your password is changed. Every other session was signed out.
flash-email-change-sent = If the new address can be used, a link to confirm it is on its way there. Your current address was told.
flash-email-changed = Your email address is changed.
flash-session-ended = That session is signed out.
flash-signed-out-everywhere = You are signed out everywhere.
flash-locale-changed = The language is saved.
field-wrong-password = The current password is not right.
field-same-email = This is already your address.
error-email-in-use = This address already has an account, so it cannot be used for yours. Nothing was changed.

## Error codes whose message is their own (src/http_error.rs, code_key)
error-insecure-destination = This address uses plain http to a public host. Use an https:// address (plain http reaches only addresses on your own network, when the server allows private destinations).
error-private-destination = This address is on a loopback or private network, and this server does not send there. Use a public https:// address, or start the server with PORTICO_WEBHOOKS_ALLOW_PRIVATE=true.
error-not-finished = This delivery is still being attempted. Replay it once it has succeeded or failed.
error-status-changed = The membership's status changed while you were looking at it. Reload the page and decide again.
error-price-taken = This organisation already has a plan with this Stripe price. Use the existing plan, or another price.
error-account-exists = An account with this address exists already. Sign in, or reset its password if you forgot it.
error-link-in-use = This link is being used in another window right now. Wait a moment, then open it again.
error-account-changed = The account changed while this page was open. Review the page and submit it again.
error-nothing-to-pay = There is nothing to pay for this membership now.
error-no-customer = This membership has no billing account yet. Pay once to create it.
error-unauthorized = This needs a valid API token: send it as "Authorization: Bearer TOKEN" (portico token create).
error-unsupported-media-type = Send the body as JSON, with "Content-Type: application/json".
error-malformed-json = The body is not valid JSON. Check its syntax.
error-invalid-request = The request is malformed: check the address, its parameters and the body against /api/openapi.json.
error-request-timeout = The request took too long to arrive, so it was not read. Please send it again.
error-bad-request = The browser sent a request this server cannot read. Go back and try again.
field-invalid-event-types = Choose at least one of the event types listed (at most 20).
field-invalid-url = Enter an http:// or https:// address with a host name or IPv4 address, an optional port and a path of letters, digits and ._~/?=&%- only.
field-invalid-authorisation-name = Name the authorisation with letters, digits, spaces, -, _ or . (at most 60), starting with a letter or digit; no slashes.
