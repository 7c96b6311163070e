"""Alerts that reach people: one message, sent to the task log, by e-mail and to a webhook.

An alert is worded for the analyst who reads it on a phone: what happened (the DAG, the
task, the run), each finding (which file, how many rows, why, what to do), and where to
look (the city's Data Docs and quarantine summary, served by the Airflow plugin
`observatory.airflow_plugin`). `[monitoring] notifier` chooses the channels:

* "email": Airflow's SMTP notifier (apache-airflow-providers-smtp) through the connection
  `email_conn_id`, to `email_to`;
* "webhook": a JSON POST of `{"text": ...}` (what Slack's and Teams' incoming webhooks
  read) plus the alert's fields, to the URL of the connection `webhook_conn_id`.

A channel that fails is logged and does not stop the others.
"""

from __future__ import annotations

import html
import json
import logging
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import Any

from observatory.config import Config

log = logging.getLogger(__name__)


@dataclass
class Alert:
    """One alert: a headline, findings, links, and the Airflow coordinates."""

    city: str
    headline: str
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    error: str | None = None
    findings: list[dict[str, Any]] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        """The e-mail subject: city and headline."""
        return f"[observatory {self.city}] {self.headline}"

    @property
    def text(self) -> str:
        """The whole message as plain text (the webhook's `text`, the e-mail's body)."""
        lines = [self.subject]
        if self.dag_id:
            where = f"{self.dag_id}" + (f" / {self.task_id}" if self.task_id else "")
            lines.append(f"DAG: {where}" + (f" (run {self.run_id})" if self.run_id else ""))
        messages = [str(f.get("message", "")) for f in self.findings]
        if self.error and not messages:
            lines.append(self.error)
        lines.extend(f"- {m}" for m in messages)
        lines.extend(f"{name}: {url}" for name, url in self.links.items())
        return "\n".join(lines)

    def payload(self) -> dict[str, Any]:
        """The webhook's JSON: Slack/Teams read `text`; scripts read the other fields."""
        return {"text": self.text, **asdict(self)}


def links(cfg: Config, base_url: str | None) -> dict[str, str]:
    """The city's Data Docs and quarantine summary, as served by the Airflow plugin."""
    if not base_url:
        return {}
    root = f"{base_url.rstrip('/')}/observatory/{cfg.city.id}"
    return {"Data Docs": f"{root}/data-docs/index.html", "Quarantine": f"{root}/quarantine"}


def post_webhook(url: str, alert: Alert, timeout: float = 10) -> int:
    """POST the alert's JSON to `url`; the HTTP status."""
    scheme = urllib.parse.urlsplit(url).scheme
    if scheme not in {"http", "https"}:
        raise ValueError(f"alert webhook URL {url!r}: only http:// or https:// is posted to")
    body = json.dumps(alert.payload(), default=str).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (scheme checked above)
        return int(response.status)


def email_html(alert: Alert) -> str:
    """The e-mail body: the text, escaped, with its links clickable."""
    lines = []
    for line in alert.text.splitlines():
        name, _, url = line.partition(": ")
        if name in alert.links and url == alert.links[name]:
            lines.append(
                f'{html.escape(name)}: <a href="{html.escape(url)}">{html.escape(url)}</a>'
            )
        else:
            lines.append(html.escape(line))
    return (
        '<pre style="font-family: sans-serif; white-space: pre-wrap">' + "\n".join(lines) + "</pre>"
    )


def send(cfg: Config, alert: Alert, context: Any = None) -> dict[str, str]:
    """Log the alert and send it to every configured channel; each channel's outcome."""
    mon = cfg.monitoring
    log.error("observatory alert: %s", alert.text)
    outcome: dict[str, str] = {"log": "ok"}
    if "email" in mon.notifier:
        try:
            _send_email(cfg, alert, context)
            outcome["email"] = "ok"
        except Exception as exc:  # one channel failing must not silence the others
            log.exception("alert e-mail via connection %s failed", mon.email_conn_id)
            outcome["email"] = f"failed: {exc}"
    if "webhook" in mon.notifier:
        try:
            status = post_webhook(_webhook_url(mon.webhook_conn_id), alert)
            log.info("alert posted to connection %s: HTTP %s", mon.webhook_conn_id, status)
            outcome["webhook"] = f"HTTP {status}"
        except Exception as exc:
            log.exception("alert webhook via connection %s failed", mon.webhook_conn_id)
            outcome["webhook"] = f"failed: {exc}"
    return outcome


def _webhook_url(conn_id: str) -> str:
    from airflow.sdk import Connection  # noqa: PLC0415 (Airflow only where alerts are sent)

    conn = Connection.get(conn_id)
    host = conn.host or ""
    return host if "://" in host else conn.get_uri()


def _send_email(cfg: Config, alert: Alert, context: Any) -> None:
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier  # noqa: PLC0415

    mon = cfg.monitoring
    notifier = SmtpNotifier(
        to=mon.email_to,
        from_email=mon.email_from,
        subject=alert.subject,
        html_content=email_html(alert),
        smtp_conn_id=mon.email_conn_id,
    )
    notifier.notify(context or {})
