"""The ledger's schema, as numbered migrations applied in order at start.

A migration is never edited once released: a change is a new, higher-numbered migration.
``schema_version`` holds the highest one applied; each is applied in its own transaction.
"""

from __future__ import annotations

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE files (
            id           TEXT PRIMARY KEY,
            company      TEXT NOT NULL,
            user         TEXT NOT NULL DEFAULT '',
            name         TEXT NOT NULL,
            sandbox      INTEGER NOT NULL,
            sha256       TEXT NOT NULL,
            size         INTEGER NOT NULL,
            received_at  TEXT NOT NULL,
            spool_path   TEXT NOT NULL,
            state        TEXT NOT NULL,
            format       TEXT,
            dialect      TEXT,
            outcome      TEXT,
            duplicate_of TEXT REFERENCES files(id),
            country      TEXT,
            period       TEXT,
            counts       TEXT NOT NULL DEFAULT '{}',
            updated_at   TEXT NOT NULL
        );
        CREATE INDEX files_by_hash ON files(company, sandbox, sha256);
        CREATE INDEX files_by_state ON files(state);

        CREATE TABLE file_events (
            file_id    TEXT NOT NULL REFERENCES files(id),
            seq        INTEGER NOT NULL,
            at         TEXT NOT NULL,
            from_state TEXT,
            to_state   TEXT NOT NULL,
            detail     TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (file_id, seq)
        );

        CREATE TABLE findings (
            file_id     TEXT NOT NULL REFERENCES files(id),
            seq         INTEGER NOT NULL,
            code        TEXT NOT NULL,
            severity    TEXT NOT NULL,
            scope       TEXT NOT NULL,
            line        INTEGER,
            record_type TEXT,
            field       TEXT,
            col_start   INTEGER,
            col_end     INTEGER,
            message     TEXT NOT NULL,
            PRIMARY KEY (file_id, seq)
        );

        CREATE TABLE ledger (
            id             INTEGER PRIMARY KEY,
            file_id        TEXT NOT NULL REFERENCES files(id),
            line           INTEGER,
            record_type    TEXT NOT NULL,
            country        TEXT NOT NULL,
            period         TEXT,
            airline_prefix TEXT NOT NULL,
            awb_serial     TEXT NOT NULL,
            agent_code     TEXT NOT NULL DEFAULT '',
            reference      TEXT NOT NULL DEFAULT '',
            currency       TEXT NOT NULL DEFAULT '',
            late           INTEGER NOT NULL DEFAULT 0,
            payload_format TEXT NOT NULL,
            payload        TEXT NOT NULL,
            withdrawn      INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX ledger_by_file ON ledger(file_id);
        CREATE INDEX ledger_by_period ON ledger(country, period, agent_code);
        CREATE INDEX ledger_by_awb ON ledger(country, airline_prefix, awb_serial);

        CREATE TABLE staging (
            file_id        TEXT NOT NULL,
            line           INTEGER,
            record_type    TEXT NOT NULL,
            country        TEXT NOT NULL,
            period         TEXT,
            airline_prefix TEXT NOT NULL,
            awb_serial     TEXT NOT NULL,
            agent_code     TEXT NOT NULL DEFAULT '',
            reference      TEXT NOT NULL DEFAULT '',
            currency       TEXT NOT NULL DEFAULT '',
            late           INTEGER NOT NULL DEFAULT 0,
            payload_format TEXT NOT NULL,
            payload        TEXT NOT NULL
        );
        CREATE INDEX staging_by_file ON staging(file_id);

        CREATE TABLE audit (
            seq     INTEGER PRIMARY KEY,
            at      TEXT NOT NULL,
            event   TEXT NOT NULL,
            company TEXT,
            user    TEXT,
            session TEXT,
            file_id TEXT,
            data    TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TRIGGER audit_append_only_update BEFORE UPDATE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        CREATE TRIGGER audit_append_only_delete BEFORE DELETE ON audit
            BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
        """,
    ),
    (
        2,
        """
        CREATE TABLE closes (
            country      TEXT NOT NULL,
            period       TEXT NOT NULL,
            kind         TEXT NOT NULL,
            reference    TEXT NOT NULL,
            started_at   TEXT,
            completed_at TEXT,
            documents    INTEGER,
            PRIMARY KEY (country, period, kind)
        );
        """,
    ),
    (
        3,
        """
        CREATE TABLE events (
            id             INTEGER PRIMARY KEY,
            key            TEXT NOT NULL UNIQUE,
            at             TEXT NOT NULL,
            type           TEXT NOT NULL,
            company        TEXT,
            country        TEXT,
            period         TEXT,
            airline_prefix TEXT,
            agent_code     TEXT,
            object_kind    TEXT,
            object_ref     TEXT,
            document       TEXT,
            summary        TEXT NOT NULL,
            data           TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX events_by_company ON events(company, id);
        """,
    ),
    # Reserved, one per piece of work in progress; each becomes its real schema when it lands.
    (4, "-- booking rules and withdrawals"),
    (5, "-- disputes"),
    (6, "-- remittance"),
    (7, "-- outbox: subscriptions, deliveries, downloads"),
    (8, "-- reports and invoices"),
    (9, "-- calendar publication"),
)

LATEST = MIGRATIONS[-1][0]
