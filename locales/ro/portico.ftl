## Layout and navigation
nav-skip = Sari la conținut
nav-label = Principal
nav-orgs = Organizații
nav-sign-in = Autentificare
nav-sign-out = Ieșire

## Home
home-title = Bun venit
home-intro = Portico este locul unde membrii se înscriu, plătesc și își gestionează calitatea de membru.
home-signed-in-as = Sunteți autentificat ca { $email }.

## Sign-in
login-title = Autentificare
login-submit = Autentificare
login-failed = Email sau parolă greșită.
flash-signed-out = Ați ieșit din cont.

## Organisations
orgs-title = Organizații
orgs-empty = Nu există încă nicio organizație.
orgs-back = Toate organizațiile
org-display-name = Organizație
org-members = Membri
org-no-members = Această organizație nu are încă membri.
org-create-title = Creați o organizație
org-create-submit = Creați organizația
flash-org-created = Organizația a fost creată.
form-has-errors = Vă rugăm să corectați câmpurile marcate mai jos.

## Fields
field-email = Email
field-password = Parolă
field-username = Nume de utilizator
field-role = Rol
field-status = Stare
field-slug = Identificator
field-slug-help = Între 2 și 63 de litere mici, cifre sau cratime; apare în linkuri.
field-name = Nume
field-kind = Tip
field-company-name = Numele firmei (opțional)
field-signup = Înscriere publică

## Field errors (keyed by error code)
field-invalid-email = Introduceți o adresă de email validă.
field-invalid-slug = Folosiți între 2 și 63 de litere mici, cifre sau cratime, fără cratimă la început sau la sfârșit.
field-slug-taken = Acest identificator este deja folosit.
field-invalid-name = Introduceți un nume de cel mult 200 de caractere.
field-invalid-company-name = Introduceți un nume de firmă de cel mult 200 de caractere sau lăsați câmpul gol.
field-invalid-kind = Alegeți persoană fizică, firmă sau organizație non-profit.
field-invalid-signup = Alegeți închisă sau deschisă.
field-weak-password = Folosiți cel puțin 12 caractere greu de ghicit.
field-invalid-setting-value = Această valoare nu este permisă pentru setare.

## Values
individual = Persoană fizică
company = Firmă
nonprofit = Non-profit
closed = Închisă
open = Deschisă
owner = Proprietar
admin = Administrator
member = Membru
pending = În așteptare
active = Activ
suspended = Suspendat
banned = Exclus

## Errors
title-error = Ceva nu a funcționat
title-unavailable = Temporar indisponibil
title-bad-request = Cerere greșită
title-forbidden = Nepermis
title-not-found = Pagina nu există
title-conflict = Există deja
title-rate-limited = Prea multe încercări
error-invalid-input = Unele date introduse nu sunt valide.
error-conflict = Acest lucru există deja.
error-not-found = Nu există nimic aici.
error-forbidden = Nu aveți permisiunea să faceți acest lucru.
error-rate-limited = Prea multe încercări. Vă rugăm să așteptați puțin și să încercați din nou.
error-internal = A apărut o eroare la noi. Vă rugăm să încercați din nou.
error-busy = Serverul este ocupat. Vă rugăm să încercați din nou peste câteva clipe.
error-database-unavailable = Serviciul este temporar indisponibil: baza de date nu poate fi accesată. Vă rugăm să încercați din nou peste câteva secunde.
error-csrf = Acest formular a expirat. Reveniți, reîncărcați pagina și încercați din nou.
error-cross-site = Acest formular a fost trimis de pe alt site, așa că a fost refuzat. Deschideți pagina aici și trimiteți-l din nou.
error-method-not-allowed = Această pagină nu acceptă acest tip de cerere.
error-not-a-form = Această adresă acceptă doar trimiteri de formulare.
error-too-large = Datele trimise sunt prea mari.
error-go-home = Mergeți la pagina de start

## Durations
duration-hours = { $count ->
    [one] { $count } oră
    [few] { $count } ore
   *[other] { $count } de ore
}

