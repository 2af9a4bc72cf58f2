-- Queries of the upload path merged to save database round trips.

-- name: find_push_policy
-- What the upload check needs in one round trip: whether a rule stops this push
-- (protecting_rule, sql/0008: project $1, name $2, pusher's level $3, NULL
-- for deploy tokens) and the duplicate settings of the project's namespace ($4).
SELECT protecting_rule($1, $2, $3::smallint, 'push') IS NOT NULL AS protected,
       generic_duplicates_allowed, generic_duplicate_exception_regex
FROM groups WHERE id = $4;
