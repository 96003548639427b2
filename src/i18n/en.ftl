# English, on request.
# Keys are the code's dotted keys with '.' written as '-'.

app-name = protocall

nav-skip = Skip to content
nav-desk = My desk
nav-manager = The desk now
nav-language = Language
nav-logout = Sign out
nav-signed_in_as = Signed in as { $name }

login-title = Sign in
login-username = SIP username
login-password = Password
login-submit = Sign in
login-hint = Use the same username and password as your softphone.
login-bad = Wrong username or password.
login-throttled = Too many wrong passwords. Wait a minute and try again.
login-form_expired = The sign-in form expired. Try again.

error-title = Something went wrong
error-forbidden-title = Forbidden
error-forbidden-manager = This page is for managers and admins only.
error-forbidden-not_yours = You may change only your own records.
error-csrf = The form expired or did not come from this page. Go back, reload and try again.
error-bad_form = The form was incomplete or invalid.
error-unavailable = This could not be done now; try again in a moment.
error-not_found = Not found.
error-back = Back to my desk

desk-title = My desk
desk-hello = Hello, { $name }

presence-title = Availability
presence-now = Now
presence-available = Available
presence-dnd = Do not disturb
presence-away = Away
presence-in_call = In a call

task-title = Task
task-none = No task running.
task-running = Running
task-since = since { $since } ({ $elapsed })
task-stop = Stop task
task-category = Category
task-description = Description (optional)
task-start = Start task
task-start_hint = Starting a task stops the running one.

contact-title = Log a contact
contact-channel = Channel
contact-start = Start
contact-end = End
contact-time_hint = dd/mm/yyyy hh:mm, or just hh:mm for today
contact-notes = Notes (optional)
contact-submit = Log contact

channel-chat = Chat
channel-email = E-mail
channel-meeting = Meeting
channel-phone = Phone
channel-other = Other

callbacks-title = My pending call-backs
callbacks-none = No call-back pending.
callbacks-due = Due
callbacks-caller = Caller
callbacks-reason = Reason
callbacks-action = Action
callbacks-done = Done
callbacks-overdue = overdue
callbacks-unknown_caller = withheld number

reason-busy = busy
reason-no_answer = no answer
reason-dnd = do not disturb
reason-away = away
reason-not_registered = phone offline
reason-in_call = in another call
reason-declined = declined

flash-presence = Availability updated.
flash-task_started = Task started.
flash-task_stopped = Task stopped.
flash-contact_logged = Contact logged.
flash-callback_done = Call-back marked done.
flash-not_running = No task was running.
flash-overlap = The time overlaps another of your records; check start and end.
flash-bad_time = Invalid date or time; use dd/mm/yyyy hh:mm (e.g. 24/11/2026 09:30).
flash-bad_span = The end must come after the start, within 24 hours.
flash-invalid = Invalid data; check the fields.
flash-unknown_category = Unknown category.

manager-title = The desk now
manager-people = Team
manager-consultant = Consultant
manager-state = State
manager-nobody = No active consultant.
manager-overdue = Overdue call-backs
manager-overdue_none = No call-back overdue.
manager-report = Weekly report
manager-report_last = Last week
manager-report_this = This week
manager-report_week = Week (yyyy-Www)
manager-report_open = Open report
manager-report_downloads = Download

duration-min = { $m } min
duration-h_min = { $h } h { $m } min

category-gin = GIN (incident management)
category-support-monitoring = Support monitoring
category-consulting-maintenance = Consulting maintenance
category-post-consulting = Post-consulting
category-conference = Conference
category-documentation = Documentation
category-review = Review
category-meeting = Meeting
category-video-recording = Video recording
category-knowledge-base = Knowledge base
category-bug-identification = Bug identification
category-request-delivery = Request delivery
category-ati = ATI
category-communicate-completion = Communicate completion
category-call-back = Call-back

lang-self = English

live-title = Call now
live-no_call = No call right now.
live-ringing_from = Ringing: { $who }
live-on_call_with = On a call with { $who }
live-running = Duration
live-waiting_for = Waiting for
live-provider = Provider
live-person = Person
live-number = Number
live-contract = Consulting contract
live-contract_yes = Yes, in force
live-contract_until = In force until { $date }
live-contract_no = No consulting contract
live-contract_unknown = Unknown number
live-protocols = Open protocols
live-no_protocols = No open protocol.
live-deadline = deadline
live-late = overdue
live-unknown = not identified
live-anonymous = withheld number
live-state_ringing = Phone ringing
live-state_offline = no phone connected
live-with = With
live-for = For
live-calls_title = Calls ringing and waiting
live-calls_none = No call waiting.
live-caller = Caller
live-waiting = Waiting
live-at_ura = At the IVR
live-ringing_at = Ringing for { $who }
live-service_level = Service level (last hour)
live-sl_target = (target { $target } %)
live-sl_offered = { $n } calls offered in the last hour.
live-sl_none = No call offered in the last hour.

manager-late_protocols = Protocols past their deadline
manager-late_protocols_none = No protocol past its deadline.
manager-protocol = Protocol
manager-provider = Provider
manager-deadline = Deadline
manager-owner = Owner
manager-no_owner = no owner

a11y-table = table