## Emails
email-footer = Ați primit acest email în urma unei acțiuni pe { $brand }. Dacă nu îl așteptați, îl puteți ignora.
email-link-fallback = Dacă butonul nu funcționează, copiați această adresă în browser:
email-invitation-subject = Ați fost invitat în { $org } pe { $brand }
email-invitation-new-intro = Ați fost invitat să vă alăturați organizației { $org }. Alegeți o parolă pentru a vă crea contul și a accepta.
email-invitation-existing-intro = Ați fost invitat să vă alăturați organizației { $org }. Autentificați-vă cu contul existent pentru a accepta.
email-invitation-new-action = Alegeți parola
email-invitation-existing-action = Autentificați-vă pentru a accepta
email-invitation-expiry = Acest link expiră în { $hours ->
    [one] { $hours } oră
    [few] { $hours } ore
   *[other] { $hours } de ore
}.
email-test-subject = Email de test de la { $brand }
email-test-body = Acesta este un mesaj de test. Dacă îl puteți citi, trimiterea emailurilor funcționează.

## Dev mail viewer and outbox
devmail-title = Cutie poștală de dezvoltare
devmail-intro = Nu este configurat niciun server SMTP, așa că emailurile ajung aici în loc să fie trimise.
devmail-empty = Încă nu a fost livrat niciun email.
devmail-back = Toate mesajele
devmail-when = Când
devmail-to = Către
devmail-subject = Subiect
devmail-links = Linkuri
devmail-html = Partea HTML
devmail-text = Partea text
devmail-headers = Antete
outbox-title = Emailuri trimise
outbox-empty = Încă nu a fost pus în coadă niciun email.
outbox-state = Livrare
outbox-attempts = Încercări
outbox-last-error = Ultima eroare
nav-outbox = Email
queued = În coadă
sending = Se trimite
sent = Trimis
failed = Eșuat (se reîncearcă)
dead = Eșuat (abandonat)

member-last-email = Ultimul email
field-invalid-status = Alegeți în așteptare, activ, suspendat sau exclus.
field-invalid-query = Căutați cel mult 100 de caractere.

## Invitations
invitations-title = Invitații
invitations-empty = Nicio invitație încă.
invitation-state = Stare
invitation-expires = Expiră
invitation-sends = Emailuri
invitation-actions = Acțiuni
invitation-resend = Retrimite
invitation-revoke = Retrage
invitation-resend-pending = Retrimiteți invitația în așteptare
invite-form-title = Invitați pe cineva
invite-submit = Trimiteți invitația
field-locale = Limba emailului
locale-default = A destinatarului sau cea implicită
accepted = Acceptată
revoked = Retrasă
expired = Expirată
flash-invitation-sent = Invitația a fost trimisă.
flash-invitation-resent = Invitația a fost retrimisă cu un link nou.
flash-invitation-revoked = Invitația a fost retrasă; linkul ei nu mai funcționează.
flash-invitation-accepted = Bun venit! V-ați alăturat organizației.
error-invitation-pending = Există deja o invitație în așteptare pentru această adresă. O puteți retrimite.
error-already-member = Această adresă aparține deja unui membru al acestei organizații.
error-invitation-not-pending = Această invitație nu mai este în așteptare.
field-invalid-role = Alegeți proprietar, administrator sau membru.
field-invalid-locale = Alegeți engleză sau română.
field-invalid-state = Alegeți în așteptare, acceptată, retrasă sau expirată.
field-password-mismatch = Cele două parole nu coincid.
field-new-password = Alegeți o parolă
field-new-password-help = Cel puțin 12 caractere.
field-password-confirm = Scrieți parola din nou
invite-title = Alăturați-vă organizației { $org }
invite-intro = Sunteți invitat ca { $role }, cu adresa { $email }.
invite-new-explain = Alegeți o parolă pentru a vă crea contul și a vă alătura.
invite-existing-explain = Aveți deja un cont. Autentificați-vă pentru a vă alătura.
invite-signed-in-as-other = Sunteți autentificat cu alt cont. Ieșiți din cont, apoi deschideți din nou acest link.
invite-join = Alăturați-vă organizației { $org }
invite-sign-in-and-join = Autentificare și alăturare
invite-set-password-and-join = Creați contul și alăturați-vă
invite-invalid-title = Acest link de invitație nu poate fi folosit
invite-invalid-body = Linkul poate fi vechi, deja folosit sau retras. Cereți organizației care v-a invitat să vă trimită o invitație nouă.
verify-invalid-title = Acest link de verificare nu poate fi folosit
verify-invalid-body = Linkul poate fi vechi sau deja folosit. Cereți unul nou: introduceți din nou adresa de email pe pagina de înscriere.
verify-invalid-action = Începeți din nou
reset-invalid-title = Acest link de resetare a parolei nu poate fi folosit
reset-invalid-body = Linkul poate fi vechi sau deja folosit. Cereți unul nou.
reset-invalid-action = Cereți un link nou

