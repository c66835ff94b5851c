"""Briefing exports (PDF, XLSX)."""
