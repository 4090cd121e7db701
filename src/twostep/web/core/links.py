"""Links and redirects built from what the request says stay on this site: the rule is
``domain.links.same_origin_path`` (pure, shared with the sign-in completion's ``continue_target``)."""

from __future__ import annotations

from twostep.domain.links import MAX_LENGTH, same_origin_path

__all__ = ["MAX_LENGTH", "same_origin_path"]
