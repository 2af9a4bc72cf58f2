-- GitLab's access model for packages: groups (namespaces) with duplicate
-- settings, one table for every kind of token, package protection rules, and
-- who acted on each package file.

CREATE TABLE groups (
    id                                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    parent_id                          bigint REFERENCES groups (id) ON DELETE RESTRICT,
    path                               text NOT NULL
                                       CHECK (path ~ '^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$'),
    generic_duplicates_allowed         boolean NOT NULL DEFAULT true,
    generic_duplicate_exception_regex  text NOT NULL DEFAULT ''
                                       CHECK (length(generic_duplicate_exception_regex) <= 255),
    created_at                         timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX groups_path_key ON groups (lower(path));
CREATE INDEX groups_parent_id ON groups (parent_id);

-- Every ancestor of every existing project becomes a group, parents first.
INSERT INTO groups (path)
SELECT DISTINCT ON (lower(ancestor)) ancestor
FROM (
    SELECT array_to_string(parts[1:n], '/') AS ancestor, n
    FROM (SELECT string_to_array(path, '/') AS parts FROM projects) AS p,
         generate_series(1, cardinality(parts) - 1) AS n
) AS ancestors
ORDER BY lower(ancestor), n;

UPDATE groups AS child SET parent_id = parent.id
FROM groups AS parent
WHERE child.path LIKE '%/%'
  AND lower(parent.path) = lower(regexp_replace(child.path, '/[^/]+$', ''));

ALTER TABLE projects ADD COLUMN namespace_id bigint REFERENCES groups (id) ON DELETE RESTRICT;
UPDATE projects SET namespace_id = g.id
FROM groups AS g
WHERE lower(g.path) = lower(regexp_replace(projects.path, '/[^/]+$', ''));
ALTER TABLE projects ALTER COLUMN namespace_id SET NOT NULL;
CREATE INDEX projects_namespace_id ON projects (namespace_id);

-- Personal, deploy and CI job tokens share one id space, so one id revokes any.
CREATE TABLE access_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind          text NOT NULL CHECK (kind IN ('personal', 'deploy', 'job')),
    user_id       bigint REFERENCES users (id) ON DELETE CASCADE,
    project_id    bigint REFERENCES projects (id) ON DELETE CASCADE,
    name          text NOT NULL,
    token_digest  bytea NOT NULL UNIQUE,
    scopes        text[] NOT NULL CHECK (cardinality(scopes) > 0),
    expires_at    timestamptz,
    revoked_at    timestamptz,
    last_used_at  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (
        (kind = 'personal' AND user_id IS NOT NULL AND project_id IS NULL
            AND scopes <@ ARRAY['api', 'read_api'])
        OR (kind = 'deploy' AND user_id IS NULL AND project_id IS NOT NULL
            AND scopes <@ ARRAY['read_package_registry', 'write_package_registry'])
        OR (kind = 'job' AND user_id IS NOT NULL AND project_id IS NOT NULL
            AND expires_at IS NOT NULL AND scopes = ARRAY['job'])
    )
);
CREATE INDEX access_tokens_user_id ON access_tokens (user_id);
CREATE INDEX access_tokens_project_id ON access_tokens (project_id);

-- Personal tokens keep their ids; a date expiry becomes midnight UTC of that day.
INSERT INTO access_tokens (id, kind, user_id, name, token_digest, scopes, expires_at,
                           revoked_at, last_used_at, created_at)
OVERRIDING SYSTEM VALUE
SELECT id, 'personal', user_id, name, token_digest, scopes,
       expires_at::timestamp AT TIME ZONE 'UTC', revoked_at, last_used_at, created_at
FROM personal_access_tokens;
SELECT setval(pg_get_serial_sequence('access_tokens', 'id'),
              COALESCE((SELECT max(id) FROM access_tokens), 0) + 1, false);
DROP TABLE personal_access_tokens;

-- GitLab access levels for push: 40 maintainer, 50 owner.
CREATE TABLE package_protection_rules (
    id                              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id                      bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    package_type                    text NOT NULL DEFAULT 'generic' CHECK (package_type IN ('generic')),
    package_name_pattern            text NOT NULL
                                    CHECK (length(package_name_pattern) BETWEEN 1 AND 255),
    minimum_access_level_for_push   smallint NOT NULL CHECK (minimum_access_level_for_push IN (40, 50)),
    created_at                      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (project_id, package_type, package_name_pattern)
);

-- Who uploaded each file: a user (personal token), a deploy token, a CI job, or
-- an actor vouched for by the trusted proxy. Older rows stay NULL.
ALTER TABLE package_files
    ADD COLUMN actor_kind      text CHECK (actor_kind IN ('user', 'deploy_token', 'job', 'proxy')),
    ADD COLUMN actor_user_id   bigint REFERENCES users (id) ON DELETE SET NULL,
    ADD COLUMN actor_token_id  bigint REFERENCES access_tokens (id) ON DELETE SET NULL,
    ADD COLUMN actor_name      text;
