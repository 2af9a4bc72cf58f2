-- Identity (users, projects, memberships, personal access tokens) and the
-- generic package registry (packages, package files).

CREATE TABLE users (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    username    text NOT NULL CHECK (username ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX users_username_key ON users (lower(username));

CREATE TABLE projects (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    path        text NOT NULL CHECK (path ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)+$'),
    visibility  text NOT NULL DEFAULT 'private' CHECK (visibility IN ('private', 'public')),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX projects_path_key ON projects (lower(path));

-- GitLab access levels: 10 guest, 20 reporter, 30 developer, 40 maintainer, 50 owner.
CREATE TABLE memberships (
    project_id    bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    access_level  smallint NOT NULL CHECK (access_level IN (10, 20, 30, 40, 50)),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX memberships_user_id ON memberships (user_id);

-- Tokens are stored only as SHA-256 digests of the secret.
CREATE TABLE personal_access_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_digest  bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0 AND scopes <@ ARRAY['api', 'read_api']),
    expires_at    date,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX personal_access_tokens_user_id ON personal_access_tokens (user_id);

CREATE TABLE packages (
    id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id          bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    package_type        text NOT NULL DEFAULT 'generic' CHECK (package_type IN ('generic')),
    name                text NOT NULL,
    version             text NOT NULL,
    status              text NOT NULL DEFAULT 'default'
                        CHECK (status IN ('default', 'hidden', 'pending_destruction')),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_downloaded_at  timestamptz
);
-- The truth behind serialized package creation: one live package per
-- project/type/name/version, whichever process inserts it.
CREATE UNIQUE INDEX packages_live_key ON packages (project_id, package_type, name, version)
    WHERE status <> 'pending_destruction';

CREATE TABLE package_files (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    package_id   bigint NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    file_name    text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    file_md5     text NOT NULL,
    file_sha1    text NOT NULL,
    file_sha256  text NOT NULL,
    file_store   smallint NOT NULL CHECK (file_store IN (1, 2)),
    object_key   text NOT NULL UNIQUE,
    status       text NOT NULL DEFAULT 'default' CHECK (status IN ('default', 'pending_destruction')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- Downloads take the newest live file of a name in a package.
CREATE INDEX package_files_download ON package_files (package_id, file_name, id DESC)
    WHERE status = 'default';
