-- The listing scenarios' SQL: seeding, and the floor the gateway's pages are compared with.

-- name: project_id
SELECT id FROM projects WHERE path = $1;

-- name: seed_packages
INSERT INTO packages (project_id, name, version, created_at, updated_at)
SELECT $1, 'package-' || (n % 50), '1.' || (n / 50) || '.' || n,
       now() - make_interval(secs => $2 - n), now()
FROM generate_series(1, $2) AS n;

-- name: seed_files
INSERT INTO package_files (package_id, file_name, size, file_md5, file_sha1, file_sha256,
                           file_store, object_key, actor_kind, actor_name)
SELECT p.id, 'file-' || f || '.tar.gz', 1024 * f, md5(p.id::text), repeat('0', 40),
       repeat('0', 64), 1, 'seed/' || p.id || '/' || f, 'user', 'bench'
FROM packages p, generate_series(1, 3) AS f
WHERE p.project_id = $1;

-- name: page_floor
SELECT p.*, count(*) OVER () AS total
FROM packages p
WHERE p.project_id = $1 AND p.status = 'default'
ORDER BY p.created_at, p.id
LIMIT 100;
