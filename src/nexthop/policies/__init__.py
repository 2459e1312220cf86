"""Policies the loop consults each step: go on, stop, give up or ask a person.

Nothing lives here yet: the policies issue adds abandonment, doom-loop detection,
budgets, approvals and tool pinning. Today the loop enforces only ``max_steps``.
"""

__all__: list[str] = []
