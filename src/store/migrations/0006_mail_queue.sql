-- 0006: the outgoing mail queue.  A message is enqueued in the transaction of the business
-- change that causes it; a sender claims due messages (locked_until keeps two front ends from
-- sending one message twice), delivers them (maildir or SMTP) and marks them sent, or
-- schedules the next attempt with backoff, or gives up (failed) after the maximum age.
-- The message text of a sent mail is cleared: it may carry a one-time link.

CREATE TABLE mail_queue (
	id {{ID}},
	sender TEXT NOT NULL,
	recipient TEXT NOT NULL,
	message TEXT NOT NULL,
	status TEXT NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
	attempts {{INT}} NOT NULL DEFAULT 0,
	next_attempt {{INT}} NOT NULL,
	locked_until {{INT}},
	last_error TEXT,
	created {{INT}} NOT NULL,
	done_at {{INT}}
);
CREATE INDEX mail_queue_due ON mail_queue (status, next_attempt);
