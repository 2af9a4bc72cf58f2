-- Package events, webhooks and their outbox, and the verification gate (sql/0006).

-- name: insert_package_event
-- The event and one outbox row per hook of the project that wants this kind, in
-- one statement; returns how many deliveries were queued. A job token's pipeline
-- ($17) brings its ref and sha from ci_pipelines when they are not given.
WITH event AS (
    INSERT INTO package_events
        (id, kind, project_id, project_path, package_id, package_name, package_version,
         file_id, file_name, size, file_md5, file_sha1, file_sha256, gated,
         actor_kind, actor_name, actor_token_id, pipeline_id, ref, sha, job_id, client_address)
    SELECT $1, $2, $3, pr.path, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,
           $14, $15, $16, $17, COALESCE($18, ci.ref), COALESCE($19, ci.sha), $20, $21
    FROM projects pr LEFT JOIN ci_pipelines ci ON ci.id = $17::bigint AND ci.project_id = pr.id
    WHERE pr.id = $3
    RETURNING id, project_id, kind
), queued AS (
    INSERT INTO package_hook_deliveries (hook_id, event_id)
    SELECT h.id, event.id FROM event
    JOIN package_hooks h ON h.project_id = event.project_id
                        AND (h.events IS NULL OR event.kind = ANY (h.events))
    RETURNING id
)
SELECT count(*) FROM queued;

-- name: notify_hook_deliveries
-- Sent at commit, to every gateway process listening: deliveries are due.
SELECT pg_notify('package_hook_deliveries', '');

-- name: list_package_events
-- Newest first. $2 kind, $3 exact package name, $4 only after this time (to the
-- millisecond, as times are shown); $5 limit, $6 offset.
SELECT * FROM package_events
WHERE project_id = $1 AND ($2::text IS NULL OR kind = $2)
  AND ($3::text IS NULL OR package_name = $3)
  AND ($4::timestamptz IS NULL OR date_trunc('milliseconds', created_at) > $4)
ORDER BY seq DESC
LIMIT $5 OFFSET $6;

-- name: count_package_events
SELECT count(*) FROM (
    SELECT 1 FROM package_events
    WHERE project_id = $1 AND ($2::text IS NULL OR kind = $2)
      AND ($3::text IS NULL OR package_name = $3)
      AND ($4::timestamptz IS NULL OR date_trunc('milliseconds', created_at) > $4)
    LIMIT $5
) AS capped;

-- Webhooks ---------------------------------------------------------------------

-- name: insert_package_hook
INSERT INTO package_hooks (project_id, url, secret, events) VALUES ($1, $2, $3, $4)
RETURNING id, project_id, url, secret IS NOT NULL AS has_secret, events, created_at;

-- name: list_package_hooks
SELECT id, project_id, url, secret IS NOT NULL AS has_secret, events, created_at
FROM package_hooks WHERE project_id = $1 ORDER BY id;

-- name: find_package_hook
-- $2: the project it must belong to, or NULL for any (the admin CLI).
SELECT id, project_id, url, secret IS NOT NULL AS has_secret, events, created_at
FROM package_hooks WHERE id = $1 AND ($2::bigint IS NULL OR project_id = $2);

-- name: delete_package_hook
DELETE FROM package_hooks WHERE id = $1 AND ($2::bigint IS NULL OR project_id = $2)
RETURNING id, project_id, url, secret IS NOT NULL AS has_secret, events, created_at;

