-- One definition of "a protection rule stops this": the upload check and the
-- delete paths both call it. A rule stops a push ($4 = 'push') or a delete ($4 =
-- 'delete') of the name $2 in project $1 when its pattern (`*` any run of
-- characters, matched whole and case-insensitively, as GitLab does) matches and
-- the actor's level $3 is below the rule's minimum for that action; a NULL level
-- (deploy tokens) meets every rule that sets one. Returns the rule's id, or NULL.
CREATE FUNCTION protecting_rule(bigint, text, smallint, text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
    SELECT id FROM (
        SELECT id, package_name_pattern,
               CASE $4 WHEN 'push' THEN minimum_access_level_for_push
                       ELSE minimum_access_level_for_delete END AS minimum
        FROM package_protection_rules
        WHERE project_id = $1 AND package_type = 'generic'
    ) AS rules
    WHERE minimum IS NOT NULL
      AND $2 ILIKE replace(replace(replace(replace(package_name_pattern,
              '\', '\\'), '%', '\%'), '_', '\_'), '*', '%')
      AND ($3 IS NULL OR $3 < minimum)
    LIMIT 1
$$;
