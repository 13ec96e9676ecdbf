"""Operator banks (运营机构) and the edge to their card networks."""
