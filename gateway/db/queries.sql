-- All SQL the gateway runs, by name. `-- name: x` starts a query; `$n` are parameters.

-- name: ping
SELECT 1;

-- name: find_project_by_id
SELECT id, path, visibility, created_at FROM projects WHERE id = $1;

-- name: find_project_by_path
SELECT id, path, visibility, created_at FROM projects WHERE lower(path) = lower($1);

-- name: insert_project
INSERT INTO projects (path, visibility) VALUES ($1, $2)
RETURNING id, path, visibility, created_at;

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

-- name: insert_personal_token
INSERT INTO personal_access_tokens (user_id, name, token_digest, scopes, expires_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id, user_id, name, scopes, expires_at, created_at;

-- name: find_personal_token
SELECT t.id, t.user_id, u.username, t.token_digest, t.scopes, t.expires_at, t.revoked_at,
       t.last_used_at
FROM personal_access_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_digest = $1;

-- name: touch_personal_token
UPDATE personal_access_tokens SET last_used_at = now() WHERE id = $1;

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
    (package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
RETURNING id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store,
          object_key, created_at, updated_at;

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
