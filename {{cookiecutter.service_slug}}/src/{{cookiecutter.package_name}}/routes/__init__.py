"""Thin HTTP handlers: validate, call, return."""
