-- Downloads.

-- name: package_file_is_live
-- Whether a file may still be downloaded: it and its package are not being
-- destroyed. Asked when the store says the object is missing.
SELECT EXISTS (
    SELECT 1 FROM package_files f JOIN packages p ON p.id = f.package_id
    WHERE f.id = $1 AND f.status = 'default' AND p.status <> 'pending_destruction'
);
