"""alert_only: POST the alert to the environment's webhook, one retry on 5xx or no response.

The body is {run_key, action_id, trigger, message, environment?}; the post is bounded by ctx.alert_timeout:
alerted | failed. The webhook URL is never recorded, only its scheme, host and port (`safe_url`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import requests
from tenacity import Retrying, retry_if_result, stop_after_attempt, wait_fixed

from infracore_verify.recovery.actions.context import ActionOutcome, RecoveryContext, RecoveryError, StepRecord
from infracore_verify.recovery.actions.registry import action_type
from infracore_verify.recovery.actions.steps import OUTPUT_LIMIT, mask, planned
from infracore_verify.redact import REDACTOR

ALERT_ATTEMPTS = 2
ALERT_RETRY_PAUSE = 1.0
"""Seconds between the alert post and its single retry."""
UNVERIFIED = "not verified: alert_only sends an alert"


def safe_url(url: str) -> str:
    """Return scheme://host[:port]/… of a URL: its path, query and user info may hold a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "<unparsable URL>/…"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme or '?'}://{host}{f':{port}' if port else ''}/…"


def _scrubber(url: str) -> Callable[[str], str]:
    """Return a function that removes the URL and its secret parts from text, then masks registered secrets."""
    parts = urlsplit(url)
    needles = [url, url.rstrip("/")]
    tail = parts.path + (f"?{parts.query}" if parts.query else "")
    userinfo = parts.netloc.rpartition("@")[0]
    needles += [p for p in (tail, parts.path, parts.query, userinfo, parts.password or "") if len(p) > 1]
    needles.sort(key=len, reverse=True)
    replacement = safe_url(url)

    def scrub(text: str) -> str:
        for needle in needles:
            text = text.replace(needle, replacement if needle in (url, url.rstrip("/")) else "…")
        return mask(text)

    return scrub


def _alert_body(ctx: RecoveryContext) -> dict[str, Any]:
    capability = ctx.recovery.get("capability", "alerting.dispatch")
    body: dict[str, Any] = {
        "run_key": ctx.run_key,
        "action_id": ctx.action_id,
        "trigger": ctx.trigger,
        "message": (
            f"infra-core recovery alert ({capability}): {ctx.trigger} needs attention "
            f"(action {ctx.action_id}, run {ctx.run_key})"
        ),
    }
    if ctx.environment:
        body["environment"] = ctx.environment
    return body


def _alert_description(url: str, body: Mapping[str, Any], attempt: int | None = None) -> str:
    counted = f" (attempt {attempt} of {ALERT_ATTEMPTS})" if attempt else ""
    return f"POST {safe_url(url)}{counted} json={json.dumps(REDACTOR.mask_data(body), sort_keys=True)}"


def _post(ctx: RecoveryContext, url: str, body: Mapping[str, Any], steps: list[StepRecord]) -> int | None:
    """Post the alert once, record the attempt and return the HTTP status (None: no response)."""
    scrub = _scrubber(url)
    started = time.monotonic()
    number = len(steps) + 1
    try:
        response = requests.post(url, json=body, timeout=ctx.alert_timeout, allow_redirects=False)
    except requests.RequestException as exc:
        status: int | None = None
        output = f"no response: {type(exc).__name__}: {exc}"
    else:
        status = response.status_code
        output = f"HTTP {status} {response.reason}\n{scrub(response.text)[:500]}".rstrip()  # masked, then cut
    steps.append(
        StepRecord(
            kind="http",
            description=scrub(_alert_description(url, body, number)),
            argv=[],
            returncode=status,
            output=scrub(output)[-OUTPUT_LIMIT:],
            duration=time.monotonic() - started,
            ok=status is not None and 200 <= status < 300,
        )
    )
    return status


@action_type("alert_only")
class AlertOnly:
    """Send an alert; nothing is restarted."""

    def plan(self, ctx: RecoveryContext) -> list[StepRecord]:
        """Return the POST the alert would make, sending nothing."""
        body = _alert_body(ctx)
        if not ctx.alert_url:
            return [planned("http", f"no alert: {ctx.environment_file} has no alerting.webhook_url")]
        REDACTOR.register(ctx.alert_url, label="alerting.webhook_url")
        return [planned("http", _alert_description(ctx.alert_url, body) + ", one retry on 5xx or no response")]

    def preflight(self, ctx: RecoveryContext) -> None:
        """Raise RecoveryError when the environment names no webhook to post to."""
        if not ctx.alert_url:
            raise RecoveryError(
                f"{ctx.environment_file} has no alerting.webhook_url; add it as a reference "
                "({env: VAR} or {secret: /path/KEY}) so alerts have somewhere to go"
            )

    def execute(self, ctx: RecoveryContext) -> ActionOutcome:
        """Post the alert (one retry on 5xx or no response): alerted | failed."""
        if not ctx.alert_url:
            return ActionOutcome("failed", [], UNVERIFIED, "no alerting.webhook_url in the environment file")
        url = ctx.alert_url
        REDACTOR.register(url, label="alerting.webhook_url")
        body = _alert_body(ctx)
        steps: list[StepRecord] = []
        retrying = Retrying(
            stop=stop_after_attempt(ALERT_ATTEMPTS),
            wait=wait_fixed(ALERT_RETRY_PAUSE),
            retry=retry_if_result(lambda status: status is None or status >= 500),
            retry_error_callback=lambda state: state.outcome.result() if state.outcome else None,
            sleep=ctx.sleep,
        )
        status = retrying(_post, ctx, url, body, steps)
        target = safe_url(url)
        if status is not None and 200 <= status < 300:
            return ActionOutcome("alerted", steps, UNVERIFIED, f"alert posted to {target} (HTTP {status})")
        answers = ", ".join("no response" if s.returncode is None else f"HTTP {s.returncode}" for s in steps)
        return ActionOutcome(
            "failed",
            steps,
            UNVERIFIED,
            f"the alert to {target} was not accepted after {len(steps)} attempt{'s' if len(steps) != 1 else ''} "
            f"({answers})",
        )
