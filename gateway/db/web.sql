-- The registry web page: sessions, its signing key, and what the pages show.

-- name: web_signing_key
-- The first process to start stores its key ($1); every process reads the one stored.
WITH made AS (
    INSERT INTO web_signing_keys (key) VALUES ($1) ON CONFLICT (id) DO NOTHING RETURNING key
)
SELECT key FROM made
UNION ALL
SELECT key FROM web_signing_keys
LIMIT 1;

-- name: web_insert_session
-- Expired sessions go as new ones come: the table stays as small as the live ones.
WITH expired AS (
    DELETE FROM web_sessions WHERE expires_at < now()
)
INSERT INTO web_sessions (session_digest, user_id, token_id, csrf_secret, expires_at)
VALUES ($1, $2, $3, $4, $5)
RETURNING id;

-- name: web_find_session
-- A live session whose token is still valid: revoking or expiring the token ends it.
SELECT s.id, s.user_id, s.token_id, s.csrf_secret, s.expires_at, u.username, t.scopes
FROM web_sessions s
JOIN access_tokens t ON t.id = s.token_id AND t.user_id = s.user_id AND t.kind = 'personal'
JOIN users u ON u.id = s.user_id
WHERE s.session_digest = $1
  AND s.expires_at > now()
  AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now());

-- name: web_delete_session
DELETE FROM web_sessions WHERE session_digest = $1;

-- name: web_visible_projects
-- Home: public projects and those where the user ($1, NULL when signed out) is
-- reporter or above, with their totals.
SELECT pr.id, pr.path, pr.visibility, stats.packages, stats.size
FROM projects pr
LEFT JOIN memberships m ON m.project_id = pr.id AND m.user_id = $1
CROSS JOIN LATERAL project_package_stats(pr.id) AS stats
WHERE pr.visibility = 'public' OR m.access_level >= 20
ORDER BY lower(pr.path);

-- name: web_project_stats
SELECT packages, hidden_packages, size FROM project_package_stats($1);

-- name: web_count_package_names
-- $1 project; $2 name patterns (ILIKE, all must match); $3 status (NULL: listed ones).
SELECT count(DISTINCT name) FROM listed_packages($1, $2, NULL, NULL, $3);

-- name: web_package_names
-- One page of package names: $4 order ('created': by newest version, else by
-- name), $5 'asc' or 'desc', $6 limit, $7 offset.
SELECT name
FROM listed_packages($1, $2, NULL, NULL, $3)
GROUP BY name
ORDER BY
    CASE WHEN $4 = 'created' AND $5 = 'asc' THEN max(created_at) END,
    CASE WHEN $4 = 'created' AND $5 = 'desc' THEN max(created_at) END DESC,
    CASE WHEN $5 = 'asc' THEN name END,
    CASE WHEN $5 = 'desc' THEN name END DESC
LIMIT $6 OFFSET $7;

-- name: web_package_versions
-- Versions of these names ($3), each name's own $7 from its $6th on, in the
-- page's order ($4 'version', else created; $5 direction), with each version's
-- size, file count and who pushed its newest file, and how many versions the
-- name has in all. Sizes are summed only for the versions shown.
SELECT v.id, v.name, v.version, v.package_type, v.status, v.created_at, v.version_count,
       coalesce(f.size, 0)::bigint AS size, coalesce(f.files, 0) AS files, f.pushed_by
FROM (
    SELECT p.id, p.name, p.version, p.package_type, p.status, p.created_at,
           count(*) OVER (PARTITION BY p.name) AS version_count,
           row_number() OVER (
               PARTITION BY p.name ORDER BY
                   CASE WHEN $4 = 'version' AND $5 = 'asc' THEN p.version END,
                   CASE WHEN $4 = 'version' AND $5 = 'desc' THEN p.version END DESC,
                   CASE WHEN $5 = 'asc' THEN p.created_at END,
                   CASE WHEN $5 = 'desc' THEN p.created_at END DESC,
                   p.id DESC
           ) AS position
    FROM listed_packages($1, NULL, NULL, NULL, $2) p
    WHERE p.name = ANY ($3::text[])
) v
LEFT JOIN LATERAL (
    SELECT sum(size) AS size, count(*) AS files,
           (array_agg(actor_name ORDER BY id DESC))[1] AS pushed_by
    FROM package_files WHERE package_id = v.id AND status = 'default'
) f ON true
WHERE v.position > $6 AND v.position <= $6 + $7
ORDER BY v.name, v.position;

-- name: web_package_files
-- A package's live files, newest first, with who pushed each.
SELECT id, file_name, size, file_md5, file_sha1, file_sha256, created_at, actor_kind, actor_name
FROM package_files
WHERE package_id = $1 AND status = 'default'
ORDER BY created_at DESC, id DESC;

-- History and CI ref, from issue 10's package events ---------------------------
-- (read only when that table exists: see gateway/web/history.py)

-- name: web_package_history
-- A package's pushes and deletions, newest first; $3 caps the page.
SELECT kind, created_at, actor_kind, actor_name, actor_token_id AS token_id, file_name, size,
       file_sha256, pipeline_id, ref, sha
FROM package_events
WHERE project_id = $1 AND package_id = $2
ORDER BY seq DESC
LIMIT $3;

-- name: web_latest_ref
-- The CI ref of the newest event that has one, in the project ($1) or one
-- package of it ($2): what the latest package was built from.
SELECT ref, sha
FROM package_events
WHERE project_id = $1 AND ($2::bigint IS NULL OR package_id = $2) AND ref IS NOT NULL
ORDER BY seq DESC
LIMIT 1;

-- name: web_package_refs
-- Each of these packages' ($2) latest CI ref, for the registry's rows.
SELECT DISTINCT ON (package_id) package_id, ref
FROM package_events
WHERE project_id = $1 AND package_id = ANY ($2::bigint[]) AND ref IS NOT NULL
ORDER BY package_id, seq DESC;
