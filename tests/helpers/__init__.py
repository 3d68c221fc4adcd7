"""Helpers shared by several test modules (imported by them; no tests here)."""
