"""Outbound channels: e-mail and SMS delivery, kept behind small protocols so they can be swapped."""
