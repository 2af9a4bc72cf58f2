-- GitLab parity: delete protection and the admin level on package protection
-- rules, and the CI pipeline (and job) that pushed each package file.

-- GitLab's levels for protection rules: 40 maintainer, 50 owner, 60 admin
-- (Gitlab::Access::ADMIN; no one here has it, so such a rule stops everyone).
-- Either level may be unset, as GitLab's, but not both.
ALTER TABLE package_protection_rules
    ALTER COLUMN minimum_access_level_for_push DROP NOT NULL,
    DROP CONSTRAINT package_protection_rules_minimum_access_level_for_push_check,
    ADD CONSTRAINT package_protection_rules_minimum_access_level_for_push_check
        CHECK (minimum_access_level_for_push IN (40, 50, 60)),
    ADD COLUMN minimum_access_level_for_delete smallint
        CHECK (minimum_access_level_for_delete IN (40, 50, 60)),
    ADD CONSTRAINT package_protection_rules_some_level
        CHECK (minimum_access_level_for_push IS NOT NULL
               OR minimum_access_level_for_delete IS NOT NULL);

-- Pipelines as `gateway admin token create-job` was told about them; the id is
-- GitLab's pipeline id, so it is given, not generated.
CREATE TABLE ci_pipelines (
    id          bigint PRIMARY KEY CHECK (id > 0),
    project_id  bigint NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    ref         text CHECK (length(ref) <= 255),
    sha         text CHECK (sha ~ '^[0-9a-f]{7,64}$'),
    user_id     bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ci_pipelines_project_id ON ci_pipelines (project_id);

ALTER TABLE access_tokens
    ADD COLUMN ci_pipeline_id  bigint REFERENCES ci_pipelines (id) ON DELETE SET NULL,
    ADD COLUMN ci_job_id       bigint CHECK (ci_job_id > 0);

-- A file pushed with a job token records its pipeline and job.
ALTER TABLE package_files
    ADD COLUMN ci_pipeline_id  bigint REFERENCES ci_pipelines (id) ON DELETE SET NULL,
    ADD COLUMN ci_job_id       bigint;
CREATE INDEX package_files_ci_pipeline ON package_files (package_id, ci_pipeline_id)
    WHERE ci_pipeline_id IS NOT NULL;
