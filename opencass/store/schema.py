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
    (
        4,
        """
        CREATE TABLE withdrawals (
            file_id    TEXT PRIMARY KEY REFERENCES files(id),
            request_id TEXT NOT NULL REFERENCES files(id),
            company    TEXT NOT NULL,
            user       TEXT NOT NULL DEFAULT '',
            at         TEXT NOT NULL,
            country    TEXT,
            period     TEXT,
            records    INTEGER NOT NULL,
            reason     TEXT NOT NULL DEFAULT ''
        );
        """,
    ),
    (
        5,
        """
        CREATE TABLE disputes (
            id               TEXT PRIMARY KEY,
            request_iri      TEXT NOT NULL,
            kind             TEXT NOT NULL,
            file_id          TEXT NOT NULL,
            country          TEXT NOT NULL,
            period           TEXT NOT NULL,
            airline_prefix   TEXT NOT NULL,
            awb_serial       TEXT NOT NULL,
            agent_code       TEXT NOT NULL,
            agent_company    TEXT NOT NULL,
            airline_company  TEXT NOT NULL,
            currency         TEXT NOT NULL,
            billed_amount    TEXT NOT NULL,
            claimed_amount   TEXT,
            disputed_amount  TEXT NOT NULL,
            corrected_amount TEXT,
            reason           TEXT NOT NULL,
            comment          TEXT NOT NULL DEFAULT '',
            status           TEXT NOT NULL,
            escalated        INTEGER NOT NULL DEFAULT 0,
            opened_at        TEXT NOT NULL,
            answered_at      TEXT,
            adjust_period    TEXT,
            updated_at       TEXT NOT NULL
        );
        CREATE UNIQUE INDEX disputes_by_iri ON disputes(request_iri);
        CREATE INDEX disputes_by_period ON disputes(country, period, status);
        CREATE INDEX disputes_by_adjustment ON disputes(country, adjust_period, status);
        CREATE INDEX disputes_by_awb ON disputes(country, airline_prefix, awb_serial);

        CREATE TABLE dispute_events (
            dispute_id  TEXT NOT NULL REFERENCES disputes(id),
            seq         INTEGER NOT NULL,
            at          TEXT NOT NULL,
            company     TEXT NOT NULL,
            user        TEXT NOT NULL DEFAULT '',
            file_id     TEXT,
            action      TEXT NOT NULL,
            from_status TEXT,
            to_status   TEXT NOT NULL,
            why         TEXT NOT NULL DEFAULT '',
            detail      TEXT NOT NULL DEFAULT '{}',
            PRIMARY KEY (dispute_id, seq)
        );
        CREATE TRIGGER dispute_events_append_only_update BEFORE UPDATE ON dispute_events
            BEGIN SELECT RAISE(ABORT, 'dispute history is append-only'); END;
        CREATE TRIGGER dispute_events_append_only_delete BEFORE DELETE ON dispute_events
            BEGIN SELECT RAISE(ABORT, 'dispute history is append-only'); END;
        """,
    ),
    (
        6,
        """
        CREATE TABLE remittance_expected (
            country    TEXT NOT NULL,
            period     TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            currency   TEXT NOT NULL,
            amount     TEXT NOT NULL,
            due        TEXT NOT NULL,
            withheld   TEXT,
            checked_at TEXT,
            PRIMARY KEY (country, period, agent_code)
        );

        CREATE TABLE payments (
            id             INTEGER PRIMARY KEY,
            key            TEXT NOT NULL UNIQUE,
            source         TEXT NOT NULL,
            file_id        TEXT,
            country        TEXT,
            period         TEXT,
            agent_code     TEXT,
            amount         TEXT NOT NULL,
            currency       TEXT NOT NULL,
            value_date     TEXT NOT NULL,
            booking_date   TEXT,
            reference      TEXT NOT NULL DEFAULT '',
            debtor         TEXT NOT NULL DEFAULT '',
            debtor_account TEXT NOT NULL DEFAULT '',
            account        TEXT NOT NULL DEFAULT '',
            matched_by     TEXT NOT NULL,
            recorded_at    TEXT NOT NULL,
            recorded_by    TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX payments_by_agent ON payments(country, agent_code, period);

        CREATE TABLE irregularities (
            country     TEXT NOT NULL,
            period      TEXT NOT NULL,
            agent_code  TEXT NOT NULL,
            kind        TEXT NOT NULL,
            on_day      TEXT NOT NULL,
            expected    TEXT NOT NULL,
            required    TEXT NOT NULL,
            paid        TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            PRIMARY KEY (country, period, agent_code)
        );
        CREATE INDEX irregularities_by_agent ON irregularities(country, agent_code, on_day);

        CREATE TABLE agent_defaults (
            country     TEXT NOT NULL,
            agent_code  TEXT NOT NULL,
            since       TEXT NOT NULL,
            reason      TEXT NOT NULL,
            period      TEXT NOT NULL,
            recorded_at TEXT NOT NULL,
            cleared_at  TEXT,
            PRIMARY KEY (country, agent_code, since)
        );
        """,
    ),
    (
        7,
        """
        CREATE TABLE outbox_cursor (
            name     TEXT PRIMARY KEY,
            event_id INTEGER NOT NULL
        );

        CREATE TABLE deliveries (
            id           INTEGER PRIMARY KEY,
            event_id     INTEGER NOT NULL REFERENCES events(id),
            company      TEXT NOT NULL,
            channel      TEXT NOT NULL,
            kind         TEXT NOT NULL,
            name         TEXT NOT NULL,
            source       TEXT NOT NULL DEFAULT '',
            state        TEXT NOT NULL DEFAULT 'pending',
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_at      TEXT NOT NULL,
            last_error   TEXT,
            created_at   TEXT NOT NULL,
            delivered_at TEXT,
            UNIQUE (event_id, company, channel, name)
        );
        CREATE INDEX deliveries_by_lane ON deliveries(company, channel, state, id);
        CREATE INDEX deliveries_by_state ON deliveries(state, next_at);
        CREATE INDEX deliveries_by_name ON deliveries(company, name);

        CREATE TABLE downloads (
            company  TEXT NOT NULL,
            path     TEXT NOT NULL,
            user     TEXT NOT NULL,
            first_at TEXT NOT NULL,
            size     INTEGER,
            PRIMARY KEY (company, path, user)
        );
        """,
    ),
    (
        8,
        """
        CREATE TABLE invoice_counters (
            issuer  TEXT NOT NULL,
            country TEXT NOT NULL,
            year    INTEGER NOT NULL,
            last    INTEGER NOT NULL,
            PRIMARY KEY (issuer, country, year)
        );

        CREATE TABLE invoices (
            number     TEXT NOT NULL,
            issuer     TEXT NOT NULL,
            country    TEXT NOT NULL,
            year       INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            period     TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            company    TEXT NOT NULL,
            kind       TEXT NOT NULL,
            issued_at  TEXT NOT NULL,
            currency   TEXT NOT NULL,
            total      TEXT NOT NULL,
            data_hash  TEXT NOT NULL,
            PRIMARY KEY (issuer, country, year, seq),
            UNIQUE (issuer, country, period, agent_code),
            UNIQUE (issuer, number)
        );
        CREATE TRIGGER invoices_append_only_update BEFORE UPDATE ON invoices
            BEGIN SELECT RAISE(ABORT, 'an issued invoice never changes'); END;
        CREATE TRIGGER invoices_append_only_delete BEFORE DELETE ON invoices
            BEGIN SELECT RAISE(ABORT, 'an issued invoice is never deleted'); END;
        """,
    ),
    (
        9,
        """
        CREATE TABLE calendar_milestones (
            country    TEXT NOT NULL,
            period     TEXT NOT NULL,
            milestone  TEXT NOT NULL,
            value      TEXT NOT NULL,
            sequence   INTEGER NOT NULL,
            changed_at TEXT NOT NULL,
            PRIMARY KEY (country, period, milestone)
        );

        CREATE TABLE calendar_publications (
            company      TEXT NOT NULL,
            country      TEXT NOT NULL,
            year         INTEGER NOT NULL,
            sha256       TEXT NOT NULL,
            files        TEXT NOT NULL,
            published_at TEXT NOT NULL,
            PRIMARY KEY (company, country, year)
        );
        """,
    ),
    (
        10,
        """
        -- Users managed in the store (self-service, migration, the operator's commands): the
        -- current state of each; a user only in the participant files has no row here.
        CREATE TABLE users (
            name       TEXT PRIMARY KEY,
            company    TEXT NOT NULL,
            roles      TEXT NOT NULL,             -- JSON list
            keys       TEXT NOT NULL DEFAULT '[]', -- JSON list of OpenSSH public key lines
            status     TEXT NOT NULL,             -- active, suspended, removed
            source     TEXT NOT NULL,             -- self-service, migration, operator
            full_name  TEXT NOT NULL DEFAULT '',
            email      TEXT NOT NULL DEFAULT '',
            file_sha   TEXT,                      -- the file entry when the store took it over
            legacy_id  TEXT,                      -- the old system's user id (migration)
            changed_at TEXT NOT NULL,
            changed_by TEXT NOT NULL
        );
        CREATE INDEX users_by_company ON users(company);

        -- Access to another company's mailbox: effective once both companies agreed.
        CREATE TABLE user_access (
            user       TEXT NOT NULL,
            company    TEXT NOT NULL,
            roles      TEXT NOT NULL DEFAULT '[]', -- JSON list, given by the host company
            host_by    TEXT NOT NULL DEFAULT '',   -- who agreed for the host company
            home_by    TEXT NOT NULL DEFAULT '',   -- who agreed for the user's own company
            changed_at TEXT NOT NULL,
            PRIMARY KEY (user, company)
        );

        -- Every user change, append-only: who, when, through what, and what.
        CREATE TABLE user_changes (
            seq        INTEGER PRIMARY KEY,
            at         TEXT NOT NULL,
            actor      TEXT NOT NULL,
            actor_company TEXT NOT NULL,
            via        TEXT NOT NULL,              -- a file id, "cli" or "migration:<file>"
            action     TEXT NOT NULL,
            user       TEXT NOT NULL,
            company    TEXT NOT NULL,
            detail     TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TRIGGER user_changes_append_only_update BEFORE UPDATE ON user_changes
            BEGIN SELECT RAISE(ABORT, 'user changes are append-only'); END;
        CREATE TRIGGER user_changes_append_only_delete BEFORE DELETE ON user_changes
            BEGIN SELECT RAISE(ABORT, 'user changes are append-only'); END;

        CREATE INDEX audit_by_event_user ON audit(event, user);
        """,
    ),
    (
        11,
        """
        -- A payment file given to the bank: a direct debit collection after a final close, or
        -- the payout to the airlines at Settlement Day; kept with every line so that the file
        -- can be written again byte for byte.
        CREATE TABLE payment_runs (
            country    TEXT NOT NULL,
            period     TEXT NOT NULL,
            kind       TEXT NOT NULL,              -- collection, payout
            version    TEXT NOT NULL,              -- pain.008.001.02 ...
            msg_id     TEXT NOT NULL,
            created_at TEXT NOT NULL,
            due        TEXT NOT NULL,              -- collection or execution date
            account    TEXT NOT NULL,              -- JSON: the CASS office's party
            creditor_id TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (country, period, kind)
        );
        CREATE TABLE payment_run_lines (
            country    TEXT NOT NULL,
            period     TEXT NOT NULL,
            kind       TEXT NOT NULL,
            seq        INTEGER NOT NULL,
            party      TEXT NOT NULL,              -- agent code or airline prefix
            amount     TEXT NOT NULL,
            detail     TEXT NOT NULL,              -- JSON: the line as written
            PRIMARY KEY (country, period, kind, seq)
        );
        CREATE TRIGGER payment_run_lines_append_only BEFORE UPDATE ON payment_run_lines
            BEGIN SELECT RAISE(ABORT, 'a payment file is never changed'); END;

        -- What the CASS office paid out to an airline and then got back (a return, a
        -- reversal): taken from the airline's next payouts, never below zero.
        CREATE TABLE payout_claims (
            id         INTEGER PRIMARY KEY,
            country    TEXT NOT NULL,
            airline_prefix TEXT NOT NULL,
            amount     TEXT NOT NULL,
            reason     TEXT NOT NULL,
            payment_id INTEGER,
            created_at TEXT NOT NULL
        );
        CREATE TABLE payout_claim_uses (
            claim_id   INTEGER NOT NULL REFERENCES payout_claims(id),
            period     TEXT NOT NULL,
            amount     TEXT NOT NULL,
            PRIMARY KEY (claim_id, period)
        );

        -- What each agent owes each airline for a final close (the statement's subtotals):
        -- the key to sharing out what an agent paid among its airlines.
        CREATE TABLE remittance_lines (
            country    TEXT NOT NULL,
            period     TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            airline_prefix TEXT NOT NULL,
            amount     TEXT NOT NULL,
            PRIMARY KEY (country, period, agent_code, airline_prefix)
        );

        ALTER TABLE payments ADD COLUMN reverses INTEGER REFERENCES payments(id);
        ALTER TABLE agent_defaults ADD COLUMN cleared_by TEXT;
        ALTER TABLE agent_defaults ADD COLUMN cleared_reason TEXT;

        CREATE TABLE risk_reviews (
            id         INTEGER PRIMARY KEY,
            country    TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            result     TEXT NOT NULL,              -- pass, fail
            reviewed_on TEXT NOT NULL,
            note       TEXT NOT NULL DEFAULT '',
            recorded_at TEXT NOT NULL
        );
        -- A financial security recorded by the operator (over the participant file's).
        CREATE TABLE risk_securities (
            id         INTEGER PRIMARY KEY,
            country    TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            kind       TEXT NOT NULL,              -- guarantee, deposit, none
            amount     TEXT NOT NULL,
            currency   TEXT NOT NULL,
            expires    TEXT,
            recorded_at TEXT NOT NULL
        );
        CREATE TABLE risk_alerts (
            country    TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            period     TEXT NOT NULL,
            level      TEXT NOT NULL,              -- 50, 75, 100, security
            raised_at  TEXT NOT NULL,
            PRIMARY KEY (country, agent_code, period, level)
        );
        """,
    ),
    (
        12,
        """
        -- Corrections of issued invoices (issue 15): an issued invoice is never changed; a
        -- correction adds a cancelling document (role 'cancel': the original with the sign
        -- flipped, referring to it) and a new issue (role 'issue', revision + 1).  The
        -- content of each document is kept so that a later correction can cancel it.
        CREATE TABLE invoices_v12 (
            number     TEXT NOT NULL,
            issuer     TEXT NOT NULL,
            country    TEXT NOT NULL,
            year       INTEGER NOT NULL,
            seq        INTEGER NOT NULL,
            series     TEXT NOT NULL DEFAULT '',   -- '' the invoices' sequence, 'C' credit notes'
            period     TEXT NOT NULL,
            agent_code TEXT NOT NULL,
            company    TEXT NOT NULL,
            kind       TEXT NOT NULL,              -- invoice, credit_note
            issued_at  TEXT NOT NULL,
            currency   TEXT NOT NULL,
            total      TEXT NOT NULL,
            data_hash  TEXT NOT NULL,
            revision   INTEGER NOT NULL DEFAULT 0,
            role       TEXT NOT NULL DEFAULT 'issue',  -- issue, cancel
            corrects   TEXT NOT NULL DEFAULT '',   -- the number this one cancels or replaces
            content    TEXT NOT NULL DEFAULT '',   -- the money as JSON (to cancel it later)
            PRIMARY KEY (issuer, country, year, series, seq),
            UNIQUE (issuer, country, period, agent_code, revision, role),
            UNIQUE (issuer, number)
        );
        INSERT INTO invoices_v12 (number, issuer, country, year, seq, period, agent_code,
            company, kind, issued_at, currency, total, data_hash)
            SELECT number, issuer, country, year, seq, period, agent_code, company, kind,
                   issued_at, currency, total, data_hash FROM invoices;
        DROP TABLE invoices;
        ALTER TABLE invoices_v12 RENAME TO invoices;
        CREATE TRIGGER invoices_append_only_update BEFORE UPDATE ON invoices
            BEGIN SELECT RAISE(ABORT, 'an issued invoice never changes'); END;
        CREATE TRIGGER invoices_append_only_delete BEFORE DELETE ON invoices
            BEGIN SELECT RAISE(ABORT, 'an issued invoice is never deleted'); END;
        CREATE TABLE invoice_series (
            issuer  TEXT NOT NULL,
            country TEXT NOT NULL,
            year    INTEGER NOT NULL,
            series  TEXT NOT NULL,
            last    INTEGER NOT NULL,
            PRIMARY KEY (issuer, country, year, series)
        );
        INSERT INTO invoice_series (issuer, country, year, series, last)
            SELECT issuer, country, year, '', last FROM invoice_counters;
        DROP TABLE invoice_counters;
        """,
    ),
    (
        13,
        """
        -- What a period's status counts (records and files) read from the index alone, in
        -- file order: no table row is visited (issue 18, period status at 1.2M rows).
        CREATE INDEX ledger_by_period_file ON ledger(country, period, file_id, withdrawn);
        """,
    ),
    (
        14,
        """
        -- Several gateway nodes on one store (issue 19): each node's heartbeat, and the leases
        -- a node holds (a file being processed, the outbox, a close's lock), renewed by its
        -- heartbeat; times are seconds since the epoch on the nodes' (synchronised) clocks.
        CREATE TABLE nodes (
            node         TEXT PRIMARY KEY,
            host         TEXT NOT NULL,
            pid          INTEGER NOT NULL,
            listen       TEXT NOT NULL,
            version      TEXT NOT NULL,
            config       TEXT NOT NULL,
            started_at   REAL NOT NULL,
            heartbeat_at REAL NOT NULL,
            stopped_at   REAL
        );
        CREATE TABLE leases (
            name     TEXT PRIMARY KEY,
            node     TEXT NOT NULL,
            taken_at REAL NOT NULL,
            expires  REAL NOT NULL,
            holder   TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX leases_by_node ON leases(node);
        """,
    ),
    (
        15,
        """
        -- The participant portal (issue 20).  Each agent's last risk assessment (written by
        -- every risk check, read by the agent's dashboard), and what a company's
        -- administrators set for themselves: their own subscription rules and push server
        -- (JSON, as the participant file's [[subscriptions]] and [push] tables read), over the
        -- participant file's.  Every change is also a user change record (audited).
        CREATE TABLE risk_positions (
            country     TEXT NOT NULL,
            agent_code  TEXT NOT NULL,
            company     TEXT NOT NULL,
            status      TEXT NOT NULL,
            capacity    TEXT NOT NULL,
            exposure    TEXT NOT NULL,
            unpaid      TEXT NOT NULL,
            booked      TEXT NOT NULL,
            assessed_at TEXT NOT NULL,
            PRIMARY KEY (country, agent_code)
        );
        CREATE TABLE company_settings (
            company       TEXT PRIMARY KEY,
            use_defaults  INTEGER NOT NULL DEFAULT 1,
            subscriptions TEXT NOT NULL DEFAULT '[]',
            push          TEXT,
            changed_at    TEXT NOT NULL,
            changed_by    TEXT NOT NULL
        );
        """,
    ),
)

LATEST = MIGRATIONS[-1][0]
