"""How a tool result's content blocks become the observation's text."""

from __future__ import annotations

import base64

import mcp.types as types

from nexthop.clients._calls import _content_text  # pyright: ignore[reportPrivateUsage]


def blob(data: bytes, mime: str | None) -> types.EmbeddedResource:
    contents = types.BlobResourceContents(uri="file:///w/app.log", mime_type=mime, blob=base64.b64encode(data).decode())
    return types.EmbeddedResource(type="resource", resource=contents)


def test_an_embedded_text_blob_is_read_as_text() -> None:
    assert _content_text([blob(b"09:02 ERROR disk full\n", "text/plain; charset=utf-8")]) == "09:02 ERROR disk full\n"
    assert _content_text([blob(b'{"a": 1}', "application/ld+json")]) == '{"a": 1}'


def test_an_untyped_blob_is_text_when_its_bytes_are() -> None:
    # The filesystem server's read_media_file sends a .txt or .log as application/octet-stream.
    assert _content_text([blob(b"09:02 ERROR disk full\n", "application/octet-stream")]) == "09:02 ERROR disk full\n"
    assert _content_text([blob("caf\u00e9\tok\r\n".encode(), None)]) == "caf\u00e9\tok\r\n"
    # Bytes that are not UTF-8, or UTF-8 with control characters, stay a placeholder.
    assert _content_text([blob(b"\x89PNG\r\n\x1a\n", "application/octet-stream")]).startswith("[resource content, ")
    assert _content_text([blob(b"PK\x03\x04\x00\x00", None)]).startswith("[resource content, ")
    assert _content_text([blob(b"\x1b[31mred", "application/octet-stream")]).startswith("[resource content, ")


def test_binary_blobs_and_images_are_named_not_shown() -> None:
    png = _content_text([blob(b"\x89PNG\r\n", "image/png")])
    assert png.startswith("[resource content, ") and png.endswith(" bytes]")
    assert _content_text([blob(b"\xff\xfe", "text/plain")]).startswith("[resource content, ")  # not UTF-8
    image = types.ImageContent(type="image", data=base64.b64encode(b"x").decode(), mime_type="image/png")
    assert _content_text([types.TextContent(type="text", text="see"), image]).startswith("see\n[image content, ")
