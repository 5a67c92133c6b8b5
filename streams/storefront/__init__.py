"""A minimal reference storefront: a visitor's segments from Redis, live via the change feed."""

from streams.storefront.content import Content, choose_content
from streams.storefront.server import serve, storefront_server

__all__ = ["Content", "choose_content", "serve", "storefront_server"]
