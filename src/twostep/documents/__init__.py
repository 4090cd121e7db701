"""Printable documents (PDF) that twostep offers for download."""