## Dashboard
dashboard-title = Calitățile dumneavoastră de membru
dashboard-no-memberships = Încă nu sunteți membru al niciunei organizații.
dashboard-member-since = Membru din
email-signup-verify-subject = Confirmați adresa de email pentru a vă alătura organizației { $org } pe { $brand }
email-signup-verify-intro = Cineva, sperăm că dumneavoastră, a cerut să se alăture organizației { $org } cu această adresă. Continuați pentru a vă completa datele.
email-signup-verify-action = Continuați înscrierea
email-signup-exists-subject = Aveți deja un cont pe { $brand }
email-signup-exists-intro = Cineva, sperăm că dumneavoastră, a cerut să se alăture organizației { $org } cu această adresă, dar aveți deja un cont. Autentificați-vă pentru a vă alătura cu el.
email-signup-exists-reset = Ați uitat parola? O puteți reseta aici:

## Signup
join-title = Alăturați-vă organizației { $org }
join-email-intro = Introduceți adresa de email. Vă trimitem un link pentru a continua.
join-email-submit = Trimiteți-mi un link
join-have-account = Aveți deja un cont?
join-check-title = Verificați-vă emailul
join-check-body = Dacă această adresă se poate alătura organizației { $org }, un email cu pasul următor este pe drum. Poate dura un minut; verificați și dosarul spam.
join-account-intro = Sunteți autentificat ca { $email }. Alăturați-vă cu acest cont; nu aveți nevoie de unul nou.
join-account-submit = Alăturați-vă cu acest cont
join-verify-intro = Adresa { $email } este confirmată. Continuați pentru a vă completa datele.
join-verify-continue = Continuați
join-details-intro = Vă înscrieți ca { $email }.
join-details-submit = Creați calitatea de membru
join-exists-title = Aveți deja un cont
join-exists-body = Există un cont cu această adresă de email. Autentificați-vă pentru a vă alătura cu el.
flash-signed-up = Bun venit! Calitatea de membru este în așteptare până când organizația o activează.
flash-joined = Ați cerut să vă alăturați. Calitatea de membru este în așteptare până când organizația o activează.
flash-already-member = Sunteți deja membru al acestei organizații.
field-first-name = Prenume
field-last-name = Nume de familie
field-preferred-name = Numele preferat
field-pronouns = Pronume
field-birthday = Data nașterii
field-phone = Telefon
field-optional = opțional
field-username-help = Între 1 și 16 litere mici, cifre, _ sau -. Devine numele contului.
field-accept-terms = Accept condițiile de membru.
field-accept-waiver = Accept declarația de asumare a riscurilor.
field-required = Acest câmp este obligatoriu.
field-too-long = Textul este prea lung.
field-control-character = Eliminați caracterul de control (de exemplu o trecere la rând nouă sau NUL) din acest câmp.
field-invisible-character = Eliminați caracterul invizibil (o schimbare de direcție sau un spațiu de lățime zero) din acest câmp.
field-invalid-phone = Introduceți un număr de telefon cu 6 până la 20 de cifre.
field-invalid-birthday = Introduceți o dată reală din trecut, ca AAAA-LL-ZZ.
field-too-young = Sunteți mai tânăr decât vârsta minimă a acestei organizații.
field-invalid-username = Folosiți între 1 și 16 litere mici, cifre, _ sau -.
field-username-taken = Acest nume de utilizator este luat. Alegeți altul.
field-must-accept = Trebuie să acceptați pentru a vă alătura.

error-transition-not-allowed = Această schimbare de stare nu este permisă.
error-credential-taken = Această cheie este deja folosită în această organizație.
field-invalid-tag = Numărul cheii are exact 10 cifre.
field-not-in-catalogue = Alegeți o autorizare din lista organizației.
field-nothing-to-change = Alegeți o stare sau un rol nou.

