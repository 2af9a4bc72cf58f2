-- Upload intents and the garbage collector (see sql/0004_upload_intents.sql).

-- name: insert_upload_intent
INSERT INTO upload_intents (object_key, store, owner_host, owner_pid, owner_id)
VALUES ($1, $2, $3, $4, $5);

-- name: delete_upload_intent
DELETE FROM upload_intents WHERE object_key = $1;

-- name: insert_package_file_clearing_intent
-- The file row and the end of its upload's intent, in one statement: no row
-- is written for an upload whose intent the garbage collector already took
-- (its object may be gone), and no intent outlives a committed row.
-- The file is held back ('processing') when the project's ($15) verification
-- gate covers the package name ($16): no patterns, or one matching (`*` any run
-- of characters, whole and case-insensitive, as protection rules match).
WITH intent AS (
    DELETE FROM upload_intents WHERE object_key = $8 RETURNING object_key
)
INSERT INTO package_files
    (package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key,
     actor_kind, actor_user_id, actor_token_id, actor_name, ci_pipeline_id, ci_job_id, status)
SELECT $1, $2, $3, $4, $5, $6, $7, intent.object_key, $9, $10, $11, $12, $13, $14,
       CASE WHEN EXISTS (
           SELECT 1 FROM package_verification_gates g
           WHERE g.project_id = $15
             AND (cardinality(g.package_name_patterns) = 0 OR EXISTS (
                 SELECT 1 FROM unnest(g.package_name_patterns) AS pattern
                 WHERE $16 ILIKE replace(replace(replace(replace(pattern,
                           '\', '\\'), '%', '\%'), '_', '\_'), '*', '%')))
       ) THEN 'processing' ELSE 'default' END
FROM intent
RETURNING id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store,
          object_key, created_at, updated_at, status = 'processing' AS gated;

-- name: claim_stale_upload_intents
-- Intents older than $1 of the store $2 (but not the keys $4), locked until the
-- collector's transaction ends; rows another collector holds, or that an
-- upload's commit is removing right now, are skipped.
SELECT object_key,
       EXISTS (SELECT 1 FROM package_files f WHERE f.object_key = i.object_key) AS recorded
FROM upload_intents i
WHERE created_at < now() - $1::interval AND store = $2 AND object_key <> ALL ($4::text[])
ORDER BY created_at
LIMIT $3
FOR UPDATE OF i SKIP LOCKED;

-- name: delete_upload_intents
DELETE FROM upload_intents WHERE object_key = ANY ($1::text[]);

-- name: key_claims
-- Of the keys $1, those a package-file row points at or an intent holds.
SELECT k.key,
       EXISTS (SELECT 1 FROM package_files f WHERE f.object_key = k.key) AS recorded,
       EXISTS (SELECT 1 FROM upload_intents i WHERE i.object_key = k.key) AS intended
FROM unnest($1::text[]) AS k (key);

-- name: try_gc_lock
SELECT pg_try_advisory_lock($1);

-- name: gc_unlock
SELECT pg_advisory_unlock($1);
