"""HTTP adapters: pages, JSON API, administration; handlers parse, call one service, render."""
