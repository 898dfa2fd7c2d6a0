"""Paodan Sentinel's entry point (`paodan`) and the local stack it manages."""
