"""Adapters carry the kernel's decisions out against real runtimes (Docker, local processes)."""
