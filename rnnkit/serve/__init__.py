"""Serving trained models over HTTP (``rnnkit serve``): continuous batching, the API, the playground."""