## Member dashboard
dash-overview = Prezentare
dash-profile = Profil
dash-keys = Chei
dash-authorisations = Autorizări
dash-storage = Depozitare
dash-switch = Organizație:
dash-plan = Abonament
dash-no-plan = Fără abonament
dash-name = Nume
dash-all-memberships = Toate calitățile dumneavoastră de membru
dash-save = Salvați
field-emergency-contact = Contact de urgență
field-chat-handle = Utilizator de chat
flash-profile-saved = Profilul a fost salvat.
flash-key-added = Cheia a fost adăugată.
flash-key-removed = Cheia a fost eliminată.
keys-none = Încă nu aveți chei.
keys-tag = Numărul cheii (10 cifre)
keys-add = Adăugați cheia
keys-remove = Eliminați
keys-only-active = Cheile se pot schimba doar cât timp calitatea de membru este activă.
auth-none = Încă nu aveți autorizări.
auth-name = Autorizare
auth-granted-by = Acordată de
auth-granted-at = Acordată la
storage-assigned = Spațiul dumneavoastră de depozitare:
storage-none = Nu aveți un spațiu de depozitare.
locked-title = Calitatea de membru este blocată
locked-body = Calitatea de membru în { $org } a fost încheiată de organizație. Contactați-o dacă credeți că este o greșeală.
next-pending = Calitatea de membru așteaptă să fie activată de organizație.
next-active = Calitatea de membru este activă. Adăugați-vă cheile pentru a deschide ușile.
next-suspended = Calitatea de membru este suspendată. Contactați organizația pentru a o reactiva.
next-banned = Calitatea de membru a fost încheiată.
member-agreements = Acorduri
member-change-status = Schimbați starea
member-reason = Motivul (înregistrat în jurnalul de audit)
member-notes = Note ale personalului
member-add-note = Adăugați o notă
member-grant = Acordați
member-filter = Filtrați
member-search = Căutați după email sau nume de utilizator
member-any-status = Orice stare
member-export = Exportați membrii în CSV
catalogue-title = Catalogul de autorizări
catalogue-add = Adăugați în catalog
flash-member-updated = Membrul a fost actualizat.
flash-catalogue-updated = Catalogul a fost actualizat.
member-storage = Spațiu de depozitare alocat (gol pentru niciunul)
field-invalid-custom-fields = Câmpurile personalizate sunt un obiect cu cel mult 50 de valori simple, 4 KiB în total.
field-invalid-signature = Antetul Stripe-Signature lipsește, este greșit, prea vechi sau nu corespunde conținutului.
field-invalid-event = Conținutul nu este un eveniment Stripe.
field-invalid-price-id = Un preț Stripe arată ca price_1AbC… (litere și cifre după price_).
field-invalid-interval = Alegeți zi (day), săptămână (week), lună (month) sau an (year).
field-invalid-activation = Alegeți activare automată (automatic) sau manuală (manual).
field-invalid-grace-days = Alegeți între 0 și 60 de zile de grație.
field-empty-patch = Indicați cel puțin o setare de schimbat.

## Password reset
login-forgot = Ați uitat parola?
forgot-title = Resetați parola
forgot-intro = Introduceți adresa de email. Dacă aparține unui cont, vă trimitem un link pentru a alege o parolă nouă.
forgot-sent = Dacă această adresă aparține unui cont, un email cu un link pentru a alege o parolă nouă este pe drum.
reset-title = Alegeți o parolă nouă
reset-submit = Salvați parola nouă
flash-password-reset = Parola a fost schimbată. Celelalte sesiuni au fost închise.
email-reset-subject = Resetați parola pe { $brand }
email-reset-intro = Cineva, sperăm că dumneavoastră, a cerut resetarea parolei contului dumneavoastră.
email-reset-action = Alegeți o parolă nouă
email-reset-ignore = Dacă nu ați cerut acest lucru, ignorați emailul; parola rămâne aceeași.

