"""Everything a listener needs, built once per process and passed to ``register(app, sv)``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import aiohttp
from sqlalchemy.engine import Engine

from bot.config import Settings
from bot.flows.caf.messaging import CafMessaging
from bot.flows.caf.qa import QaService
from bot.flows.caf.service import CafService
from bot.flows.consultation.log import LogService
from bot.flows.consultation.messaging import ConsultationMessaging
from bot.flows.consultation.service import AdviceService
from bot.flows.guided.messaging import GuidedMessaging
from bot.flows.guided.service import FlowService
from bot.flows.overview import Overview
from bot.flows.triage.messaging import TriageMessaging
from bot.flows.triage.service import TriageService
from bot.handlers.slack.client import make_client
from bot.handlers.slack.connect import Client, connect
from bot.handlers.slack.render import SlackRenderer
from bot.handlers.slack.roles import Roles
from bot.handlers.slack.transport import SlackTransport
from bot.journal import OutboxJournal
from bot.metrics import Metrics
from bot.outbox import OutboxSender
from bot.policy import Policy
from store.runner import TxRunner
from store.types import utcnow


@dataclass
class Services:
    """The process's shared objects (one engine, one HTTP session, one client)."""

    settings: Settings
    policy: Policy
    engine: Engine
    http: aiohttp.ClientSession
    client: Client
    flows: FlowService
    triage: TriageService
    advice: AdviceService
    triage_messaging: TriageMessaging  # the card actions' effects: their messages
    consultation_messaging: ConsultationMessaging  # the advice actions' effects
    guided_messaging: GuidedMessaging  # the guided flows' steps: their messages
    sender: OutboxSender
    roles: Roles
    clock: Callable[[], datetime]
    tx: TxRunner  # per-request transactions: fast where possible (see store.runner)
    caf: CafService
    caf_messaging: CafMessaging  # the CAF actions' effects: their messages, queued in the action
    caf_qa: QaService  # a CAF manager's quality assurance of an assessment
    caflog: LogService
    overview: Overview  # what a person's Home shows
    metrics: Metrics = field(default_factory=Metrics)  # this process's own registry

    @classmethod
    def build(
        cls,
        settings: Settings,
        policy: Policy,
        engine: Engine,
        http: aiohttp.ClientSession,
        *,
        clock: Callable[[], datetime] = utcnow,
        pace: float | None = None,
    ) -> Services:
        """Wire the services together around one engine and one aiohttp session."""
        slack = connect(settings, policy, http)
        # The sender handles its own retries (with backoff in the database), so
        # its client does not also sleep inside a call.
        sender_client = make_client(settings.bot_token, settings.api_url, http, max_retries=0)
        metrics = Metrics()
        # The process's one runner: every transaction of every service goes through it.
        runner = TxRunner(engine, observe=metrics.transaction)
        triage = TriageService(runner, policy, clock)
        triage_messaging = TriageMessaging(policy)
        consultation_messaging = ConsultationMessaging(policy)
        sender = OutboxSender(
            engine, SlackTransport(sender_client, journal=OutboxJournal(runner)),
            renderer=SlackRenderer(policy, clock),
            escalation_channel=policy.channel("escalation"),
            escalation_platform=policy.platforms[0],
            pace=settings.outbox_pace if pace is None else pace,
            lease=timedelta(seconds=settings.outbox_lease), runner=runner,
            on_result=metrics.delivery,
        )  # real time: retries and pacing are about Slack, not the SLA clock
        caf = CafService(runner, policy, clock)
        caf_messaging = CafMessaging(policy, triage_messaging, caf)
        return cls(
            settings=settings, policy=policy, engine=engine, http=http, client=slack.client,
            flows=FlowService(runner, policy, clock), triage=triage,
            advice=AdviceService(runner, policy, clock), triage_messaging=triage_messaging,
            consultation_messaging=consultation_messaging,
            guided_messaging=GuidedMessaging(triage_messaging, consultation_messaging),
            sender=sender,
            roles=slack.roles, clock=clock, tx=runner, metrics=metrics, caf=caf,
            caf_messaging=caf_messaging, caf_qa=QaService(caf, caf_messaging),
            caflog=LogService(runner, policy.tz, clock), overview=Overview(runner),
        )
