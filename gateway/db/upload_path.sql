-- Queries of the upload path merged to save database round trips.

-- name: find_push_policy
-- What the upload check needs in one round trip: whether a rule stops this push
-- (as find_push_protection: project $1, name $2, pusher's level $3, NULL for
-- deploy tokens) and the duplicate settings of the project's namespace ($4).
SELECT EXISTS (
           SELECT 1 FROM package_protection_rules
           WHERE project_id = $1 AND package_type = 'generic'
             AND $2 ILIKE replace(replace(replace(replace(package_name_pattern,
                     '\', '\\'), '%', '\%'), '_', '\_'), '*', '%')
             AND minimum_access_level_for_push IS NOT NULL
             AND ($3::smallint IS NULL OR $3::smallint < minimum_access_level_for_push)
       ) AS protected,
       generic_duplicates_allowed, generic_duplicate_exception_regex
FROM groups WHERE id = $4;