## Plăți
error-payment-provider = Furnizorul de plăți nu a răspuns. Nu s-a încasat nimic; încercați din nou peste câteva momente.
field-unknown-plan = Alegeți unul dintre planurile din listă.
field-invalid-filter = Folosiți doar litere, cifre, puncte și liniuțe de subliniere.
field-invalid-agreement = Aici se pot înregistra doar o declarație de asumare a riscului sau o verificare a actului de identitate.
flash-no-billing = Această calitate de membru nu are încă un cont de facturare.
payment-title = Plătiți calitatea de membru la { $org }
payment-intro = Alegeți un plan. Veți plăti pe pagina securizată Stripe și veți reveni aici.
payment-choose-plan = Plan
payment-submit = Continuați spre plată
payment-later = Nu acum: mergi la panoul meu
payment-done-title = Vă mulțumim
payment-done-active = Plata a reușit, iar calitatea de membru la { $org } este activă.
payment-done-paid = Plata a reușit. Calitatea de membru la { $org } devine activă după pașii rămași; panoul dumneavoastră îi enumeră.
payment-done-confirming = Așteptăm confirmarea plății de la furnizor. De obicei durează câteva secunde; panoul dumneavoastră arată rezultatul.
payment-to-dashboard = Mergi la panoul meu
payment-cancelled-title = Plată anulată
payment-cancelled-body = Nu s-a încasat nimic. Calitatea de membru la { $org } rămâne în așteptare până la plată.
payment-try-again = Alegeți din nou un plan
dash-renews = Se reînnoiește la
dash-payment = Plată
dash-paid-waiting = Plata a fost primită. Înainte să devină activă, calitatea de membru așteaptă:
dash-pay-now = Plătiți acum
dash-billing = Gestionați facturarea
subscription-active = Plătit
subscription-trialing = Perioadă de probă
subscription-past-due = Restanță
subscription-canceled = Anulat
subscription-unpaid = Neplătit
subscription-other = Incomplet
waiting-waiver = o declarație de asumare a riscului semnată
waiting-id-check = o verificare a actului de identitate de către personal
waiting-staff = activarea de către personal
member-past-due-since = restanță din
member-paid-at = Prima plată
member-paid-waiting = Plătit, așteaptă:
member-record-waiver = Înregistrați declarația semnată
member-record-id-check = Înregistrați verificarea actului de identitate
nav-payments = Plăți
save = Salvați
flash-saved = Salvat.
flash-reprocessed = Evenimentul a fost procesat din nou; rândul său arată rezultatul.
org-payments-link = Plăți: planuri și politica de activare
org-payments-title = Plăți
org-payments-off = Această instanță nu are o cheie Stripe configurată, deci membrii nu văd pasul de plată. Planurile și politica pot fi totuși pregătite.
org-policy = Politica de activare
field-activation = Activare
activation-automatic = Automată la prima plată (după îndeplinirea cerințelor de mai jos)
activation-manual = Manuală, de către personal
field-requires-waiver = Cereți o declarație semnată înainte de activare
field-requires-id-check = Cereți verificarea actului de identitate de către personal înainte de activare
field-grace-days = Zile în care o calitate de membru restantă își păstrează accesul (0–60)
org-plans = Planuri
org-no-plans = Niciun plan încă: membrii acestei organizații nu au pas de plată.
org-add-plan = Adăugați un plan
field-price-id = Identificatorul de preț Stripe
field-display-price = Prețul afișat membrilor
field-interval = Intervalul de facturare
plan-active = Activ
plan-inactive = Inactiv
plan-deactivate = Dezactivați
ledger-title = Evenimente Stripe
ledger-type = Tip
ledger-membership = Calitate de membru
ledger-outcome = Rezultat
ledger-event = Eveniment
ledger-created = Creat
ledger-error = Eroare
ledger-actions = Acțiuni
ledger-test = (test)
ledger-empty = Niciun eveniment nu corespunde.
ledger-reprocess = Procesați din nou

