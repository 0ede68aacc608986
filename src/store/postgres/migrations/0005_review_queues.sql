-- The review queues' rows: submitted (pre-review's) or pre-approved (the departments', before
-- the window check). Filled from the records already stored; from then on every write sets it.
ALTER TABLE submissions ADD COLUMN in_review boolean NOT NULL DEFAULT false;
UPDATE submissions SET in_review = body->>'status' IN ('submitted', 'pre_approved');
CREATE INDEX submissions_in_review ON submissions (created_at, id) WHERE in_review;
