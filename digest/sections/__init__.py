"""The digest's sections, in the order they appear. Adding one is one module with KEY, TITLE,
available(conn) and build(ctx) (see digest.model.SectionSource), and one line here."""

from __future__ import annotations

from types import ModuleType

from digest.sections import alerts, decisions, forecasts, overview, plan, top_users, usage, waste

SECTIONS: tuple[ModuleType, ...] = (overview, usage, top_users, waste, plan, decisions, forecasts, alerts)
