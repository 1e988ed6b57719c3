"""Versioned schema migrations. Append new ones; never edit one that has shipped."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "facts: events, orders, products, identities, consents, interests, weather, quarantine",
        """
        CREATE TABLE imports (
            import_id    VARCHAR PRIMARY KEY,
            kind         VARCHAR NOT NULL,
            source       VARCHAR NOT NULL,
            file_sha256  VARCHAR,
            started_at   TIMESTAMPTZ NOT NULL,
            finished_at  TIMESTAMPTZ,
            rows_read    BIGINT,
            accepted     BIGINT,
            duplicates   BIGINT,
            rejected     BIGINT
        );
        CREATE TABLE events (
            message_id   VARCHAR PRIMARY KEY,
            type         VARCHAR NOT NULL,
            name         VARCHAR,
            anonymous_id VARCHAR,
            user_id      VARCHAR,
            previous_id  VARCHAR,
            session_id   VARCHAR,
            event_time   TIMESTAMPTZ NOT NULL,
            client_time  TIMESTAMPTZ,
            sent_at      TIMESTAMPTZ,
            received_at  TIMESTAMPTZ NOT NULL,
            time_flag    VARCHAR,
            device_type  VARCHAR,
            os           VARCHAR,
            channel      VARCHAR,
            region       VARCHAR,
            city         VARCHAR,
            locale       VARCHAR,
            page_url     VARCHAR,
            referrer     VARCHAR,
            utm_source   VARCHAR,
            utm_medium   VARCHAR,
            utm_campaign VARCHAR,
            utm_term     VARCHAR,
            utm_content  VARCHAR,
            product_id   VARCHAR,
            category     VARCHAR,
            query        VARCHAR,
            quantity     INTEGER,
            price        DOUBLE,
            order_id     VARCHAR,
            revenue      DOUBLE,
            currency     VARCHAR,
            banner_id    VARCHAR,
            campaign_id  VARCHAR,
            properties   JSON,
            email_hash   VARCHAR,
            phone_hash   VARCHAR,
            source       VARCHAR NOT NULL,
            CHECK (anonymous_id IS NOT NULL OR user_id IS NOT NULL)
        );
        CREATE TABLE orders (
            order_id     VARCHAR PRIMARY KEY,
            ordered_at   TIMESTAMPTZ NOT NULL,
            customer_id  VARCHAR,
            anonymous_id VARCHAR,
            email_hash   VARCHAR,
            phone_hash   VARCHAR,
            currency     VARCHAR NOT NULL,
            country      VARCHAR,
            region       VARCHAR,
            channel      VARCHAR,
            device_type  VARCHAR,
            is_return    BOOLEAN NOT NULL DEFAULT false,
            source       VARCHAR NOT NULL
        );
        CREATE TABLE order_lines (
            line_key     VARCHAR PRIMARY KEY,
            order_id     VARCHAR NOT NULL,
            line_no      INTEGER,
            product_id   VARCHAR NOT NULL,
            description  VARCHAR,
            quantity     BIGINT NOT NULL,
            unit_price   DOUBLE NOT NULL,
            is_return    BOOLEAN NOT NULL DEFAULT false,
            is_product   BOOLEAN NOT NULL DEFAULT true
        );
        CREATE TABLE products (
            product_id   VARCHAR PRIMARY KEY,
            name         VARCHAR,
            category     VARCHAR,
            brand        VARCHAR,
            price        DOUBLE CHECK (price IS NULL OR price >= 0),
            currency     VARCHAR,
            colour       VARCHAR,
            description  VARCHAR,
            stock        BIGINT,
            region       VARCHAR,
            is_product   BOOLEAN NOT NULL DEFAULT true,
            updated_at   TIMESTAMPTZ
        );
        CREATE TABLE identity_links (
            link_id      BIGINT PRIMARY KEY,
            a            VARCHAR NOT NULL,
            b            VARCHAR NOT NULL,
            reason       VARCHAR NOT NULL,
            merged       BOOLEAN NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL,
            undone_at    TIMESTAMPTZ
        );
        CREATE TABLE profiles (
            identifier   VARCHAR PRIMARY KEY,
            profile_id   VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL
        );
        CREATE TABLE consents (
            identifier   VARCHAR NOT NULL,
            channel      VARCHAR NOT NULL,
            purpose      VARCHAR NOT NULL,
            granted      BOOLEAN NOT NULL,
            recorded_at  TIMESTAMPTZ NOT NULL,
            source       VARCHAR NOT NULL
        );
        CREATE TABLE external_interests (
            identifier   VARCHAR NOT NULL,
            keyword      VARCHAR NOT NULL,
            topic        VARCHAR,
            weight       DOUBLE,
            observed_at  TIMESTAMPTZ,
            source       VARCHAR NOT NULL,
            PRIMARY KEY (identifier, keyword, source)
        );
        CREATE TABLE weather (
            region       VARCHAR NOT NULL,
            day          DATE NOT NULL,
            temp_c       DOUBLE,
            precip_mm    DOUBLE,
            PRIMARY KEY (region, day)
        );
        CREATE TABLE quarantine (
            import_id    VARCHAR,
            source       VARCHAR NOT NULL,
            file_sha256  VARCHAR,
            line_no      BIGINT,
            field        VARCHAR NOT NULL,
            reason       VARCHAR NOT NULL,
            raw          VARCHAR,
            quarantined_at TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        2,
        "derived results: scores, segment members, recommendations, job runs",
        """
        CREATE TABLE job_runs (
            run_id       VARCHAR PRIMARY KEY,
            job          VARCHAR NOT NULL,
            as_of        TIMESTAMPTZ NOT NULL,
            started_at   TIMESTAMPTZ NOT NULL,
            finished_at  TIMESTAMPTZ,
            status       VARCHAR NOT NULL
        );
        CREATE TABLE scores (
            run_id       VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            name         VARCHAR NOT NULL,
            value        DOUBLE,
            as_of        TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE segment_members (
            run_id       VARCHAR NOT NULL,
            segment      VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            as_of        TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE recommendations (
            run_id       VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            placement    VARCHAR,
            rank         INTEGER NOT NULL,
            product_id   VARCHAR NOT NULL,
            score        DOUBLE,
            reason       VARCHAR,
            algorithm    VARCHAR,
            as_of        TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        3,
        "views: order totals",
        """
        CREATE VIEW order_totals AS
        SELECT o.order_id, o.ordered_at, o.customer_id, o.currency, o.is_return,
               count(l.line_key) AS n_lines,
               coalesce(sum(l.quantity), 0) AS items,
               coalesce(sum(l.quantity * l.unit_price), 0) AS revenue
        FROM orders o LEFT JOIN order_lines l USING (order_id)
        GROUP BY ALL;
        """,
    ),
    Migration(
        4,
        "model cards of the supervised models (JSON), per job run",
        """
        CREATE TABLE model_cards (
            run_id       VARCHAR NOT NULL,
            name         VARCHAR NOT NULL,
            card         VARCHAR NOT NULL,
            as_of        TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, name)
        );
        """,
    ),
    Migration(
        5,
        "profile facts: what a job found about a profile that is not one number (taste, habits, drivers)",
        """
        CREATE TABLE profile_facts (
            run_id       VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL,
            facts        VARCHAR NOT NULL,
            as_of        TIMESTAMPTZ NOT NULL
        );
        """,
    ),
    Migration(
        6,
        "on-site decisions and their outcomes (shown, clicked, dismissed, converted)",
        """
        CREATE TABLE decisions (
            decision_id  VARCHAR PRIMARY KEY,
            decided_at   TIMESTAMPTZ NOT NULL,
            visitor      VARCHAR NOT NULL,
            user_id      VARCHAR,
            profile_id   VARCHAR,
            session_id   VARCHAR,
            placement    VARCHAR,
            trigger_id   VARCHAR NOT NULL,
            action       VARCHAR NOT NULL,
            page_type    VARCHAR,
            device_type  VARCHAR,
            region       VARCHAR
        );
        CREATE TABLE decision_outcomes (
            decision_id  VARCHAR NOT NULL,
            outcome      VARCHAR NOT NULL,
            outcome_at   TIMESTAMPTZ NOT NULL,
            order_id     VARCHAR,
            revenue      DOUBLE,
            PRIMARY KEY (decision_id, outcome)
        );
        """,
    ),
    Migration(
        7,
        "saved audiences: a rule over a job's scores and the profiles it held when saved",
        """
        CREATE TABLE audiences (
            audience_id  VARCHAR PRIMARY KEY,
            name         VARCHAR NOT NULL,
            definition   VARCHAR NOT NULL,
            run_id       VARCHAR,
            size         INTEGER NOT NULL,
            created_at   TIMESTAMPTZ NOT NULL
        );
        CREATE TABLE audience_members (
            audience_id  VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            PRIMARY KEY (audience_id, profile_id)
        );
        """,
    ),
    Migration(
        8,
        "erasures: that a customer's data was erased, when and how much, naming no one",
        """
        CREATE TABLE erasures (
            erasure_id   VARCHAR PRIMARY KEY,
            erased_at    TIMESTAMPTZ NOT NULL,
            token        VARCHAR NOT NULL,  -- HMAC of the profile id under the workspace's key
            counts       VARCHAR NOT NULL   -- JSON: rows deleted per table
        );
        """,
    ),
    Migration(
        9,
        "dashboard accounts (roles, scrypt password hashes) and their server-side sessions",
        """
        CREATE TABLE users (
            user_id       VARCHAR PRIMARY KEY,
            login         VARCHAR NOT NULL UNIQUE,
            display_name  VARCHAR NOT NULL,
            role          VARCHAR NOT NULL,
            password_hash VARCHAR NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL,
            disabled_at   TIMESTAMPTZ
        );
        CREATE TABLE dashboard_sessions (
            session_hash  VARCHAR PRIMARY KEY,
            user_id       VARCHAR NOT NULL,
            created_at    TIMESTAMPTZ NOT NULL,
            expires_at    TIMESTAMPTZ NOT NULL,
            last_seen     TIMESTAMPTZ NOT NULL,
            revoked_at    TIMESTAMPTZ
        );
        """,
    ),
    Migration(
        10,
        "orders a browser reported with the public write key are claims until a server confirms them",
        """
        ALTER TABLE orders ADD COLUMN verified BOOLEAN DEFAULT true;
        UPDATE orders SET verified = true WHERE verified IS NULL;
        CREATE OR REPLACE VIEW order_totals AS
        SELECT o.order_id, o.ordered_at, o.customer_id, o.currency, o.is_return,
               count(l.line_key) AS n_lines,
               coalesce(sum(l.quantity), 0) AS items,
               coalesce(sum(l.quantity * l.unit_price), 0) AS revenue
        FROM orders o LEFT JOIN order_lines l USING (order_id)
        WHERE o.verified
        GROUP BY ALL;
        """,
    ),
    Migration(
        11,
        "the server's job history: each full run, who asked for it, how it ended",
        """
        CREATE TABLE server_jobs (
            job_id       VARCHAR PRIMARY KEY,
            job          VARCHAR NOT NULL,
            trigger      VARCHAR NOT NULL,
            requested_at TIMESTAMPTZ NOT NULL,
            started_at   TIMESTAMPTZ,
            finished_at  TIMESTAMPTZ,
            status       VARCHAR NOT NULL,
            as_of        TIMESTAMPTZ,
            detail       VARCHAR
        );
        """,
    ),
    Migration(
        12,
        "visits per shop-local day (sessions, sessions with a verified order, visitors), per run",
        """
        CREATE TABLE visit_days (
            run_id       VARCHAR NOT NULL,
            day          DATE NOT NULL,
            sessions     BIGINT NOT NULL,
            converted    BIGINT NOT NULL,  -- sessions with a verified, placed order
            visitors     BIGINT NOT NULL,  -- distinct profiles that day
            as_of        TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (run_id, day)
        );
        """,
    ),
    Migration(
        13,
        "saved segments (a definition, names in Korean and English) and each member's stays in them; "
        "the saved audiences become saved segments",
        """
        CREATE TABLE segments (
            segment_id      VARCHAR PRIMARY KEY,
            name_ko         VARCHAR,
            name_en         VARCHAR,
            description_ko  VARCHAR,
            description_en  VARCHAR,
            definition      VARCHAR NOT NULL,  -- JSON (shopmind.segments.Definition)
            created_at      TIMESTAMPTZ NOT NULL,
            updated_at      TIMESTAMPTZ NOT NULL,
            materialized_at TIMESTAMPTZ         -- the moment the members were last counted as of
        );
        -- one row per stay: entered when a count first found them, exited when one no longer did
        CREATE TABLE segment_history (
            segment_id   VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            entered_at   TIMESTAMPTZ NOT NULL,
            exited_at    TIMESTAMPTZ,
            PRIMARY KEY (segment_id, profile_id, entered_at)
        );
        -- an audience was the profiles whose score lay in [low, high) (the top band: [low, 1]) in a run,
        -- saved under a name:
        -- the same rule as a definition, and its members as stays that began when it was saved
        INSERT INTO segments
        SELECT audience_id, name, name, NULL, NULL,
               CAST(json_object(
                   'name', json_object('ko', name, 'en', name),
                   'conditions', json_array(
                       json_object('kind', 'profile', 'field', definition->>'score', 'op', '>=',
                                   'value', CAST(definition->>'low' AS DOUBLE)),
                       json_object('kind', 'profile', 'field', definition->>'score',
                                   'op', CASE WHEN CAST(definition->>'high' AS DOUBLE) >= 1 THEN '<=' ELSE '<' END,
                                   'value', CAST(definition->>'high' AS DOUBLE)))) AS VARCHAR),
               created_at, created_at, created_at
        FROM audiences
        WHERE definition->>'score' IS NOT NULL AND definition->>'low' IS NOT NULL
          AND definition->>'high' IS NOT NULL;
        INSERT INTO segment_history
        SELECT m.audience_id, m.profile_id, a.created_at, NULL
        FROM audience_members m JOIN audiences a USING (audience_id)
        WHERE a.audience_id IN (SELECT segment_id FROM segments);
        DROP TABLE audience_members;
        DROP TABLE audiences;
        """,
    ),
    Migration(
        14,
        "the consent ledger (정보통신망법 §50): append-only entries per identifier, channel and purpose "
        "(with when, how and the text shown), the §50⑧ notices, and the current state derived from them",
        """
        CREATE SEQUENCE consent_batches START 1;
        CREATE TABLE consent_ledger (
            seq          BIGINT PRIMARY KEY,    -- batch * 2^20 + position (migrated rows: below 0): breaks ties
            entry_id     VARCHAR NOT NULL UNIQUE,  -- a re-sent entry is stored once
            identifier   VARCHAR NOT NULL,      -- user:…, anon:…, email:<hmac>, phone:<hmac>
            channel      VARCHAR NOT NULL,      -- email, sms, kakao, app_push, web_push
            purpose      VARCHAR NOT NULL,      -- advertising, night_advertising (21:00-08:00, §50③)
            granted      BOOLEAN NOT NULL,      -- given (true) or withdrawn (false)
            occurred_at  TIMESTAMPTZ NOT NULL,  -- when the customer did it
            recorded_at  TIMESTAMPTZ NOT NULL,  -- when shopmind stored it
            method       VARCHAR NOT NULL,      -- signup_form, checkout, reply_080, unsubscribe_link, import, api, tracker, admin
            text_version VARCHAR,               -- the version of the consent text the customer saw
            source       VARCHAR NOT NULL       -- who sent it: an import's id and file, a key's kind, a login
        );
        INSERT INTO consent_ledger
        SELECT (row_number() OVER (ORDER BY recorded_at, identifier, channel, purpose)) - 1125899906842624,
               'migrated:' || md5(concat_ws('|', identifier, channel, purpose, granted, recorded_at, source,
                   row_number() OVER (ORDER BY recorded_at, identifier, channel, purpose))),
               identifier,
               CASE channel WHEN 'push' THEN 'app_push' WHEN 'lms' THEN 'sms' WHEN 'mms' THEN 'sms' ELSE channel END,
               CASE WHEN purpose IN ('marketing', 'ads', 'advertising') THEN 'advertising' ELSE purpose END,
               granted, recorded_at, recorded_at,
               CASE WHEN source IN ('signup_form', 'checkout', 'reply_080', 'unsubscribe_link', 'import',
                   'api', 'tracker', 'admin') THEN source ELSE 'api' END,
               NULL, source
        FROM consents;
        DROP TABLE consents;
        CREATE TABLE consent_notices (
            notice_id    VARCHAR PRIMARY KEY,
            identifier   VARCHAR NOT NULL,      -- the customer, as for the ledger
            channel      VARCHAR NOT NULL,      -- how the notice went out
            sent_at      TIMESTAMPTZ NOT NULL,
            recorded_at  TIMESTAMPTZ NOT NULL,
            text_version VARCHAR,
            source       VARCHAR NOT NULL
        );
        -- the latest entry per customer (profile), channel and purpose: by when it happened, ties
        -- by the order shopmind stored them (an identifier without a profile row is its own customer)
        CREATE VIEW consent_current AS
        SELECT profile_id, channel, purpose,
               last.granted AS granted, last.occurred_at AS occurred_at, last.method AS method,
               last.text_version AS text_version, last.identifier AS identifier, last.seq AS seq
        FROM (
            SELECT coalesce(p.profile_id, l.identifier) AS profile_id, l.channel, l.purpose,
                   arg_max({'granted': l.granted, 'occurred_at': l.occurred_at, 'method': l.method,
                            'text_version': l.text_version, 'identifier': l.identifier, 'seq': l.seq},
                           (l.occurred_at, l.seq)) AS last
            FROM consent_ledger l LEFT JOIN profiles p ON p.identifier = l.identifier
            GROUP BY ALL
        );
        """,
    ),
    Migration(
        15,
        "audience exports: where webhooks go (with their signing secrets) and a log of what left, naming no one",
        """
        CREATE TABLE export_destinations (
            name         VARCHAR PRIMARY KEY,
            kind         VARCHAR NOT NULL,  -- webhook
            url          VARCHAR NOT NULL,
            secret       VARCHAR NOT NULL,  -- the HMAC-SHA256 signing secret the receiver also holds
            created_at   TIMESTAMPTZ NOT NULL,
            created_by   VARCHAR NOT NULL
        );
        CREATE TABLE export_log (
            export_id    VARCHAR PRIMARY KEY,
            started_at   TIMESTAMPTZ NOT NULL,
            finished_at  TIMESTAMPTZ,
            format       VARCHAR NOT NULL,  -- csv, parquet, google, meta, kakao, naver, webhook
            destination  VARCHAR NOT NULL,  -- a file, a download, or webhook:NAME
            audience     VARCHAR NOT NULL,  -- what was asked for (a score band, a segment), never ids
            members      BIGINT NOT NULL,   -- distinct customers that left
            rows_out     BIGINT NOT NULL,   -- rows (or webhook members) written
            members_digest VARCHAR,         -- keyed HMAC of the sorted profile ids (no id is stored)
            columns      VARCHAR NOT NULL,  -- JSON list
            detail       VARCHAR NOT NULL,  -- JSON: consent channels, counts left out and why
            actor        VARCHAR NOT NULL,  -- who ran it: cli:USER or api:KEY_ID
            status       VARCHAR NOT NULL   -- ok or failed
        );
        """,
    ),
    Migration(
        16,
        "campaigns: their definitions, members (treated or holdout), the outbox of messages and what customers did with them",
        """
        CREATE TABLE campaigns (
            campaign_id  VARCHAR PRIMARY KEY,
            name         VARCHAR NOT NULL UNIQUE,
            definition   VARCHAR NOT NULL,  -- JSON: audience, steps (templates), channel policy, schedule, caps, holdout
            state        VARCHAR NOT NULL,  -- draft, scheduled, running, paused, finished
            created_at   TIMESTAMPTZ NOT NULL,
            created_by   VARCHAR NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL
        );
        -- who a campaign is about: every audience member once, in the treated group or the holdout
        -- (assigned by a keyed hash of campaign and profile: reproducible), and where a journey has them
        CREATE TABLE campaign_members (
            campaign_id  VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            arm          VARCHAR NOT NULL,  -- treated or holdout
            entered_at   TIMESTAMPTZ NOT NULL,
            step         VARCHAR,           -- the journey step they are at (NULL: not started)
            step_at      TIMESTAMPTZ,       -- since when
            exited_at    TIMESTAMPTZ,
            exit_reason  VARCHAR,           -- purchased, finished, left_audience
            PRIMARY KEY (campaign_id, profile_id)
        );
        -- one row per message a campaign step means to send (or chose not to: suppressed, with the
        -- reason). No address is kept: the contact book gives it at hand-over.
        CREATE TABLE outbox (
            message_key  VARCHAR PRIMARY KEY,  -- the idempotency key: campaign x customer x step
            campaign_id  VARCHAR NOT NULL,
            step         VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            channel      VARCHAR NOT NULL,     -- the consent channel: email, sms, kakao, app_push, web_push
            format       VARCHAR NOT NULL,     -- email, sms, lms, mms, alimtalk, brand, app_push, web_push
            kind         VARCHAR NOT NULL,     -- advertising or informational
            state        VARCHAR NOT NULL,     -- queued, sending, sent, failed, suppressed, unknown
            due_at       TIMESTAMPTZ NOT NULL, -- when it may go (the best hour, moved out of the night)
            planned_at   TIMESTAMPTZ NOT NULL, -- when the plan wanted it before any move (why: reason)
            attempts     INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TIMESTAMPTZ,
            subject      VARCHAR,
            body_text    VARCHAR NOT NULL,
            body_html    VARCHAR,
            template_code VARCHAR,
            image_url    VARCHAR,
            links        VARCHAR,              -- JSON list of the tracked links' targets
            cost         DOUBLE NOT NULL DEFAULT 0,
            reason       VARCHAR,              -- why suppressed, deferred, failed or unknown
            provider_id  VARCHAR,
            resends      INTEGER NOT NULL DEFAULT 0, -- sent again after an unknown hand-over
            created_at   TIMESTAMPTZ NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL,
            sent_at      TIMESTAMPTZ
        );
        CREATE INDEX outbox_due ON outbox (state, due_at);
        CREATE INDEX outbox_profile ON outbox (profile_id);
        -- what happened to a message after it left: delivered, failed, opened, clicked,
        -- unsubscribed, converted (an order within the attribution window)
        CREATE TABLE message_events (
            event_id     VARCHAR PRIMARY KEY,  -- a provider's callback id, or derived: stored once
            message_key  VARCHAR NOT NULL,
            campaign_id  VARCHAR NOT NULL,
            step         VARCHAR NOT NULL,
            profile_id   VARCHAR NOT NULL,
            kind         VARCHAR NOT NULL,
            occurred_at  TIMESTAMPTZ NOT NULL,
            recorded_at  TIMESTAMPTZ NOT NULL,
            detail       VARCHAR               -- JSON: a clicked link's index, an order id and revenue
        );
        CREATE INDEX message_events_campaign ON message_events (campaign_id, kind);
        -- a browser's Web Push subscription, handed over by the tracker (an endpoint and keys, no address)
        CREATE TABLE push_subscriptions (
            endpoint     VARCHAR PRIMARY KEY,
            identifier   VARCHAR NOT NULL,     -- the customer, as for the consent ledger
            p256dh       VARCHAR NOT NULL,     -- the browser's public key (base64url)
            auth         VARCHAR NOT NULL,     -- the browser's auth secret (base64url)
            created_at   TIMESTAMPTZ NOT NULL,
            revoked_at   TIMESTAMPTZ
        );
        """,
    ),
    Migration(
        17,
        "push subscriptions of apps too: an app's device token (kind app, its platform) beside browsers' subscriptions",
        """
        ALTER TABLE push_subscriptions ADD COLUMN kind VARCHAR NOT NULL DEFAULT 'web';  -- web or app
        ALTER TABLE push_subscriptions ADD COLUMN platform VARCHAR;  -- an app's: android, ios
        -- an app's token has no browser keys
        ALTER TABLE push_subscriptions ALTER COLUMN p256dh DROP NOT NULL;
        ALTER TABLE push_subscriptions ALTER COLUMN auth DROP NOT NULL;
        """,
    ),
    Migration(
        18,
        "experiments: their definitions, each unit's first exposure (variant, propensity), the variant and context of on-site decisions and campaign messages, bandit states over time",
        """
        CREATE TABLE experiments (
            experiment_id VARCHAR PRIMARY KEY,
            name         VARCHAR NOT NULL,
            definition   VARCHAR NOT NULL,  -- JSON (experiments.experiment_json)
            state        VARCHAR NOT NULL,  -- draft, running, stopped
            winner       VARCHAR,           -- the bandit's switch, or the variant picked at stop
            created_at   TIMESTAMPTZ NOT NULL,
            created_by   VARCHAR NOT NULL,
            started_at   TIMESTAMPTZ,
            stopped_at   TIMESTAMPTZ,
            updated_at   TIMESTAMPTZ NOT NULL
        );
        -- a unit's first exposure to an experiment, once: its variant from then on
        CREATE TABLE exposures (
            experiment_id VARCHAR NOT NULL,
            unit_id      VARCHAR NOT NULL,  -- the profile id (or the identifier, before it has one)
            variant      VARCHAR NOT NULL,
            exposed_at   TIMESTAMPTZ NOT NULL,
            propensity   DOUBLE,            -- the chance the policy gave this variant then
            source       VARCHAR,           -- the decision id or the message key that exposed it
            PRIMARY KEY (experiment_id, unit_id)
        );
        CREATE INDEX exposures_at ON exposures (experiment_id, exposed_at);
        -- an on-site decision made inside an experiment: its variant, the chance the policy gave it
        -- (off-policy evaluation needs it) and the context a bandit saw (JSON)
        ALTER TABLE decisions ADD COLUMN experiment_id VARCHAR;
        ALTER TABLE decisions ADD COLUMN variant VARCHAR;
        ALTER TABLE decisions ADD COLUMN propensity DOUBLE;
        ALTER TABLE decisions ADD COLUMN context VARCHAR;
        ALTER TABLE outbox ADD COLUMN experiment_id VARCHAR;
        ALTER TABLE outbox ADD COLUMN variant VARCHAR;
        -- a bandit's state after each batch update (JSON: per variant its posterior and traffic share)
        CREATE TABLE bandit_states (
            experiment_id VARCHAR NOT NULL,
            updated_at   TIMESTAMPTZ NOT NULL,
            state        VARCHAR NOT NULL,
            PRIMARY KEY (experiment_id, updated_at)
        );
        """,
    ),
    Migration(
        19,
        "order lines without the primary-key index: a re-sent line key is skipped by an anti-join over the stored keys",
        # Inserting Online Retail's 541,909 random md5 line keys under the index cost more than the
        # rest of the import (1-2 s of CPU, measured); the anti-join of a batch's keys against the
        # stored ones costs one scan of the key column. DuckDB cannot drop a constraint, so the
        # table is rebuilt (the order_totals view reads it by name, unchanged).
        """
        CREATE TABLE order_lines_v19 (
            line_key     VARCHAR NOT NULL,  -- unique: written only by store/_order_lines.py
            order_id     VARCHAR NOT NULL,
            line_no      INTEGER,
            product_id   VARCHAR NOT NULL,
            description  VARCHAR,
            quantity     BIGINT NOT NULL,
            unit_price   DOUBLE NOT NULL,
            is_return    BOOLEAN NOT NULL DEFAULT false,
            is_product   BOOLEAN NOT NULL DEFAULT true
        );
        INSERT INTO order_lines_v19 (line_key, order_id, line_no, product_id, description, quantity, unit_price, is_return, is_product)
        SELECT line_key, order_id, line_no, product_id, description, quantity, unit_price, is_return, is_product FROM order_lines;
        DROP TABLE order_lines;
        ALTER TABLE order_lines_v19 RENAME TO order_lines;
        """,
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version
