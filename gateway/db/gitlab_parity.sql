-- GitLab parity: the resources clients touch before package calls, protection
-- rules over REST and on deletes, deletes by generic path, CI pipelines.

-- name: find_user_by_id
SELECT id, username, created_at FROM users WHERE id = $1;

-- name: group_projects_seen_by
-- Projects under a group ($1) or its subgroups that a user ($2, NULL for
-- anonymous) can see: public ones, and those they are a member of at all.
WITH RECURSIVE tree AS (
    SELECT id FROM groups WHERE id = $1
    UNION ALL
    SELECT g.id FROM groups g JOIN tree ON g.parent_id = tree.id
)
SELECT p.id, p.visibility FROM projects p
JOIN tree ON p.namespace_id = tree.id
LEFT JOIN memberships m ON m.project_id = p.id AND m.user_id = $2
WHERE p.visibility = 'public' OR m.user_id IS NOT NULL
ORDER BY p.id;

-- name: group_has_public_project
WITH RECURSIVE tree AS (
    SELECT id FROM groups WHERE id = $1
    UNION ALL
    SELECT g.id FROM groups g JOIN tree ON g.parent_id = tree.id
)
SELECT EXISTS (SELECT 1 FROM projects p JOIN tree ON p.namespace_id = tree.id
               WHERE p.visibility = 'public');

-- name: find_protection_rule
SELECT id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
       minimum_access_level_for_delete, created_at
FROM package_protection_rules WHERE project_id = $1 AND id = $2;

-- name: update_protection_rule
-- $3-$5: the new values, or NULL to keep one; $6/$7: whether to set the push or
-- delete level to $4/$5 (which may be NULL: unset, as GitLab's "").
UPDATE package_protection_rules
SET package_name_pattern = COALESCE($3, package_name_pattern),
    minimum_access_level_for_push = CASE WHEN $6 THEN $4 ELSE minimum_access_level_for_push END,
    minimum_access_level_for_delete = CASE WHEN $7 THEN $5 ELSE minimum_access_level_for_delete END
WHERE project_id = $1 AND id = $2
RETURNING id, project_id, package_type, package_name_pattern, minimum_access_level_for_push,
          minimum_access_level_for_delete, created_at;

-- name: find_generic_package
-- The live generic package of that name and version (default or hidden).
SELECT p.*, pr.path AS project_path FROM packages p
JOIN projects pr ON pr.id = p.project_id
WHERE p.project_id = $1 AND p.package_type = 'generic' AND p.name = $2 AND p.version = $3
  AND p.status <> 'pending_destruction';

-- name: mark_generic_files_for_destruction
-- Every live file of that name in the package; the destroyer removes them.
UPDATE package_files SET status = 'pending_destruction', updated_at = now()
WHERE package_id = $1 AND file_name = $2 AND status = 'default'
RETURNING id;

-- name: upsert_ci_pipeline
-- A pipeline id names one pipeline of one project: ref, sha and user are kept
-- when not given again; another project's pipeline id returns nothing.
INSERT INTO ci_pipelines AS c (id, project_id, ref, sha, user_id) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE
SET ref = COALESCE(EXCLUDED.ref, c.ref), sha = COALESCE(EXCLUDED.sha, c.sha),
    user_id = COALESCE(EXCLUDED.user_id, c.user_id)
WHERE c.project_id = EXCLUDED.project_id
RETURNING id;

-- name: list_package_pipelines
-- The pipelines that pushed files to a package, newest first (GitLab's order).
SELECT c.id, c.project_id, c.ref, c.sha, c.created_at, c.user_id, u.username,
       u.created_at AS user_created_at
FROM ci_pipelines c
LEFT JOIN users u ON u.id = c.user_id
WHERE c.id IN (SELECT ci_pipeline_id FROM package_files
               WHERE package_id = $1 AND ci_pipeline_id IS NOT NULL)
ORDER BY c.id DESC
LIMIT $2 OFFSET $3;

-- name: count_package_pipelines
SELECT count(DISTINCT ci_pipeline_id) FROM package_files
WHERE package_id = $1 AND ci_pipeline_id IS NOT NULL;

-- name: latest_package_pipelines
-- For each package ($1), the pipeline of its newest file pushed by a pipeline.
SELECT DISTINCT ON (f.package_id) f.package_id, c.id, c.project_id, c.ref, c.sha,
       c.created_at, c.user_id, u.username, u.created_at AS user_created_at
FROM package_files f
JOIN ci_pipelines c ON c.id = f.ci_pipeline_id
LEFT JOIN users u ON u.id = c.user_id
WHERE f.package_id = ANY ($1::bigint[]) AND f.ci_pipeline_id IS NOT NULL
ORDER BY f.package_id, f.id DESC;
