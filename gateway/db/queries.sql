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
INSERT INTO access_tokens (kind, user_id, project_id, name, token_digest, scopes, expires_at,
                           ci_pipeline_id, ci_job_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
RETURNING id, kind, user_id, project_id, name, scopes, expires_at, revoked_at, last_used_at,
          created_at;

-- name: find_access_token
SELECT t.id, t.kind, t.user_id, u.username, t.project_id, t.token_digest, t.scopes,
       t.expires_at, t.revoked_at, t.last_used_at, t.ci_pipeline_id, t.ci_job_id
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
INSERT INTO package_protection_rules
    (project_id, package_name_pattern, minimum_access_level_for_push, minimum_access_level_for_delete)
VALUES ($1, $2, $3, $4)
RETURNING id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
          minimum_access_level_for_delete, created_at;

-- name: list_protection_rules
SELECT id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
       minimum_access_level_for_delete, created_at
FROM package_protection_rules WHERE project_id = $1 ORDER BY id;

-- name: delete_protection_rule
-- In the project $2 when given (the REST API), any project's otherwise (the admin CLI).
DELETE FROM package_protection_rules WHERE id = $1 AND ($2::bigint IS NULL OR project_id = $2)
RETURNING id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
          minimum_access_level_for_delete, created_at;

-- name: find_protection
-- The rule that stops this push or delete, if any (sql/0008: protecting_rule).
SELECT protecting_rule($1, $2, $3::smallint, $4::text);

-- What makes a new file of that name a duplicate: a live file, or one awaiting
-- verification (once verified, it would be a second live one). A rejected file
-- ('error') does not count: its name may be pushed again, fixed.
-- name: generic_file_name_taken
SELECT EXISTS (
    SELECT 1 FROM packages p
    JOIN package_files f ON f.package_id = p.id AND f.status IN ('default', 'processing')
    WHERE p.project_id = $1 AND p.package_type = 'generic' AND p.name = $2 AND p.version = $3
      AND p.status <> 'pending_destruction' AND f.file_name = $4
);

-- name: file_name_taken_in_package
SELECT EXISTS (
    SELECT 1 FROM package_files
    WHERE package_id = $1 AND file_name = $2 AND status IN ('default', 'processing')
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
-- At most once a minute per package: popular downloads must not queue up on
-- the row that uploads to the same package lock.
UPDATE packages SET last_downloaded_at = now()
WHERE id = $1 AND (last_downloaded_at IS NULL OR last_downloaded_at < now() - interval '1 minute');

-- Packages API ---------------------------------------------------------------
-- One query per order. Each project's first $6 + $7 packages in that order come
-- from its index (listed_packages() in sql/0003 holds the filters); merging them
-- gives the page, for one project or all of a group's. $1 project ids, $2-$5
-- filters, $6 limit, $7 offset.

-- name: list_packages_by_created_at_asc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY created_at, id LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.created_at, p.id LIMIT $6 OFFSET $7;

-- name: list_packages_by_created_at_desc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY created_at DESC, id DESC LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.created_at DESC, p.id DESC LIMIT $6 OFFSET $7;

-- name: list_packages_by_name_asc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY name, id LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.name, p.id LIMIT $6 OFFSET $7;

-- name: list_packages_by_name_desc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY name DESC, id DESC LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.name DESC, p.id DESC LIMIT $6 OFFSET $7;

-- name: list_packages_by_version_asc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY version, id LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.version, p.id LIMIT $6 OFFSET $7;

-- name: list_packages_by_version_desc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY version DESC, id DESC LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.version DESC, p.id DESC LIMIT $6 OFFSET $7;

-- name: list_packages_by_type_asc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY package_type, id LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.package_type, p.id LIMIT $6 OFFSET $7;

-- name: list_packages_by_type_desc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY package_type DESC, id DESC LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY p.package_type DESC, p.id DESC LIMIT $6 OFFSET $7;

-- name: list_packages_by_project_path_asc
-- As GitLab: by the project's own path (the last segment), not its full path.
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY id LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY substring(pr.path from '[^/]+$'), p.id LIMIT $6 OFFSET $7;

-- name: list_packages_by_project_path_desc
SELECT p.*, pr.path AS project_path
FROM unnest($1::bigint[]) AS scope (project_id)
CROSS JOIN LATERAL (
    SELECT * FROM listed_packages(scope.project_id, $2, $3, $4, $5)
    ORDER BY id DESC LIMIT $6::bigint + $7::bigint
) AS p
JOIN projects pr ON pr.id = p.project_id
ORDER BY substring(pr.path from '[^/]+$') DESC, p.id DESC LIMIT $6 OFFSET $7;

-- name: count_packages
-- Counting stops past $6: GitLab leaves the totals out above 10,000 too.
SELECT count(*) FROM (
    SELECT 1 FROM unnest($1::bigint[]) AS scope (project_id)
    CROSS JOIN LATERAL listed_packages(scope.project_id, $2, $3, $4, $5)
    LIMIT $6
) AS capped;

-- name: find_package
-- Any package of the project that is not being destroyed.
SELECT p.*, pr.path AS project_path FROM packages p
JOIN projects pr ON pr.id = p.project_id
WHERE p.project_id = $1 AND p.id = $2 AND p.status <> 'pending_destruction';

-- name: list_package_versions
-- The other listed versions of a package's name, for the single-package view.
SELECT id, version, created_at FROM packages
WHERE project_id = $1 AND package_type = $2 AND name = $3 AND id <> $4 AND status = 'default'
ORDER BY version, id;

-- name: list_package_files
-- A package's files are few: one query sorts them in memory whatever the order.
SELECT id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key,
       created_at, updated_at
FROM package_files
WHERE package_id = $1 AND status = 'default'
ORDER BY
    CASE WHEN $2 = 'file_name' AND $3 = 'asc' THEN file_name END,
    CASE WHEN $2 = 'file_name' AND $3 = 'desc' THEN file_name END DESC,
    CASE WHEN $2 = 'created_at' AND $3 = 'asc' THEN created_at END,
    CASE WHEN $2 = 'created_at' AND $3 = 'desc' THEN created_at END DESC,
    CASE WHEN $3 = 'asc' THEN id END,
    CASE WHEN $3 = 'desc' THEN id END DESC
LIMIT $4 OFFSET $5;

-- name: find_package_file
SELECT id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key,
       created_at, updated_at
FROM package_files WHERE package_id = $1 AND id = $2 AND status <> 'pending_destruction';

-- name: count_package_files
SELECT count(*) FROM package_files WHERE package_id = $1 AND status = 'default';

-- name: mark_package_for_destruction
-- Gone from lists and downloads at once; the files and objects go in the background.
WITH marked AS (
    UPDATE packages SET status = 'pending_destruction', updated_at = now()
    WHERE project_id = $1 AND id = $2 AND status <> 'pending_destruction'
    RETURNING id, name, version
), files AS (
    UPDATE package_files f SET status = 'pending_destruction', updated_at = now()
    FROM marked WHERE f.package_id = marked.id AND f.status = 'default'
)
SELECT id, name, version FROM marked;

-- name: mark_package_file_for_destruction
UPDATE package_files f SET status = 'pending_destruction', updated_at = now()
FROM packages p
WHERE f.id = $3 AND f.package_id = $2 AND p.id = f.package_id AND p.project_id = $1
  AND p.status <> 'pending_destruction' AND f.status IN ('default', 'processing', 'error')
RETURNING f.id, f.file_name, f.size, f.file_md5, f.file_sha1, f.file_sha256,
          p.name AS package_name, p.version AS package_version;

-- name: claim_files_to_destroy
-- Files marked for destruction, or left in a package being destroyed, but not
-- those whose object this process failed to remove lately ($2). Locked rows are
-- skipped, so any number of gateway processes can sweep at once.
SELECT f.id, f.object_key, f.file_store FROM package_files f
JOIN packages p ON p.id = f.package_id
WHERE (f.status = 'pending_destruction' OR p.status = 'pending_destruction')
  AND f.id <> ALL ($2::bigint[])
ORDER BY f.id
LIMIT $1
FOR UPDATE OF f SKIP LOCKED;

-- name: delete_package_files
DELETE FROM package_files WHERE id = ANY ($1);

-- name: delete_destroyed_packages
DELETE FROM packages p
WHERE p.status = 'pending_destruction'
  AND NOT EXISTS (SELECT 1 FROM package_files f WHERE f.package_id = p.id)
RETURNING p.id;

-- name: group_projects_visible_to
-- Projects under a group ($1; its subgroups too unless $2) that a user ($3, NULL
-- for anonymous) may list: public ones, and those where they are reporter or above.
WITH RECURSIVE tree AS (
    SELECT id FROM groups WHERE id = $1
    UNION ALL
    SELECT g.id FROM groups g JOIN tree ON g.parent_id = tree.id WHERE NOT $2
)
SELECT p.id FROM projects p
JOIN tree ON p.namespace_id = tree.id
LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = $3
WHERE p.visibility = 'public' OR m.access_level >= 20
ORDER BY p.id;

-- name: projects_with_level
SELECT project_id FROM memberships
WHERE user_id = $1 AND project_id = ANY ($2) AND access_level >= $3;

-- name: project_in_group
WITH RECURSIVE tree AS (
    SELECT id FROM groups WHERE id = $1
    UNION ALL
    SELECT g.id FROM groups g JOIN tree ON g.parent_id = tree.id WHERE NOT $2
)
SELECT EXISTS (SELECT 1 FROM projects p JOIN tree ON p.namespace_id = tree.id WHERE p.id = $3);
