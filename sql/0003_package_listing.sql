-- The Packages API: an index for every list filter and order, and for the
-- background removal of packages and files pending destruction.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Lists never show packages being destroyed, so every index leaves them out.
CREATE INDEX packages_by_created_at ON packages (project_id, created_at, id)
    WHERE status <> 'pending_destruction';
CREATE INDEX packages_by_name ON packages (project_id, name, id)
    WHERE status <> 'pending_destruction';
CREATE INDEX packages_by_version ON packages (project_id, version, id)
    WHERE status <> 'pending_destruction';
CREATE INDEX packages_by_type ON packages (project_id, package_type, id)
    WHERE status <> 'pending_destruction';
-- `package_name` filters by substring (ILIKE '%term%'), as GitLab's fuzzy search.
CREATE INDEX packages_name_trigrams ON packages USING gin (name gin_trgm_ops)
    WHERE status <> 'pending_destruction';
CREATE INDEX packages_pending_destruction ON packages (id) WHERE status = 'pending_destruction';

CREATE INDEX package_files_live ON package_files (package_id, id) WHERE status = 'default';
CREATE INDEX package_files_pending_destruction ON package_files (package_id, id)
    WHERE status = 'pending_destruction';

-- The list filters of one project, in one place for every order and for the
-- count. A plain SQL function of one SELECT is inlined by the planner, so with
-- the project fixed the indexes above serve ORDER BY ... LIMIT. Lists over
-- several projects (a group's) call it once per project (LATERAL) and merge.
--   $1 project id; $2 name patterns (all must match, ILIKE); $3 exact version;
--   $4 package type; $5 status (NULL: 'default' only, as GitLab's "displayable").
CREATE FUNCTION listed_packages(bigint, text[], text, text, text)
RETURNS SETOF packages
LANGUAGE sql STABLE
AS $$
    SELECT *
    FROM packages
    WHERE project_id = $1
      AND status <> 'pending_destruction'
      AND status = COALESCE($5, 'default')
      AND ($2 IS NULL OR name ILIKE ALL ($2))
      AND ($3 IS NULL OR version = $3)
      AND ($4 IS NULL OR package_type = $4)
$$;