## Acces și autorizări
error-missing-prerequisites = Această autorizare cere mai întâi altele. Lipsesc:
field-invalid-until = Dați o dată (AAAA-LL-ZZ sau RFC 3339), și doar pentru o suspendare.
field-invalid-valid-days = Introduceți un număr întreg de zile între 1 și 3650 sau lăsați gol.
field-invalid-prerequisites = Cerințele trebuie să fie alte autorizări (cel mult 20).
field-invalid-wait = Așteptați cel mult 60 de secunde.
auth-expires = Expiră
auth-expired = A expirat la
auth-expires-on = Expiră la
auth-no-expiry = Fără expirare
member-suspend-until = Suspendat până la (opțional)
member-suspend-until-help = Doar pentru o suspendare: la această dată calitatea de membru redevine activă de la sine.
member-until = până la
flash-device-revoked = Tokenul dispozitivului a fost revocat; următoarea sa cerere este refuzată.
org-devices-link = Dispozitive de acces și revocări
devices-title = Dispozitive de acces
devices-token-once = Tokenul pentru { $name }. Copiați-l acum în configurația dispozitivului: nu mai este afișat.
devices-none = Niciun dispozitiv încă.
devices-requires = Autorizare necesară
devices-requires-none = Niciuna (orice membru activ cu o cheie)
devices-last-contact = Ultimul contact
devices-address = Adresă
devices-version = Versiunea deținută
devices-list = Listă
devices-never = niciodată
devices-revoked = Revocat
devices-current = La zi
devices-stale = Neactualizat de
devices-add = Înregistrați un dispozitiv
revocations-title = Revocări
revocations-intro = Fiecare schimbare care a retras accesul cuiva și când fiecare dispozitiv a avut prima dată o listă fără el.
revocations-none = Niciun acces nu a fost retras încă.
revocations-when = Când
revocations-what = Ce
revocations-cause = De către
revocations-devices = Dispozitive
revocations-picked-up = preluat după
revocations-not-yet = încă nu
catalogue-valid-days = Valabilă (zile; gol: fără expirare)
catalogue-requires = Necesită (separate prin virgulă)
error-self-prerequisite = O autorizare nu se poate cere pe sine.

# Webhooks (SPEC §3.7)
org-webhooks-link = Webhook-uri
webhooks-title = Webhook-uri
webhooks-secret-once = Secretul de semnare pentru { $url }. Copiați-l acum în configurația receptorului: nu mai este afișat.
webhooks-none = Niciun endpoint de webhook încă.
webhooks-url = URL
webhooks-events = Evenimente
webhooks-enabled = Activ
webhooks-disabled = Dezactivat
webhooks-send-test = Trimiteți un eveniment de test
webhooks-rotate = Schimbați secretul
webhooks-enable = Activați
webhooks-disable = Dezactivați
webhooks-delete = Ștergeți
webhooks-add = Adăugați un endpoint
webhooks-deliveries = Livrări
webhooks-replay-since = Retrimiteți toate livrările eșuate definitiv de la
webhooks-replay = Retrimiteți
webhooks-replay-one = Retrimiteți
webhooks-no-deliveries = Nimic trimis încă acestui endpoint.
webhooks-event = Eveniment
webhooks-attempts = Încercări
webhooks-last-status = Ultimul cod
webhooks-answer = Eroare și răspuns
webhooks-next = Următoarea încercare peste
flash-webhook-deleted = Endpoint-ul a fost șters; ce nu i se trimisese a fost abandonat.
flash-webhook-test-queued = Un eveniment de test este pe drum.
flash-webhook-replayed = Pus din nou la coadă pentru trimitere.
flash-webhook-not-finished = Livrarea este încă în curs.

# Runtime settings page
nav-settings = Setări
settings-title = Setări
settings-intro = Se aplică tuturor serverelor deodată, într-o secundă, fără repornire. Fiecare schimbare este auditată.
settings-key = Setare
settings-meaning = Semnificație
settings-value = Valoare
settings-default = Implicit
settings-range = Permis
settings-out-of-range = { $key }: este permis un număr întreg din intervalul { $range }.
flash-setting-saved = Setarea a fost salvată; fiecare server o folosește într-o secundă.

# A member's history (staff)
member-history = Istoric
member-history-none = Nimic înregistrat încă.
history-when = Când
history-who = Cine
history-what = Ce
history-details = Detalii
history-from = De la