-- name: list_hook_deliveries
-- Newest first, each with its attempts (oldest first).
SELECT d.id, d.event_id, e.kind, d.status, d.attempts, d.next_attempt_at, d.delivered_at,
       d.created_at,
       COALESCE((SELECT json_agg(json_build_object(
                     'status_code', a.status_code, 'duration_ms', a.duration_ms,
                     'error', a.error, 'at', a.created_at) ORDER BY a.id)
                 FROM package_hook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempt_log
FROM package_hook_deliveries d
JOIN package_events e ON e.id = d.event_id
WHERE d.hook_id = $1
ORDER BY d.id DESC
LIMIT $2 OFFSET $3;

-- name: count_hook_deliveries
SELECT count(*) FROM package_hook_deliveries WHERE hook_id = $1;

-- name: claim_due_deliveries
-- Take up to $1 due deliveries and lease them for $2 seconds: another process
-- skips locked and leased rows, and takes them over if this one dies mid-attempt.
WITH due AS (
    SELECT id FROM package_hook_deliveries
    WHERE status = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE package_hook_deliveries d
SET attempts = d.attempts + 1, next_attempt_at = now() + make_interval(secs => $2)
FROM due, package_hooks h, package_events e
WHERE d.id = due.id AND h.id = d.hook_id AND e.id = d.event_id
RETURNING d.id AS delivery_id, d.hook_id, d.attempts, d.created_at AS queued_at, h.url, h.secret,
          e.*;

-- name: finish_delivery_attempt
-- Record one attempt and where the delivery stands: $5 'delivered', 'failed', or
-- 'pending' with the next attempt in $6 seconds.
WITH attempt AS (
    INSERT INTO package_hook_attempts (delivery_id, status_code, duration_ms, error)
    VALUES ($1, $2, $3, $4)
)
UPDATE package_hook_deliveries
SET status = $5,
    delivered_at = CASE WHEN $5 = 'delivered' THEN now() END,
    next_attempt_at = now() + make_interval(secs => COALESCE($6::float8, 0))
WHERE id = $1;

-- name: release_deliveries
-- Leases given back by a stopping process: due again at once, for any process.
UPDATE package_hook_deliveries SET next_attempt_at = now(), attempts = greatest(attempts - 1, 0)
WHERE id = ANY ($1::bigint[]) AND status = 'pending';

-- Verification gate ------------------------------------------------------------

-- name: upsert_verification_gate
INSERT INTO package_verification_gates (project_id, package_name_patterns) VALUES ($1, $2)
ON CONFLICT (project_id) DO UPDATE
SET package_name_patterns = EXCLUDED.package_name_patterns, updated_at = now()
RETURNING project_id, package_name_patterns, created_at, updated_at;

-- name: find_verification_gate
SELECT project_id, package_name_patterns, created_at, updated_at
FROM package_verification_gates WHERE project_id = $1;

-- name: delete_verification_gate
DELETE FROM package_verification_gates WHERE project_id = $1
RETURNING project_id, package_name_patterns, created_at, updated_at;

-- name: find_gated_file
-- A file of a live package of the project, whatever its verification status.
SELECT f.id, f.package_id, f.file_name, f.size, f.file_md5, f.file_sha1, f.file_sha256,
       f.file_store, f.object_key, f.created_at, f.updated_at, f.status, f.verified_at,
       f.verification_failure, p.name AS package_name, p.version AS package_version
FROM package_files f
JOIN packages p ON p.id = f.package_id
WHERE p.project_id = $1 AND f.package_id = $2 AND f.id = $3
  AND f.status <> 'pending_destruction' AND p.status <> 'pending_destruction';

-- name: set_verification_result
-- Passed: the file goes live ('default'); failed: it stays blocked ('error').
-- Only files waiting or failed before may change.
UPDATE package_files f
SET status = $4, verification_failure = $5,
    verified_at = CASE WHEN $4 = 'default' THEN now() END, updated_at = now()
FROM packages p
WHERE p.id = f.package_id AND p.project_id = $1 AND f.package_id = $2 AND f.id = $3
  AND p.status <> 'pending_destruction' AND f.status IN ('processing', 'error')
RETURNING f.id, f.package_id, f.file_name, f.size, f.file_md5, f.file_sha1, f.file_sha256,
          f.file_store, f.object_key, f.created_at, f.updated_at, f.status, f.verified_at,
          f.verification_failure, p.name AS package_name, p.version AS package_version;

-- name: awaiting_verification
-- Whether a file of that name waits for verification in the live package.
SELECT EXISTS (
    SELECT 1 FROM packages p
    JOIN package_files f ON f.package_id = p.id AND f.status = 'processing'
    WHERE p.project_id = $1 AND p.package_type = 'generic' AND p.name = $2 AND p.version = $3
      AND p.status <> 'pending_destruction' AND f.file_name = $4
);
