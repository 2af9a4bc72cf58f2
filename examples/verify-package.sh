#!/bin/sh
# Run by the CI job below (examples/verify-package.gitlab-ci.yml) in the pipeline the
# receiver triggered: download the pushed file, check its SHA-256, run the checks
# given as arguments on it, and tell the gateway the verdict.
#
#   GATEWAY_URL            the gateway, e.g. https://packages.example.com
#   GATEWAY_JOB_TOKEN      a gateway CI job token of the project (sent as JOB-TOKEN)
#   PACKAGE_* variables    set by the trigger (see pipeline_trigger_receiver.py)
#
#   verify-package.sh [check command...]   e.g.  verify-package.sh tar -tzf
set -eu

url="$PACKAGE_DOWNLOAD_URL"
case "$url" in /*) url="$GATEWAY_URL$url" ;; esac
verify="$GATEWAY_URL/api/v4/projects/$PACKAGE_PROJECT_ID/packages/$PACKAGE_ID/package_files/$PACKAGE_FILE_ID/verify"
file="${PACKAGE_FILE_NAME##*%2F}"

verdict() {
  curl --fail --silent --show-error --request POST --header "JOB-TOKEN: $GATEWAY_JOB_TOKEN" \
    --header "Content-Type: application/json" --data "$1" "$verify" >/dev/null
}

curl --fail --silent --show-error --header "JOB-TOKEN: $GATEWAY_JOB_TOKEN" --output "$file" "$url"
if ! echo "$PACKAGE_FILE_SHA256  $file" | sha256sum -c - ; then
  verdict '{"status": "failed", "reason": "SHA-256 does not match the pushed file"}'
  exit 1
fi
if [ "$#" -gt 0 ] && ! "$@" "$file"; then
  verdict "{\"status\": \"failed\", \"reason\": \"check failed: $1\"}"
  exit 1
fi
if [ "${PACKAGE_GATED:-true}" = "true" ]; then
  verdict '{"status": "passed"}'
fi
echo "verified $file"
