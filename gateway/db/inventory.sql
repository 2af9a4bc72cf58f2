-- Operator listings for `gateway admin ... list` and `gateway usage`.

-- name: inventory_projects
SELECT p.id, p.path, p.visibility, p.namespace_id, p.created_at
FROM projects p ORDER BY lower(p.path);

-- name: inventory_users
SELECT id, username, created_at FROM users ORDER BY lower(username);

-- name: inventory_members
SELECT m.user_id, u.username, m.access_level, m.created_at
FROM memberships m JOIN users u ON u.id = m.user_id
WHERE m.project_id = $1
ORDER BY m.access_level DESC, lower(u.username);

-- name: inventory_packages
-- Every package of a project that is not being destroyed, hidden ones too, with
-- what its live files add up to.
SELECT p.id, p.name, p.version, p.package_type, p.status, p.created_at,
       count(f.id) AS file_count, COALESCE(sum(f.size), 0)::bigint AS size
FROM packages p
LEFT JOIN package_files f ON f.package_id = p.id AND f.status = 'default'
WHERE p.project_id = $1 AND p.status <> 'pending_destruction'
GROUP BY p.id
ORDER BY p.name, p.version, p.id;

-- name: inventory_usage
-- Bytes and files per project: live ones, and those still waiting for the destroyer.
SELECT pr.id AS project_id, pr.path AS project_path,
       count(DISTINCT p.id) FILTER (WHERE p.status <> 'pending_destruction') AS packages,
       count(f.id) FILTER (WHERE f.status = 'default' AND p.status <> 'pending_destruction') AS files,
       COALESCE(sum(f.size) FILTER (WHERE f.status = 'default'
                                      AND p.status <> 'pending_destruction'), 0)::bigint AS bytes,
       COALESCE(sum(f.size) FILTER (WHERE f.status <> 'default'
                                      OR p.status = 'pending_destruction'), 0)::bigint
           AS bytes_pending_destruction
FROM projects pr
LEFT JOIN packages p ON p.project_id = pr.id
LEFT JOIN package_files f ON f.package_id = p.id
GROUP BY pr.id
ORDER BY lower(pr.path);

-- name: schema_migrations_exist
SELECT to_regclass('schema_migrations') IS NOT NULL;

-- name: schema_version
SELECT max(version) FROM schema_migrations;
