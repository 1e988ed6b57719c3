"""The kinds of event an online shop produces."""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    PAGE_VIEW = "page_view"
    PRODUCT_VIEW = "product_view"
    SEARCH = "search"
    CART_ADD = "cart_add"
    CART_REMOVE = "cart_remove"
    CHECKOUT_START = "checkout_start"
    ORDER_COMPLETED = "order_completed"
    BANNER_IMPRESSION = "banner_impression"
    BANNER_CLICK = "banner_click"
    MESSAGE_OPEN = "message_open"
    MESSAGE_CLICK = "message_click"
    IDENTIFY = "identify"
    ALIAS = "alias"
    CUSTOM = "custom"


#: Names used by the common tracking APIs (Segment's e-commerce spec and its calls) and ours.
TYPE_ALIASES: dict[str, EventType] = {
    "page": EventType.PAGE_VIEW,
    "screen": EventType.PAGE_VIEW,
    "product viewed": EventType.PRODUCT_VIEW,
    "products searched": EventType.SEARCH,
    "product added": EventType.CART_ADD,
    "product removed": EventType.CART_REMOVE,
    "checkout started": EventType.CHECKOUT_START,
    "order completed": EventType.ORDER_COMPLETED,
    "promotion viewed": EventType.BANNER_IMPRESSION,
    "promotion clicked": EventType.BANNER_CLICK,
    "email opened": EventType.MESSAGE_OPEN,
    "email link clicked": EventType.MESSAGE_CLICK,
}

DEVICE_TYPES = ("mobile", "desktop", "tablet", "other")
CHANNELS = ("web", "app")
