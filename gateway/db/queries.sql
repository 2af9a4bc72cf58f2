-- All SQL the gateway runs, by name. `-- name: x` starts a query; `$n` are parameters.

-- name: ping
SELECT 1;

-- name: find_project_by_id
SELECT id, path, visibility, namespace_id, created_at FROM projects WHERE id = $1;

-- name: find_project_by_path
SELECT id, path, visibility, namespace_id, created_at FROM projects WHERE lower(path) = lower($1);

-- name: insert_project
INSERT INTO projects (path, visibility, namespace_id) VALUES ($1, $2, $3)
RETURNING id, path, visibility, namespace_id, created_at;

-- name: upsert_group
-- Groups are created with the projects under them, parents first.
INSERT INTO groups (path, parent_id) VALUES ($1, $2)
ON CONFLICT ((lower(path))) DO UPDATE SET path = groups.path
RETURNING id, path, parent_id, generic_duplicates_allowed, generic_duplicate_exception_regex,
          created_at;

-- name: find_group_by_path
SELECT id, path, parent_id, generic_duplicates_allowed, generic_duplicate_exception_regex,
       created_at
FROM groups WHERE lower(path) = lower($1);

-- name: find_group_by_id
SELECT id, path, parent_id, generic_duplicates_allowed, generic_duplicate_exception_regex,
       created_at
FROM groups WHERE id = $1;

-- name: update_group_settings
UPDATE groups
SET generic_duplicates_allowed = COALESCE($2, generic_duplicates_allowed),
    generic_duplicate_exception_regex = COALESCE($3, generic_duplicate_exception_regex)
WHERE id = $1
RETURNING id, path, parent_id, generic_duplicates_allowed, generic_duplicate_exception_regex,
          created_at;

-- name: find_user_by_username
SELECT id, username, created_at FROM users WHERE lower(username) = lower($1);

-- name: insert_user
INSERT INTO users (username) VALUES ($1) RETURNING id, username, created_at;

-- name: upsert_membership
INSERT INTO memberships (project_id, user_id, access_level) VALUES ($1, $2, $3)
ON CONFLICT (project_id, user_id) DO UPDATE SET access_level = EXCLUDED.access_level
RETURNING project_id, user_id, access_level, created_at;

-- name: find_access_level
SELECT access_level FROM memberships WHERE project_id = $1 AND user_id = $2;

-- name: insert_access_token
INSERT INTO access_tokens (kind, user_id, project_id, name, token_digest, scopes, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id, kind, user_id, project_id, name, scopes, expires_at, revoked_at, last_used_at,
          created_at;

-- name: find_access_token
SELECT t.id, t.kind, t.user_id, u.username, t.project_id, t.token_digest, t.scopes,
       t.expires_at, t.revoked_at, t.last_used_at
FROM access_tokens t LEFT JOIN users u ON u.id = t.user_id
WHERE t.token_digest = $1;

-- name: touch_access_token
UPDATE access_tokens SET last_used_at = now() WHERE id = $1;

-- name: revoke_access_token
UPDATE access_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
RETURNING id, kind, user_id, project_id, name, scopes, expires_at, revoked_at, last_used_at,
          created_at;

-- name: list_access_tokens
-- Filtered by user ($1) and/or project ($2) when given; never the digests.
SELECT id, kind, user_id, project_id, name, scopes, expires_at, revoked_at, last_used_at,
       created_at
FROM access_tokens
WHERE ($1::bigint IS NULL OR user_id = $1) AND ($2::bigint IS NULL OR project_id = $2)
ORDER BY id;

-- name: insert_protection_rule
INSERT INTO package_protection_rules (project_id, package_name_pattern, minimum_access_level_for_push)
VALUES ($1, $2, $3)
RETURNING id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
          created_at;

-- name: list_protection_rules
SELECT id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
       created_at
FROM package_protection_rules WHERE project_id = $1 ORDER BY id;

-- name: delete_protection_rule
DELETE FROM package_protection_rules WHERE id = $1
RETURNING id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
          created_at;

-- name: find_push_protection
-- A rule protects a name when its pattern (`*` any run of characters, matched
-- whole and case-insensitively, as GitLab does) matches and the pusher's level
-- ($3) is below the rule's minimum; a NULL level (deploy tokens) meets every rule.
SELECT id FROM package_protection_rules
WHERE project_id = $1 AND package_type = 'generic'
  AND $2 ILIKE replace(replace(replace(replace(package_name_pattern,
          '\', '\\'), '%', '\%'), '_', '\_'), '*', '%')
  AND ($3::smallint IS NULL OR $3::smallint < minimum_access_level_for_push)
LIMIT 1;

-- name: find_duplicate_settings
SELECT generic_duplicates_allowed, generic_duplicate_exception_regex FROM groups WHERE id = $1;

-- name: generic_file_exists
SELECT EXISTS (
    SELECT 1 FROM packages p
    JOIN package_files f ON f.package_id = p.id AND f.status = 'default'
    WHERE p.project_id = $1 AND p.package_type = 'generic' AND p.name = $2 AND p.version = $3
      AND p.status <> 'pending_destruction' AND f.file_name = $4
);

-- name: live_file_exists_in_package
SELECT EXISTS (
    SELECT 1 FROM package_files WHERE package_id = $1 AND file_name = $2 AND status = 'default'
);

-- name: upsert_generic_package
-- Find or create the live package; the unique index serializes creators across
-- processes, and the row lock holds off a concurrent destroy until commit.
-- An explicit status ($4) replaces the package's status, as GitLab does.
INSERT INTO packages (project_id, package_type, name, version, status)
VALUES ($1, 'generic', $2, $3, COALESCE($4::text, 'default'))
ON CONFLICT (project_id, package_type, name, version) WHERE status <> 'pending_destruction'
DO UPDATE SET status = COALESCE($4::text, packages.status), updated_at = now()
RETURNING id, status;

-- name: insert_package_file
INSERT INTO package_files
    (package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key,
     actor_kind, actor_user_id, actor_token_id, actor_name)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
RETURNING id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store,
          object_key, created_at, updated_at;

-- name: object_recorded
SELECT EXISTS (SELECT 1 FROM package_files WHERE object_key = $1);

-- name: find_generic_download
-- Newest live file of that name in the live package (default or hidden).
SELECT f.id, f.package_id, f.file_name, f.size, f.file_md5, f.file_sha1, f.file_sha256,
       f.file_store, f.object_key, f.created_at, f.updated_at
FROM packages p
JOIN package_files f ON f.package_id = p.id AND f.status = 'default'
WHERE p.project_id = $1 AND p.package_type = 'generic' AND p.name = $2 AND p.version = $3
  AND p.status <> 'pending_destruction' AND f.file_name = $4
ORDER BY f.id DESC
LIMIT 1;

-- name: touch_package_downloaded
UPDATE packages SET last_downloaded_at = now() WHERE id = $1;
