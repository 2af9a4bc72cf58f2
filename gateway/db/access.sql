-- Authorisation lookups merged to save database round trips.

-- name: find_project_by_id_with_level
-- The project ($1) and the role in it of the user $2 (NULL: none, or no user).
SELECT p.id, p.path, p.visibility, p.namespace_id, p.created_at,
       (SELECT m.access_level FROM memberships m
        WHERE m.project_id = p.id AND m.user_id = $2) AS access_level
FROM projects p WHERE p.id = $1;

-- name: find_project_by_path_with_level
-- As find_project_by_id_with_level, by full path (any case).
SELECT p.id, p.path, p.visibility, p.namespace_id, p.created_at,
       (SELECT m.access_level FROM memberships m
        WHERE m.project_id = p.id AND m.user_id = $2) AS access_level
FROM projects p WHERE lower(p.path) = lower($1);
