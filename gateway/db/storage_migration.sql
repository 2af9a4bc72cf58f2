-- Moving package files between stores (`gateway storage migrate`).

-- name: find_package_file_by_id
SELECT id, package_id, file_name, size, file_md5, file_sha1, file_sha256, file_store, object_key,
       created_at, updated_at
FROM package_files WHERE id = $1;

-- name: files_in_other_stores
-- The next files not yet in the target store ($1), in id order after $2, with the
-- project their new key is made under. Files being destroyed stay where they are.
SELECT f.id, f.size, f.file_sha256, f.file_store, f.object_key, p.project_id
FROM package_files f JOIN packages p ON p.id = f.package_id
WHERE f.file_store <> $1 AND f.status = 'default' AND p.status <> 'pending_destruction'
  AND f.id > $2
ORDER BY f.id
LIMIT $3;

-- name: count_files_in_other_stores
SELECT count(*) FROM package_files f JOIN packages p ON p.id = f.package_id
WHERE f.file_store <> $1 AND f.status = 'default' AND p.status <> 'pending_destruction';

-- name: switch_file_store
-- Point the row at its copy, only if it still points where the copy was made
-- from (it may have been deleted or moved meanwhile); the copy's upload intent
-- ends in the same statement, as an upload's does with its row.
WITH intent AS (
    DELETE FROM upload_intents WHERE object_key = $4 RETURNING object_key
)
UPDATE package_files SET file_store = $3, object_key = intent.object_key, updated_at = now()
FROM intent
WHERE id = $1 AND package_files.object_key = $2 AND status = 'default'
RETURNING id;
