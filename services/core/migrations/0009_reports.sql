-- 0009: the monthly briefing (SPEC §9).
-- Adoption targets per unit, entered by an operator (`pulse units set-target`); the report lists units under them.
CREATE TABLE unit_targets (
    unit_set        text NOT NULL,
    unit_code       text NOT NULL,
    adoption_target double precision NOT NULL CHECK (adoption_target >= 0 AND adoption_target <= 1),
    note            text NOT NULL DEFAULT '',
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_set, unit_code),
    FOREIGN KEY (unit_set, unit_code) REFERENCES units (unit_set, code)
);

-- Reports issued (by the monthly schedule, or on request with --keep): the figures as they were read, so a
-- briefing can be re-issued with the same numbers, and the file that was sent.
CREATE TABLE reports (
    report_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    month           date NOT NULL,
    unit_set        text NOT NULL,
    lang            text NOT NULL CHECK (lang IN ('vi', 'en')),
    issued_at       timestamptz NOT NULL DEFAULT now(),
    scheduled       boolean NOT NULL DEFAULT false,
    figures         jsonb NOT NULL
);
CREATE UNIQUE INDEX reports_one_scheduled ON reports (month, unit_set, lang) WHERE scheduled;
CREATE INDEX reports_month ON reports (month DESC, issued_at DESC);

-- Channels that also receive the monthly report (e-mail: the files attached; others: a link to the dashboard).
ALTER TABLE channels ADD COLUMN wants_reports boolean NOT NULL DEFAULT false;
ALTER TABLE notifications DROP CONSTRAINT notifications_event_check;
ALTER TABLE notifications ADD CONSTRAINT notifications_event_check
    CHECK (event IN ('opened', 'reminder', 'resolved', 'flapping', 'report'));
