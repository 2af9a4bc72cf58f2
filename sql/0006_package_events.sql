-- Package events: an audit trail of pushes, deletions and verifications; per
-- project webhooks delivered from the event table as an outbox; and a
-- verification gate that holds new files back until a pipeline has checked them.

-- A gated file waits as 'processing' until verified ('default') or rejected ('error').
ALTER TABLE package_files DROP CONSTRAINT package_files_status_check;
ALTER TABLE package_files ADD CONSTRAINT package_files_status_check
    CHECK (status IN ('default', 'pending_destruction', 'processing', 'error'));
ALTER TABLE package_files
    ADD COLUMN verified_at           timestamptz,
    ADD COLUMN verification_failure  text CHECK (length(verification_failure) <= 1000);

-- Rows are never updated. Ids of packages, files and tokens are kept as plain
-- numbers: the trail outlives what it describes.
CREATE TABLE package_events (
    id               uuid PRIMARY KEY,
    seq              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
    kind             text NOT NULL CHECK (kind IN ('package_file_pushed', 'package_file_deleted',
                                                   'package_deleted', 'package_file_verified')),
    project_id       bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    project_path     text NOT NULL,
    package_id       bigint NOT NULL,
    package_name     text NOT NULL,
    package_version  text NOT NULL,
    file_id          bigint,
    file_name        text,
    size             bigint,
    file_md5         text,
    file_sha1        text,
    file_sha256      text,
    gated            boolean NOT NULL DEFAULT false,
    actor_kind       text,
    actor_name       text,
    actor_token_id   bigint,
    -- CI provenance, known for job tokens that carry it.
    pipeline_id      bigint,
    ref              text,
    sha              text,
    job_id           bigint,
    client_address   text,
    created_at       timestamptz NOT NULL DEFAULT now()
);
-- Newest first per project; the filters narrow that walk.
CREATE INDEX package_events_by_project ON package_events (project_id, seq DESC);

CREATE TABLE package_hooks (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    url         text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    -- Needed in clear to sign each payload; never shown by the API or the CLI.
    secret      text,
    -- NULL: every kind.
    events      text[],
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX package_hooks_project_id ON package_hooks (project_id);

-- One row per event and hook, written with the event: the outbox.
CREATE TABLE package_hook_deliveries (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hook_id          bigint NOT NULL REFERENCES package_hooks (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL REFERENCES package_events (id) ON DELETE CASCADE,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (hook_id, event_id)
);
CREATE INDEX package_hook_deliveries_due ON package_hook_deliveries (next_attempt_at)
    WHERE status = 'pending';
CREATE INDEX package_hook_deliveries_event_id ON package_hook_deliveries (event_id);

CREATE TABLE package_hook_attempts (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id  bigint NOT NULL REFERENCES package_hook_deliveries (id) ON DELETE CASCADE,
    status_code  integer,
    duration_ms  integer NOT NULL,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX package_hook_attempts_delivery_id ON package_hook_attempts (delivery_id);

-- One gate per project; no patterns: every package name is gated.
CREATE TABLE package_verification_gates (
    project_id              bigint PRIMARY KEY REFERENCES projects (id) ON DELETE CASCADE,
    package_name_patterns   text[] NOT NULL DEFAULT '{}',
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now()
);
