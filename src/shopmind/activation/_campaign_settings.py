"""What a workspace's campaigns are planned, composed and scheduled with, read from the workspace
once: the holdout key, the experiments' key and the link key (all derived from its secret hashing key), its
``channels.toml`` (the sender the law wants named, the message costs) and the server's public
address, where the links in messages point (``--public-url``, ``SHOPMIND_PUBLIC_URL``). The
command line, the API and the dashboard schedule a stored campaign through :func:`schedule_stored`, so
a campaign scheduled anywhere carries the same signed links and coupon codes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from shopmind.activation._campaign import Campaign
from shopmind.activation._campaign_experiments import experiment_key
from shopmind.activation._channel_config import ChannelConfig, load_channel_config
from shopmind.activation._context import Recommends, shop_recommender
from shopmind.activation._holdout import holdout_key
from shopmind.activation._message import Sender
from shopmind.activation._schedule import Progress, Scheduled, schedule_campaign, stored_definition
from shopmind.activation._tracking import MessageLinks, link_key
from shopmind.core import DEFAULT_SHOP_TZ
from shopmind.store import HASH_KEY_FILE, Store, Workspace, get_campaign

#: where ``shopmind serve`` listens unless told otherwise: links point there by default
DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class CampaignSettings:
    """A workspace's keys, channel configuration, public address and time zone, for campaigns."""

    holdout_key: str
    link_key: bytes
    config: ChannelConfig
    public_url: str = DEFAULT_PUBLIC_URL
    zone: str = DEFAULT_SHOP_TZ
    experiment_key: str | None = None  # the experiments' assignment key (None: no experiment applies)

    @property
    def sender(self) -> Sender:
        return self.config.sender

    def unsubscribe_url(self, message_key: str) -> str:
        """The message's one-click unsubscribe link (the page the sender's List-Unsubscribe names)."""
        return MessageLinks(self.public_url, self.link_key, message_key).unsubscribe()

    def tracked(self, message_key: str, index: int, target: str) -> str:
        """The signed redirect written for a template's ``index``-th tracked link (the target is
        kept with the message, never in the URL)."""
        return MessageLinks(self.public_url, self.link_key, message_key).click(index)


def campaign_settings(
    workspace: Workspace, *, public_url: str = DEFAULT_PUBLIC_URL, zone: str = DEFAULT_SHOP_TZ
) -> CampaignSettings:
    """The settings of ``workspace``; a ``channels.toml`` that cannot be used is an
    InvalidInputError naming the field."""
    secret = bytes.fromhex((workspace.path / HASH_KEY_FILE).read_text().strip())
    return CampaignSettings(
        holdout_key=holdout_key(secret),
        link_key=link_key(secret),
        config=load_channel_config(workspace.path),
        public_url=public_url.rstrip("/"),
        zone=zone,
        experiment_key=experiment_key(secret),
    )


def uses_recommendations(campaign: Campaign) -> bool:
    """Whether a template reads ``recommended`` (the recommender is loaded, and asked per
    customer, only then)."""
    for step in campaign.steps:
        for content in step.messages.values():
            if any("recommended" in (part or "") for part in (content.text, content.subject, content.html)):
                return True
    return False


def recommender_for(store: Store, campaign: Campaign) -> Recommends | None:
    return shop_recommender(store) if uses_recommendations(campaign) else None


def schedule_stored(
    store: Store,
    settings: CampaignSettings,
    id_or_name: str,
    *,
    now: datetime,
    progress: Progress | None = None,
) -> Scheduled:
    """Schedule the stored draft ``id_or_name`` with the workspace's sender, costs, links and
    recommender (``schedule_campaign``: planned, members recorded and messages queued at once)."""
    campaign = stored_definition(get_campaign(store, id_or_name))
    return schedule_campaign(
        store,
        id_or_name,
        now=now,
        key=settings.holdout_key,
        sender=settings.sender,
        unsubscribe_url=settings.unsubscribe_url,
        tracked=settings.tracked,
        costs=settings.config.costs,
        zone=settings.zone,
        recommender=recommender_for(store, campaign),
        progress=progress,
        experiment_key=settings.experiment_key,
    )
