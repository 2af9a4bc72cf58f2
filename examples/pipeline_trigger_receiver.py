#!/usr/bin/env python3
"""Receives the gateway's package webhooks and starts a GitLab pipeline for each push.

    HOOK_SECRET=...  GITLAB_TRIGGER_URL=https://gitlab.example.com/api/v4/projects/42/trigger/pipeline \
    GITLAB_TRIGGER_TOKEN=glptt-...  python examples/pipeline_trigger_receiver.py

Settings (environment):
  HOOK_SECRET            the secret given to `gateway admin hook add --secret` (required)
  GITLAB_TRIGGER_URL     the project's pipeline trigger API URL (required)
  GITLAB_TRIGGER_TOKEN   a pipeline trigger token of that project (required)
  GITLAB_TRIGGER_REF     the branch or tag to run the pipeline on (default: main)
  RECEIVER_HOST          address to listen on (default: 127.0.0.1)
  RECEIVER_PORT          port to listen on (default: 8090)

Each request's `X-Gateway-Signature-256` is checked against HOOK_SECRET (401 when
it does not match). A `package_file_pushed` event triggers one pipeline with the
file's details as variables (PACKAGE_PROJECT_ID, PACKAGE_ID, PACKAGE_FILE_ID,
PACKAGE_NAME, PACKAGE_VERSION, PACKAGE_FILE_NAME, PACKAGE_FILE_SHA256,
PACKAGE_DOWNLOAD_URL, PACKAGE_GATED, GATEWAY_EVENT_ID). The gateway delivers at
least once, so a delivery id seen before is acknowledged without a second
pipeline; when GitLab refuses the trigger the answer is 502 and the gateway
tries again later. Needs only aiohttp.
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import json
import os
import sys

from aiohttp import ClientSession, ClientTimeout, web

MAX_BODY = 1024 * 1024
REMEMBERED_DELIVERIES = 10_000


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def trigger_variables(event: dict) -> dict[str, str]:
    package, package_file = event["package"], event["package_file"] or {}
    values = {
        "GATEWAY_EVENT_ID": event["id"],
        "PACKAGE_PROJECT_ID": event["project"]["id"],
        "PACKAGE_ID": package["id"],
        "PACKAGE_NAME": package["name"],
        "PACKAGE_VERSION": package["version"],
        "PACKAGE_FILE_ID": package_file.get("id"),
        "PACKAGE_FILE_NAME": package_file.get("file_name"),
        "PACKAGE_FILE_SHA256": package_file.get("file_sha256"),
        "PACKAGE_DOWNLOAD_URL": package_file.get("download_url"),
        "PACKAGE_GATED": "true" if event["gated"] else "false",
    }
    return {f"variables[{key}]": str(value) for key, value in values.items() if value is not None}


class Receiver:
    def __init__(self, secret: str, trigger_url: str, trigger_token: str, ref: str) -> None:
        self.secret, self.trigger_url, self.trigger_token, self.ref = (
            secret, trigger_url, trigger_token, ref)
        self.seen: collections.OrderedDict[str, None] = collections.OrderedDict()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return web.json_response({"error": "body too large"}, status=413)
        if not signature_ok(self.secret, body, request.headers.get("X-Gateway-Signature-256", "")):
            return web.json_response({"error": "signature does not match"}, status=401)
        delivery = request.headers.get("X-Gateway-Delivery", "")
        if delivery in self.seen:
            return web.json_response({"status": "duplicate"})
        event = json.loads(body)
        if event["kind"] != "package_file_pushed":
            return web.json_response({"status": "ignored"})
        form = {"token": self.trigger_token, "ref": self.ref, **trigger_variables(event)}
        try:
            async with ClientSession(timeout=ClientTimeout(total=10)) as session:
                async with session.post(self.trigger_url, data=form) as response:
                    answer = await response.text()
                    if response.status >= 300:
                        print(f"trigger refused: {response.status} {answer[:200]}", flush=True)
                        return web.json_response({"error": "trigger refused"}, status=502)
        except OSError as exc:
            print(f"trigger failed: {exc}", flush=True)
            return web.json_response({"error": "trigger failed"}, status=502)
        self.seen[delivery] = None
        while len(self.seen) > REMEMBERED_DELIVERIES:
            self.seen.popitem(last=False)
        pipeline = json.loads(answer).get("id") if answer.startswith("{") else None
        print(f"pipeline {pipeline} for {event['package']['name']}/{event['package']['version']}/"
              f"{event['package_file']['file_name']} (event {event['id']})", flush=True)
        return web.json_response({"status": "triggered", "pipeline_id": pipeline}, status=201)


def main() -> int:
    missing = [name for name in ("HOOK_SECRET", "GITLAB_TRIGGER_URL", "GITLAB_TRIGGER_TOKEN")
               if not os.environ.get(name)]
    if missing:
        print(f"set {', '.join(missing)}", file=sys.stderr)
        return 2
    receiver = Receiver(os.environ["HOOK_SECRET"], os.environ["GITLAB_TRIGGER_URL"],
                        os.environ["GITLAB_TRIGGER_TOKEN"], os.environ.get("GITLAB_TRIGGER_REF", "main"))
    app = web.Application()
    app.router.add_post("/", receiver.handle)
    host, port = os.environ.get("RECEIVER_HOST", "127.0.0.1"), int(os.environ.get("RECEIVER_PORT", "8090"))
    web.run_app(app, host=host, port=port, print=lambda _: print(f"listening on {host}:{port}", flush=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