# Audit log (staff)
nav-audit = Jurnal de audit
audit-title = Jurnal de audit
audit-intro = Tot ce au schimbat personalul, membrii și sistemul, cele mai noi întâi. Filtrele se combină; exportul cuprinde tot jurnalul filtrat și este și el înregistrat.
audit-filter = Filtrează
audit-clear = Șterge filtrele
audit-csv = Exportă CSV
audit-org = Organizație
audit-actor = Cine
audit-actor-help = Adrese, id-uri de utilizator sau actori de sistem (cli, stripe, schedule), separate prin virgule.
audit-action = Acțiunea începe cu
audit-action-help = De exemplu member. sau member.status_changed
audit-target = Despre
audit-from = De la
audit-to = Până la (inclusiv)
audit-none = Niciun eveniment nu corespunde.
audit-older = Evenimente mai vechi
audit-about = Despre
audit-now = acum
member-history-in-log = Acest istoric în jurnalul de audit
field-invalid-time = Introduceți o dată (AAAA-LL-ZZ) sau un moment (RFC 3339).
field-invalid-actor = Introduceți cel mult 2000 de caractere: adrese, id-uri sau nume, separate prin virgule.
field-invalid-action = Folosiți litere, cifre, puncte și liniuțe de subliniere, cel mult 100.
field-invalid-target = Introduceți cel mult 254 de caractere.
field-invalid-cursor = Legătura acestei pagini nu este validă; începeți de la cele mai noi evenimente.
field-invalid-limit = Cereți între 1 și 200 de evenimente pe pagină.
field-unknown-org = Nu există nicio organizație cu acest identificator.

# Account emails: a staff account, an address change
email-staff-subject = Contul dumneavoastră de personal pe { $brand }
email-staff-intro = Un administrator v-a creat un cont de personal pe { $brand }. Alegeți o parolă pentru a vă autentifica.
email-staff-action = Alegeți parola
email-staff-ignore = Dacă nu vă așteptați la acest email, ignorați-l.
email-change-subject = Confirmați noua adresă de email pe { $brand }
email-change-intro = Cineva, sperăm că dumneavoastră, a cerut ca { $address } să fie folosită pentru autentificarea pe { $brand }. Schimbarea se face când deschideți această legătură.
email-change-action = Folosește această adresă
email-change-ignore = Dacă nu ați cerut acest lucru, ignorați emailul; nu se schimbă nimic.
email-notice-subject = Adresa de email a contului de pe { $brand } se schimbă
email-notice-intro = Cineva autentificat în contul dumneavoastră de pe { $brand } a cerut schimbarea adresei de email în { $address }. Se schimbă când acea adresă confirmă.
email-notice-action = Dacă ați fost dumneavoastră, nu trebuie să faceți nimic.
email-notice-ignore = Dacă nu ați fost dumneavoastră, autentificați-vă și schimbați parola acum, apoi încheiați sesiunile pe care nu le recunoașteți din pagina contului.

# Staff accounts (admins)
nav-staff = Personal
people-title = Conturi de personal
people-state = Cont
people-tokens = Tokenuri API
people-since = din
people-enabled = Activ
people-disabled = Dezactivat
people-enable = Activează
people-disable = Dezactivează
people-token-created = creat
people-token-used = folosit ultima dată
people-token-unused = nefolosit
people-token-revoked = revocat
people-token-revoke = Revocă
people-new = Cont nou de personal
people-first-password = Prima parolă
people-first-link = Trimite pe email o legătură pentru a o alege
people-first-shown = Arată acum o parolă, o singură dată
people-create = Creează contul
people-password-once = Parola pentru { $email }, afișată o singură dată: transmiteți-o în siguranță. Poate fi schimbată din pagina contului.
staff-role-admin = Administrator
staff-role-support = Suport
flash-staff-link-sent = Contul este creat; o legătură pentru alegerea parolei a fost trimisă la adresă.
flash-staff-role-changed = Rolul este schimbat.
flash-staff-disabled = Contul este dezactivat: sesiunile și tokenurile API s-au încheiat.
flash-staff-enabled = Contul este din nou activ; se autentifică din nou (vechile tokenuri API rămân revocate).
flash-token-revoked = Tokenul API este revocat.
field-invalid-staff-role = Alegeți administrator sau suport.
error-last-admin = Acesta este ultimul administrator activ: numiți mai întâi alt administrator.
error-own-account = Nu vă puteți dezactiva propriul cont.
error-email-taken = Această adresă are deja un cont. Pentru a face personal un utilizator existent, folosiți linia de comandă.

