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
error-csrf = This form has expired. Go back, reload the page and try again.
error-not-a-form = This address only accepts form submissions.
error-too-large = The submitted data is too large.
error-go-home = Go to the start page

## Durations
duration-hours = { $count ->
    [one] { $count } hour
   *[other] { $count } hours
}