# Account self-service
account-title = Contul dumneavoastră
account-password = Parolă
account-current-password = Parola actuală
account-new-password = Parola nouă
account-new-password-again = Parola nouă din nou
account-password-help = Cel puțin 12 caractere, nu adresa sau numele de utilizator. Schimbarea vă deconectează de peste tot în altă parte.
account-password-save = Schimbă parola
account-email = Adresa de email
account-email-help = Trimitem o legătură la noua adresă; schimbarea se face când o deschideți. Adresa actuală este anunțată.
account-new-email = Noua adresă de email
account-email-send = Trimite legătura
account-language = Limba
account-sessions = Unde sunteți autentificat
account-session-started = Autentificat
account-session-seen = Văzut ultima dată
account-session-from = De la
account-session-this = acest browser
account-session-end = Încheie această sesiune
account-sign-out-everywhere = Deconectare de peste tot
account-email-confirm-title = Confirmați noua adresă de email
account-email-confirm-body = Folosiți { $address } pentru autentificare de acum înainte?
account-email-confirm-action = Folosește această adresă
email-change-invalid-title = Această legătură nu poate fi folosită
email-change-invalid-body = Legătura pentru schimbarea adresei nu mai este validă. Cereți una nouă din pagina contului.
email-change-invalid-action = Contul dumneavoastră
flash-password-changed = Parola este schimbată. Toate celelalte sesiuni au fost deconectate.
flash-email-change-sent = Dacă noua adresă poate fi folosită, o legătură de confirmare a fost trimisă acolo. Adresa actuală a fost anunțată.
flash-email-changed = Adresa de email este schimbată.
flash-session-ended = Acea sesiune este deconectată.
flash-signed-out-everywhere = Sunteți deconectat de peste tot.
flash-locale-changed = Limba este salvată.
field-wrong-password = Parola actuală nu este corectă.
field-same-email = Aceasta este deja adresa dumneavoastră.
error-email-in-use = Această adresă are deja un cont, deci nu poate fi folosită pentru al dumneavoastră. Nu s-a schimbat nimic.

## Error codes whose message is their own (src/http_error.rs, code_key)
error-insecure-destination = Această adresă folosește http simplu către un server public. Folosiți o adresă https:// (http simplu ajunge doar la adrese din rețeaua proprie, când serverul permite destinații private).
error-private-destination = Această adresă este într-o rețea locală sau privată, iar acest server nu trimite acolo. Folosiți o adresă publică https:// sau porniți serverul cu PORTICO_WEBHOOKS_ALLOW_PRIVATE=true.
error-not-finished = Această livrare este încă în curs. Retrimiteți-o după ce a reușit sau a eșuat.
error-status-changed = Starea calității de membru s-a schimbat între timp. Reîncărcați pagina și decideți din nou.
error-price-taken = Această organizație are deja un plan cu acest preț Stripe. Folosiți planul existent sau alt preț.
error-account-exists = Există deja un cont cu această adresă. Autentificați-vă sau resetați-i parola dacă ați uitat-o.
error-link-in-use = Acest link este folosit chiar acum în altă fereastră. Așteptați puțin, apoi deschideți-l din nou.
error-account-changed = Contul s-a schimbat cât timp pagina a fost deschisă. Verificați pagina și trimiteți-o din nou.
error-nothing-to-pay = Nu este nimic de plătit acum pentru această calitate de membru.
error-no-customer = Această calitate de membru nu are încă un cont de facturare. Plătiți o dată pentru a-l crea.
error-unauthorized = Este nevoie de un token API valid: trimiteți-l ca "Authorization: Bearer TOKEN" (portico token create).
error-unsupported-media-type = Trimiteți corpul cererii ca JSON, cu "Content-Type: application/json".
error-malformed-json = Corpul cererii nu este JSON valid. Verificați-i sintaxa.
error-invalid-request = Cererea este greșit formată: verificați adresa, parametrii și corpul față de /api/openapi.json.
error-request-timeout = Cererea a sosit prea încet, așa că nu a fost citită. Vă rugăm să o trimiteți din nou.
error-bad-request = Browserul a trimis o cerere pe care acest server nu o poate citi. Reveniți și încercați din nou.
field-invalid-event-types = Alegeți cel puțin unul dintre tipurile de evenimente din listă (cel mult 20).
field-invalid-url = Introduceți o adresă http:// sau https:// cu un nume de gazdă sau o adresă IPv4, un port opțional și o cale doar din litere, cifre și ._~/?=&%-.
field-invalid-authorisation-name = Denumiți autorizarea cu litere, cifre, spații, -, _ sau . (cel mult 60), începând cu o literă sau o cifră; fără bare oblice.
